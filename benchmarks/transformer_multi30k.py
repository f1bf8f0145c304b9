"""Multi30k de→en: the default GRU + attention beside a Transformer, the same data and CPU budget.

    python benchmarks/transformer_multi30k.py [--minutes 60] [--data-dir ../shared/data/multi30k]

Both models train at once, one CPU thread each (on 2 cores: the same CPU-minutes on the
same machine at the same time), for --minutes each (selection on validation loss), with
the same byte-level BPE vocabulary of 8,000 and batches of 64 sentence pairs; then each
translates test_2016_flickr with beam 5. Writes BLEU and chrF (sacrebleu, with the
signature), BLEU by source length, and validation loss against time under
benchmarks/results/transformer-multi30k/. Published Transformer figures on this test
set are about 30.6–35 BLEU (GPU). Data path: --data-dir or $RNNLAB_MULTI30K.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

from _common import curve, parameters, train_side_by_side

from rnnlab.apps.translate import APP

MODELS = {
    # the recurrent default of benchmarks/translate_multi30k.py
    "gru_attention": ["embed_size=256", "hidden_size=512", "dropout=0.3"],
    # Vaswani et al.'s base layout, narrowed to train on a CPU, with the app's own Transformer
    # training defaults (TranslateApp.family_defaults: Adam 1e-3, 400 warm-up steps). The
    # committed results/ predate those defaults: they used train.lr=0.0005 and no warm-up
    # (--transformer-set train.lr=0.0005 --transformer-set train.warmup_steps=0 reproduces them).
    "transformer": ["model=transformer", "d_model=256", "heads=4", "transformer_layers=3", "ff_size=1024",
                    "dropout=0.1"],
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--data-dir", type=Path, default=Path(os.environ.get("RNNLAB_MULTI30K", "../shared/data/multi30k")))
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "transformer-multi30k")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads per model")
    ap.add_argument("--sequential", action="store_true", help="one model after the other instead of side by side")
    ap.add_argument("--transformer-set", action="append", default=[], metavar="KEY=VALUE",
                    help="a config key for the Transformer's run on top of the app's defaults (repeatable)")
    args = ap.parse_args()
    MODELS["transformer"] += args.transformer_set
    d = args.data_dir.resolve()
    common = [f"valid={d / 'val.de'},{d / 'val.en'}", f"test={d / 'test_2016_flickr.de'},{d / 'test_2016_flickr.en'}",
              "tokenizer=bpe", "vocab_size=8000", "batch_size=64", "beam_size=5", "train.epochs=200",
              "train.patience=3", "train.schedule=plateau", "train.lr_step_epochs=0", "train.lr_gamma=0.5",
              f"train.time_limit_minutes={args.minutes}"]
    runs = {name: common + extra for name, extra in MODELS.items()}
    metrics = train_side_by_side("translate", runs, f"{d / 'train.de'},{d / 'train.en'}", args.out,
                                 threads=args.threads, sequential=args.sequential)
    results = {}
    for name in runs:
        run = args.out / name
        bleu = json.loads((run / "bleu.json").read_text())
        results[name] = {**metrics[name], "bleu_signature": bleu["bleu_signature"],
                         "by_source_length": bleu["by_source_length"],
                         "parameters": parameters(APP, run),
                         "command": "rnnlab translate train " + " ".join(f"--set {o}" for o in runs[name])}
        for f in ["bleu.json", "metrics.csv"]:  # run directories (weights) are not committed
            shutil.copyfile(run / f, args.out / f"{name}_{f}")
        curve(run / "metrics.csv", args.out / f"{name}_val_loss_vs_time.png", "val_loss", f"Multi30k de-en, {name}")
    a, b = results["gru_attention"], results["transformer"]
    lines = ["| model | parameters | BLEU | chrF |", "|---|---|---|---|",
             *(f"| {n} | {r['parameters']:,} | {r['bleu']:.2f} | {r['chrf']:.2f} |" for n, r in results.items()), "",
             f"sacrebleu: {a['bleu_signature']}", "",
             "| source words | sentences | BLEU GRU + attention | BLEU Transformer |", "|---|---|---|---|"]
    for x, y in zip(a["by_source_length"], b["by_source_length"]):
        lines.append(f"| {x['from']}-{x['to']} | {x['sentences']} | {x['bleu']:.1f} | {y['bleu']:.1f} |")
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    (args.out / "summary.json").write_text(json.dumps({"minutes_each": args.minutes, "threads_each": args.threads,
                                                       "sequential": args.sequential, **results}, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
