"""Multi30k de→en: attention vs no attention, BLEU on test_2016_flickr (sacrebleu).

    python benchmarks/translate_multi30k.py [--minutes 60] [--data-dir ../shared/data/multi30k]
    python benchmarks/translate_multi30k.py --only attention         # one of the two runs
    python benchmarks/translate_multi30k.py --only no_attention --max-steps N --minutes 90

Trains the default attention model and the same network without attention
(RNNencdec), each for --minutes on 2 CPU cores (selection on val), then writes BLEU,
chrF, BLEU by source length (Bahdanau et al.'s Figure 2 comparison) and the BLEU-vs-time
curve under benchmarks/results/translate-multi30k/. Reference point:
bentrevett/pytorch-seq2seq's attention GRU (20.5M parameters) 28.3 BLEU; target >= 32.
Data path: --data-dir or $RNNLAB_MULTI30K.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

from _common import curve, train

from rnnlab.apps.translate import APP


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--data-dir", type=Path, default=Path(os.environ.get("RNNLAB_MULTI30K", "../shared/data/multi30k")))
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "translate-multi30k")
    ap.add_argument("--only", choices=("attention", "no_attention"), default=None,
                    help="train one of the two (the table is then built from the other's saved run)")
    ap.add_argument("--max-steps", type=int, default=None,
                    help="also stop after this many updates (e.g. the attention run's count, for a comparison at "
                         "equal updates that a busy machine cannot skew)")
    args = ap.parse_args()
    d = args.data_dir.resolve()
    common = [f"valid={d / 'val.de'},{d / 'val.en'}", f"test={d / 'test_2016_flickr.de'},{d / 'test_2016_flickr.en'}",
              "tokenizer=bpe", "vocab_size=8000", "embed_size=256", "hidden_size=512", "dropout=0.3",
              "batch_size=64", "beam_size=5", "train.epochs=30", "train.patience=3", "train.schedule=plateau",
              "train.lr_step_epochs=0", "train.lr_gamma=0.5",
              f"train.time_limit_minutes={args.minutes}"]
    if args.max_steps:
        common.append(f"train.max_steps={args.max_steps}")
    results = {}
    for name, extra in (("attention", []), ("no_attention", ["attention=null", "input_feeding=false"])):
        run = args.out / name
        if args.only in (None, name):
            train(APP, run, f"{d / 'train.de'},{d / 'train.en'}", 0, common + extra)
        if not (run / "metrics.json").exists():
            print(f"{run}: not trained yet; run with --only {name}")
            return
        results[name] = json.loads((run / "metrics.json").read_text())
        results[name]["by_source_length"] = json.loads((run / "bleu.json").read_text())["by_source_length"]
        # the run directories are not committed (weights); keep their small results next to the table
        for f in ["bleu.json", "metrics.csv", *sorted(p.name for p in run.glob("attention_*.png"))]:
            shutil.copyfile(run / f, args.out / f"{name}_{f}")
        curve(run / "metrics.csv", args.out / f"{name}_val_loss_vs_time.png", "val_loss", f"Multi30k de-en, {name}")
        if "val_bleu" in (run / "metrics.csv").read_text().splitlines()[0]:
            curve(run / "metrics.csv", args.out / f"{name}_val_bleu_vs_time.png", "val_bleu",
                  f"Multi30k de-en, {name}: greedy BLEU on 200 val sentences")
    lines = ["| source words | sentences | BLEU attention | BLEU no attention |", "|---|---|---|---|"]
    for a, b in zip(results["attention"]["by_source_length"], results["no_attention"]["by_source_length"]):
        lines.append(f"| {a['from']}-{a['to']} | {a['sentences']} | {a['bleu']:.1f} | {b['bleu']:.1f} |")
    (args.out / "bleu_by_length.md").write_text("\n".join(lines) + "\n")
    (args.out / "summary.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: {m: v[m] for m in ("bleu", "chrf")} for k, v in results.items()}, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
