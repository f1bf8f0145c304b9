"""Sequence classification on aeon's bundled UCR/UEA datasets, over seeds.

    python benchmarks/classify_ucr.py                       # JapaneseVowels x 5 seeds + 1 seed of the others
    python benchmarks/classify_ucr.py --datasets GunPoint --seeds 0 1 2
    python benchmarks/classify_ucr.py --datasets JapaneseVowels --set ensemble=1 --out /tmp/single

Published points of comparison: Fawaz et al. 2019, "Deep learning for time series
classification: a review" (DMKD 33:917-963), mean (std) test accuracy of 10 runs, as
released in the paper's repository hfawaz/dl-4-tsc, results/results-uea-avg-std.csv (the
85 UCR datasets) and results/results-mts-avg-std.csv (the 12 multivariate ones).
BasicMotions is in neither; PickupGestureWiimoteZ and ACSF1 (UCR 2018) only have one
ResNet run each, in results/results-ucr-128.csv of the same repository.
Writes benchmarks/results/classify/classify.md and .json.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import mean_std, train, write_results

from rnnlab.apps.classify import APP
from rnnlab.data.sequences import BUNDLED

PUBLISHED = {
    "JapaneseVowels": "FCN 99.3 (0.2), ResNet 99.2 (0.3), MLP 97.6 (0.2)",
    "GunPoint": "FCN 100.0 (0.0), ResNet 99.1 (0.7), MLP 92.7 (1.1)",
    "ArrowHead": "FCN 84.3 (1.5), ResNet 84.5 (1.2), MLP 77.8 (1.2)",
    "ItalyPowerDemand": "FCN 96.1 (0.3), ResNet 96.3 (0.4), MLP 95.4 (0.2)",
    "OSULeaf": "FCN 97.7 (0.9), ResNet 97.9 (0.8), MLP 55.7 (1.0)",
    "PickupGestureWiimoteZ": "ResNet 72.0 (one run, UCR 2018 archive)",
    "ACSF1": "ResNet 93.0 (one run, UCR 2018 archive)",
    "BasicMotions": "not in Fawaz et al. 2019",
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=list(BUNDLED))
    ap.add_argument("--seeds", type=int, nargs="+", default=None, help="default: 5 for JapaneseVowels, 1 otherwise")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="a config setting for every run, as rnnlab classify train --set")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "classify")
    args = ap.parse_args()
    rows = []
    for name in args.datasets:
        seeds = args.seeds or ([0, 1, 2, 3, 4] if name == "JapaneseVowels" else [0])
        ms = []
        for s in seeds:
            with tempfile.TemporaryDirectory() as tmp:
                ms.append(train(APP, Path(tmp) / "run", name, s, args.overrides or None))
            print(name, s, ms[-1], flush=True)
        rows.append({"dataset": name, "seeds": seeds, "accuracy": [m["accuracy"] for m in ms],
                     "macro_f1": [m["macro_f1"] for m in ms], "seconds": [m["train_seconds"] for m in ms]})
    lines = [f"Settings: {' '.join(args.overrides)}", ""] if args.overrides else []
    lines += ["| dataset | seeds | accuracy % | macro-F1 | train s (each) | published (Fawaz et al. 2019) |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['dataset']} | {len(r['seeds'])} | {mean_std([100 * a for a in r['accuracy']])} | "
                     f"{mean_std(r['macro_f1'])} | {mean_std(r['seconds'])} | {PUBLISHED.get(r['dataset'], '–')} |")
    write_results(args.out, "classify", rows, lines)


if __name__ == "__main__":
    main()
