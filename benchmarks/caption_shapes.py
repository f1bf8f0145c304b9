"""Image captioning on the embedded generated shapes, the full configuration.

    python benchmarks/caption_shapes.py [--seeds 0] [--out benchmarks/results/caption] [--set key=value ...]

Trains ``rnnlab caption train`` (CNN 32-64-128 → 256-d vector, LSTM 256, beam 3, 6000
images) once per seed and writes the test BLEU and exact-match rate beside the
most-frequent-caption baseline (``caption.md``/``caption.json``) and the first seed's
example captions (``examples.png``). Run directories are not kept.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from _common import mean_std, train, write_results

from rnnlab.apps.caption import APP


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "caption")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    args = ap.parse_args()
    rows = []
    for seed in args.seeds:
        run = args.out / f"run-{seed}"
        rows.append({"seed": seed, **train(APP, run, None, seed, args.set)})
        if seed == args.seeds[0]:
            shutil.copy(run / "examples.png", args.out / "examples.png")
        shutil.rmtree(run)
    col = lambda k: [r[k] for r in rows]  # noqa: E731
    setting = " ".join(f"--set {o}" for o in args.set) or "(default configuration)"
    lines = [f"`rnnlab caption train` {setting}, seeds {args.seeds}, {rows[0]['test_images']} test images:",
             "", "| | BLEU | exact match | training s |", "|---|---|---|---|",
             f"| CNN + LSTM (beam 3) | {mean_std(col('test_bleu'))} | {mean_std(col('test_exact'))} | "
             f"{mean_std(col('train_seconds'))} |",
             f"| most frequent training caption | {mean_std(col('baseline_most_frequent_bleu'))} | "
             f"{mean_std(col('baseline_most_frequent_exact'))} | |"]
    write_results(args.out, "caption", rows, lines)


if __name__ == "__main__":
    main()
