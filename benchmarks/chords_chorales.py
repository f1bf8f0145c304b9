"""Chord accompaniment: BLSTM vs HMM vs MLP on held-out Bach chorales, over seeds.

    python benchmarks/chords_chorales.py [--seeds 0 1 2 3 4]
    python benchmarks/chords_chorales.py --set unit=bar --out benchmarks/results/chords/bar
    python benchmarks/chords_chorales.py --mlp-contexts 0 1 2 4 8   # the MLP alone, by window

Each seed draws its own split of the chorales by piece (70/10/20 train/val/test) and
trains the default BLSTM (2 x 128, Lim et al. 2017); the HMM, DNN-HMM and MLP are trained
on the same training pieces. Lim et al. report the BLSTM 23.8% more accurate than an HMM
and 11.4% more than a DNN-HMM. Writes benchmarks/results/chords/chords.md and .json.
With ``--mlp-contexts`` only the windowed MLP is trained, once per context (units on
each side) and seed, on the same splits: how much a wider window tells it
(``mlp_context.md``).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import mean_std, train, write_results

from rnnlab.apps.chords import APP, mlp_log_probs, train_mlp


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="a config setting for every run, as rnnlab chords train --set")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "chords")
    ap.add_argument("--mlp-contexts", type=int, nargs="+", metavar="C",
                    help="train only the MLP baseline, with each of these contexts")
    args = ap.parse_args()
    if args.mlp_contexts:
        return mlp_context_sweep(args)
    ms = []
    for s in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            ms.append(train(APP, Path(tmp) / "run", None, s, args.overrides or None))
        print(s, ms[-1], flush=True)
    keys = ["accuracy", "baseline_hmm_accuracy", "baseline_dnn_hmm_accuracy", "baseline_mlp_accuracy",
            "baseline_majority_accuracy", "gain_over_hmm_pct", "gain_over_dnn_hmm_pct", "gain_over_mlp_pct",
            "blstm_vs_human_agreement", "chordify_vs_human_agreement",
            "human_analyses_held_out", "train_seconds"]
    settings = f" Settings: {' '.join(args.overrides)}." if args.overrides else ""
    lines = [f"Seeds {args.seeds} (each its own split by chorale); mean ± std.{settings}", "", "| metric | value |",
             "|---|---|"]
    lines += [f"| {k} | {mean_std([m[k] for m in ms])} |" for k in keys]
    write_results(args.out, "chords", ms, lines)


def mlp_context_sweep(args) -> None:
    """Test accuracy of the windowed MLP for each context, on each seed's split."""
    import numpy as np

    acc: dict[int, list[float]] = {c: [] for c in args.mlp_contexts}
    for s in args.seeds:
        cfg = APP.make_config(seed=s, overrides=args.overrides or None)
        train_pieces, _, test = APP._data(cfg, print)
        y = np.concatenate([p.y for p in test])
        for c in args.mlp_contexts:
            mlp = train_mlp(train_pieces, c, cfg.mlp_hidden, s)
            pred = np.concatenate([mlp_log_probs(mlp, p.x, c).argmax(-1) for p in test])
            acc[c].append(float((pred == y).mean()))
            print(s, c, acc[c][-1], flush=True)
    settings = f" Settings: {' '.join(args.overrides)}." if args.overrides else ""
    lines = [f"The MLP baseline alone, by context (units on each side of the one it labels); seeds {args.seeds}, "
             f"each its own split by chorale; test accuracy, mean ± std.{settings}", "",
             "| context | window | accuracy |", "|---|---|---|"]
    lines += [f"| ±{c} | {2 * c + 1} | {mean_std(v)} |" for c, v in acc.items()]
    write_results(args.out, "mlp_context", {str(c): v for c, v in acc.items()}, lines)


if __name__ == "__main__":
    main()
