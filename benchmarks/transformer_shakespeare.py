"""tiny-shakespeare, char-level: the LSTM beside a Transformer and a minGRU block stack of about its size, the
same data and CPU budget.

    python benchmarks/transformer_shakespeare.py [--minutes 45] [--data PATH] [--models lstm,transformer]
    python benchmarks/transformer_shakespeare.py --models mingru --out benchmarks/results/transformer-shakespeare/mingru

nanoGPT's split (first 90% train, last 10% validation). Both models train at once, one
CPU thread each (on 2 cores: the same CPU-minutes on the same machine at the same
time), for --minutes each, on windows of 128 characters in batches of 64. The LSTM is
benchmarks/textgen_shakespeare.py's 2 × 512 (stateful truncated BPTT); the Transformer
(4 pre-norm layers of 256, 4 heads) reads each window on its own. Validation: nats per
character over the whole validation text, the LSTM carrying its state across windows,
the Transformer reading consecutive windows of 128 (the positions it was trained on).
``mingru`` is ``--set model=blocks``: 2 residual blocks of 384 (a causal convolution of 4
steps, a minGRU layer 576 wide on the scan backend, an MLP), stateful like the LSTM;
alone (``--models mingru``) it runs one thread beside an idle core.
Writes the table, each run's metrics.csv and loss-against-time plots under
benchmarks/results/transformer-shakespeare/. The corpus path comes from --data or
$RNNLAB_SHAKESPEARE (default ../shared/data/tinyshakespeare/input.txt).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

from _common import curve, parameters, train_side_by_side

from rnnlab.apps.textgen import APP

COMMON = ["seq_len=128", "batch_size=64", "val_fraction=0.1", "train.epochs=500", "train.schedule=none"]
MODELS = {
    "lstm": ["hidden_size=512", "num_layers=2", "embed_size=128", "dropout=0.2", "train.lr=0.002"],
    # the app's own Transformer training defaults (TextGenApp.family_defaults: Adam 1e-3 with 400
    # warm-up steps); the committed results/ predate them: train.lr=0.001 without warm-up
    # (--transformer-set train.warmup_steps=0 reproduces them)
    "transformer": ["model=transformer", "d_model=256", "heads=4", "transformer_layers=4", "ff_size=1024",
                    "dropout=0.1"],
    "mingru": ["model=blocks", "cell=mingru", "hidden_size=384", "num_layers=2", "dropout=0.1", "train.lr=0.002",
               "train.warmup_steps=200"],
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=45)
    ap.add_argument("--data", default=os.environ.get("RNNLAB_SHAKESPEARE", "../shared/data/tinyshakespeare/input.txt"))
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "transformer-shakespeare")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads per model")
    ap.add_argument("--sequential", action="store_true", help="one model after the other instead of side by side")
    ap.add_argument("--models", default="lstm,transformer", help=f"comma-separated, of {', '.join(MODELS)}")
    ap.add_argument("--transformer-set", action="append", default=[], metavar="KEY=VALUE",
                    help="a config key for the Transformer's run on top of the app's defaults (repeatable)")
    args = ap.parse_args()
    MODELS["transformer"] += args.transformer_set
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    if not names or set(names) - set(MODELS):
        ap.error(f"--models: expected some of {', '.join(MODELS)}, got {args.models!r}")
    runs = {name: COMMON + MODELS[name] + [f"train.time_limit_minutes={args.minutes}"] for name in names}
    metrics = train_side_by_side("textgen", runs, str(Path(args.data).resolve()), args.out, threads=args.threads,
                                 sequential=args.sequential)
    results = {}
    for name in runs:
        run = args.out / name
        results[name] = {**metrics[name], "parameters": parameters(APP, run),
                         "command": "rnnlab textgen train --data DATA " + " ".join(f"--set {o}" for o in runs[name])}
        shutil.copyfile(run / "metrics.csv", args.out / f"{name}_metrics.csv")  # weights are not committed
        curve(run / "metrics.csv", args.out / f"{name}_val_loss_vs_time.png", "val_loss", f"tiny-shakespeare, {name}")
    lines = ["| model | parameters | validation nats/char | bits/char |", "|---|---|---|---|",
             *(f"| {n} | {r['parameters']:,} | {r['val_nats_per_char']:.3f} | {r['val_bits_per_char']:.3f} |"
               for n, r in results.items())]
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    (args.out / "summary.json").write_text(json.dumps({"minutes_each": args.minutes, "threads_each": args.threads,
                                                       "sequential": args.sequential, **results}, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
