"""Chord accompaniment: BLSTM vs HMM vs MLP on held-out Bach chorales, over seeds.

    python benchmarks/chords_chorales.py [--seeds 0 1 2 3 4]
    python benchmarks/chords_chorales.py --set unit=bar --out benchmarks/results/chords-bar

Each seed draws its own split of the chorales by piece (70/10/20 train/val/test) and
trains the default BLSTM (2 x 128, Lim et al. 2017); the HMM and MLP are trained on the
same training pieces. Lim et al. report the BLSTM 23.8% more accurate than an HMM and
11.4% more than a DNN-HMM. Writes benchmarks/results/chords/chords.md and .json.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import mean_std, train, write_results

from rnnlab.apps.chords import APP


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="a config setting for every run, as rnnlab chords train --set")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "chords")
    args = ap.parse_args()
    ms = []
    for s in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            ms.append(train(APP, Path(tmp) / "run", None, s, args.overrides or None))
        print(s, ms[-1], flush=True)
    keys = ["accuracy", "baseline_hmm_accuracy", "baseline_mlp_accuracy", "baseline_majority_accuracy",
            "gain_over_hmm_pct", "gain_over_mlp_pct", "blstm_vs_human_agreement", "chordify_vs_human_agreement",
            "human_analyses_held_out", "train_seconds"]
    settings = f" Settings: {' '.join(args.overrides)}." if args.overrides else ""
    lines = [f"Seeds {args.seeds} (each its own split by chorale); mean ± std.{settings}", "", "| metric | value |",
             "|---|---|"]
    lines += [f"| {k} | {mean_std([m[k] for m in ms])} |" for k in keys]
    write_results(args.out, "chords", ms, lines)


if __name__ == "__main__":
    main()
