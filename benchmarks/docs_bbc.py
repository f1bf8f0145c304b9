"""Documents: HAN vs a flat attention GRU vs TF-IDF + logistic regression on BBC News, over seeds.

    python benchmarks/docs_bbc.py                     # 5 seeds x (han, flat), about half an hour on 2 cores
    python benchmarks/docs_bbc.py --seeds 0 --models han

Each seed is one stratified 80/20 split of the deduplicated corpus (2,124 articles after
101 exact duplicates are removed) and one training of each model on it, with the app's
defaults (`rnnlab docs train --seed S [--set model=flat]`: two networks each) plus any
`--set`; TF-IDF + logistic regression is fitted on the same training split in the same run.
Published neural figures on this corpus: BiLSTM + attention 94.55% (Serreli et al. 2024),
LSTM 94.8%. Writes OUT/docs_bbc.md and .json (default OUT: benchmarks/results/docs_bbc).

The JSON is written after every training, so an interrupted benchmark resumes: run the same
command again and the (model, seed) pairs already in OUT with the same settings are kept.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import torch
from _common import mean_std, resumed, save_progress, train, write_results

from rnnlab.apps.docs import APP


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--models", nargs="+", default=["han", "flat"])
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="a config setting for every run, as rnnlab docs train --set")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "docs_bbc")
    args = ap.parse_args()
    out_json = args.out / "docs_bbc.json"
    done = resumed(out_json, args.overrides, "runs")
    for seed in args.seeds:
        for model in args.models:
            if str(seed) in done["runs"].get(model, {}):
                print(model, seed, "already in", out_json, flush=True)
                continue
            with tempfile.TemporaryDirectory() as tmp:
                m = train(APP, Path(tmp) / "run", "bbc", seed, [f"model={model}", *args.overrides])
            m["threads"] = torch.get_num_threads()
            done["runs"].setdefault(model, {})[str(seed)] = m
            save_progress(out_json, done)
            print(model, seed, m, flush=True)
    runs = {m: [done["runs"][m][str(s)] for s in args.seeds] for m in args.models}
    pct = lambda xs: mean_std([100 * x for x in xs])  # noqa: E731
    each = lambda xs: " / ".join(f"{100 * x:.2f}" for x in xs)  # noqa: E731
    threads = sorted({m.get("threads", "?") for ms in runs.values() for m in ms}, key=str)
    first = runs[args.models[0]]
    lines = [f"Settings: {' '.join(args.overrides)}", ""] if args.overrides else []
    lines += [f"BBC News, deduplicated, stratified 80/20 split per seed; seeds {args.seeds}; "
             f"{os.cpu_count()} CPU cores, {'/'.join(map(str, threads))} torch thread(s) per run (1: two "
             "benchmarks ran side by side); mean ± std.", "",
             "| model | test accuracy % | per seed | macro-F1 % | train minutes (each) |", "|---|---|---|---|---|"]
    names = {"han": "HAN (hierarchical attention, bi-GRU at both levels)", "flat": "flat bi-GRU + attention"}
    for model in args.models:
        ms = runs[model]
        accs = [m["accuracy"] for m in ms]
        lines.append(f"| {names[model]} | {pct(accs)} | {each(accs)} | {pct([m['macro_f1'] for m in ms])} "
                     f"| {mean_std([m['train_seconds'] / 60 for m in ms])} |")
    tfidf = [m["baseline_tfidf_lr_accuracy"] for m in first]
    lines.append(f"| TF-IDF (1-2 grams) + logistic regression | {pct(tfidf)} | {each(tfidf)} | | |")
    lines.append(f"| majority class | {pct([m['baseline_majority_accuracy'] for m in first])} | | | |")
    write_results(args.out, "docs_bbc", done, lines)


if __name__ == "__main__":
    main()
