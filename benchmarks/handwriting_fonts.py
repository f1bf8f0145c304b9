"""Handwriting synthesis on the embedded font-traced default, the full configuration.

    python benchmarks/handwriting_fonts.py [--epochs 30] [--out benchmarks/results/handwriting]

Trains ``rnnlab handwriting train`` (3 × 256 LSTM, 20 output Gaussians, 10 window
Gaussians, 3000 samples of one or two words) and writes, under the output directory, the
metrics beside the one-Gaussian baseline (``summary.json``), the validation curve, the
run's own samples and the phrase "now is better than never" written at bias 0.5 and 2
(``written-bias*.png`` with their strokes as JSON). The run directory itself (weights)
is not kept in the repository.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from _common import curve, train

from rnnlab.apps.handwriting import APP

PHRASE = "now is better than never"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "handwriting")
    args = ap.parse_args()
    overrides = [f"train.epochs={args.epochs}"]
    run = args.out / "run"
    m = train(APP, run, None, 0, overrides)
    curve(run / "metrics.csv", args.out / "val_loss_vs_time.png", "val_loss", "handwriting synthesis, 3x256 LSTM")
    shutil.copy(run / "samples.png", args.out / "samples.png")
    (args.out / "metrics.csv").write_text((run / "metrics.csv").read_text())
    for bias in (0.5, 2.0):
        APP.write(run, PHRASE, args.out / f"written-bias{bias:g}.png", bias=bias, seed=0)
    summary = {"command": "rnnlab handwriting train " + " ".join(f"--set {o}" for o in overrides), **m}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    shutil.rmtree(run)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
