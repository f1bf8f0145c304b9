"""The global forecaster on generated panels: calibration where the noise is known, and
scale (10,000 series × 200 steps, one epoch, bounded memory).

    python benchmarks/forecast_panel.py --calibration     # 200 series, seeds 0-2
    python benchmarks/forecast_panel.py --scale           # 10,000 x 200, one epoch

Calibration: ``write_seasonal_panel`` (monthly series, noise 5% of each level, a planned
promotion as a future covariate, a group as a static covariate); the last 6 values held
out; coverage of the 80% and 95% intervals and the weighted quantile loss (≈ CRPS)
beside the seasonal-naive forecast's textbook intervals. Scale: the same generator at
10,000 series × 200 steps; the CSV is read, the network trained for one epoch over
windows every 12 steps (batch 256), and the peak resident memory of the process and
the series per second of training are reported. Results under
benchmarks/results/forecast/panel/.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

from _common import train, write_results

from rnnlab.apps.forecast import APP
from rnnlab.data.panel import write_seasonal_panel

OUT = Path(__file__).parent / "results" / "forecast" / "panel"
COVS = ['covariates=["promo"]', 'static_covariates=["group"]']


def calibration(seeds: list[int]) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = write_seasonal_panel(Path(tmp) / "panel.csv", n_series=200, length=72, noise=0.05)
        for seed in seeds:
            m = train(APP, Path(tmp) / "run", str(data), seed, ["horizon=6", "ensemble=1", "train.epochs=30",
                                                                 "quick_baselines=true", *COVS])
            rows.append(m)
            print(seed, {k: round(m[k], 3) for k in ("mase", "coverage80", "coverage95", "wql")}, flush=True)
    keys = ("mase", "coverage80", "coverage95", "wql", "msis")
    summary = {k: (statistics.mean(r[k] for r in rows), statistics.pstdev(r[k] for r in rows)) for k in keys}
    base = {k: rows[0][f"baseline_seasonal_naive_{k}"] for k in keys}
    lines = [f"Generated panel (200 monthly series, 48-72 values, noise 5% of the level, last 6 held out); rnnlab "
             f"forking, 1 network, 30 epochs, seeds {seeds}: mean ± std. Seasonal naive: textbook normal intervals.",
             "", "| method | MASE | 80% coverage | 95% coverage | wQL (≈CRPS) | MSIS |", "|---|---|---|---|---|---|",
             "| rnnlab forking (calibrated) | " + " | ".join(f"{summary[k][0]:.3f} ± {summary[k][1]:.3f}"
                                                      for k in keys) + " |",
             "| seasonal naive | " + " | ".join(f"{base[k]:.3f}" for k in keys) + " |"]
    write_results(OUT, "calibration", {"seeds": seeds, "runs": rows}, lines)


def scale() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        data = write_seasonal_panel(Path(tmp) / "big.csv", n_series=10_000, length=200, noise=0.05)
        t_write = time.perf_counter() - t0
        t0 = time.perf_counter()
        m = train(APP, Path(tmp) / "run", str(data), 0, ["horizon=6", "ensemble=1", "train.epochs=1",
                                                         "window_stride=12", "batch_size=256", "quick_baselines=true",
                                                         "calibrate=false", *COVS])
        total = time.perf_counter() - t0
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    row = {"series": 10_000, "steps": 200, "train_seconds": m["train_seconds"], "total_seconds": total,
           "csv_write_seconds": t_write, "peak_rss_mib": rss_mib, "series_per_second": 10_000 / m["train_seconds"],
           "mase": m["mase"]}
    lines = ["10,000 generated series × up to 200 monthly steps (2 cores; one epoch, windows every 12 steps, "
             "batch 256, one network)", "",
             "| series | train s (1 epoch) | series / s | read + train + score s | peak RSS MiB | MASE after 1 epoch |",
             "|---|---|---|---|---|---|",
             f"| 10,000 | {row['train_seconds']:.0f} | {row['series_per_second']:.0f} | {total:.0f} | {rss_mib:.0f} | "
             f"{row['mase']:.3f} |"]
    write_results(OUT, "scale", row, lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calibration", action="store_true")
    ap.add_argument("--scale", action="store_true")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    if args.calibration or not args.scale:
        calibration(args.seeds)
    if args.scale:
        scale()


if __name__ == "__main__":
    main()
