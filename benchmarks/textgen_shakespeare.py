"""tiny-shakespeare, nanoGPT's split (first 90% train, last 10% validation), char-level.

    python benchmarks/textgen_shakespeare.py [--minutes 60] [--data PATH]

Target: validation loss <= 1.47 nats/char (nanoGPT's 10.6M-parameter transformer on a
GPU) with an LSTM trained <= 60 minutes on 2 CPU cores. Writes the run directory, the
curve of validation loss against wall-clock time and a summary under
benchmarks/results/textgen-shakespeare/. The corpus path comes from --data or
$RNNLAB_SHAKESPEARE (default ../shared/data/tinyshakespeare/input.txt).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from _common import curve, train

from rnnlab.apps.textgen import APP


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--data", default=os.environ.get("RNNLAB_SHAKESPEARE", "../shared/data/tinyshakespeare/input.txt"))
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "textgen-shakespeare")
    args = ap.parse_args()
    overrides = ["hidden_size=512", "num_layers=2", "embed_size=128", "dropout=0.2", "seq_len=128", "batch_size=64",
                 "val_fraction=0.1", "train.epochs=200", "train.lr=0.002", "train.schedule=none",
                 f"train.time_limit_minutes={args.minutes}"]
    run = args.out / "run"
    m = train(APP, run, args.data, 0, overrides)
    curve(run / "metrics.csv", args.out / "val_loss_vs_time.png", "val_loss", "tiny-shakespeare, char LSTM 2x512")
    (args.out / "metrics.csv").write_text((run / "metrics.csv").read_text())  # the run dir (weights) is not committed
    summary = {"command": "rnnlab textgen train --data DATA " + " ".join(f"--set {o}" for o in overrides), **m}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
