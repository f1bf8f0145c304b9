"""Sequence classification on aeon's bundled UCR/UEA datasets, over seeds.

    python benchmarks/classify_ucr.py                       # JapaneseVowels x 5 seeds + 1 seed of the others
    python benchmarks/classify_ucr.py --datasets GunPoint --seeds 0 1 2

Published point of comparison (Fawaz et al. 2019, "Deep learning for time series
classification: a review", DMKD, multivariate archive table): JapaneseVowels FCN 99.3%,
ResNet 99.2%, MLP 97.6%. For the other datasets see that paper's tables (not copied here).
Writes benchmarks/results/classify/classify.md and .json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from _common import mean_std, train

from rnnlab.apps.classify import APP
from rnnlab.data.sequences import BUNDLED

PUBLISHED = {"JapaneseVowels": "FCN 99.3, ResNet 99.2, MLP 97.6"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=list(BUNDLED))
    ap.add_argument("--seeds", type=int, nargs="+", default=None, help="default: 5 for JapaneseVowels, 1 otherwise")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/classify"))
    args = ap.parse_args()
    rows = []
    for name in args.datasets:
        seeds = args.seeds or ([0, 1, 2, 3, 4] if name == "JapaneseVowels" else [0])
        ms = []
        for s in seeds:
            with tempfile.TemporaryDirectory() as tmp:
                ms.append(train(APP, Path(tmp) / "run", name, s))
            print(name, s, ms[-1], flush=True)
        rows.append({"dataset": name, "seeds": seeds, "accuracy": [m["accuracy"] for m in ms],
                     "macro_f1": [m["macro_f1"] for m in ms], "seconds": [m["train_seconds"] for m in ms]})
    lines = ["| dataset | seeds | accuracy % | macro-F1 | train s (each) | published (Fawaz et al. 2019) |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['dataset']} | {len(r['seeds'])} | {mean_std([100 * a for a in r['accuracy']])} | "
                     f"{mean_std(r['macro_f1'])} | {mean_std(r['seconds'])} | {PUBLISHED.get(r['dataset'], '–')} |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "classify.json").write_text(json.dumps(rows, indent=2) + "\n")
    (args.out / "classify.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
