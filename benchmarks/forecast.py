"""Forecasting benchmark: rnnlab vs ARIMA / ETS / naive on the documented protocols.

    python benchmarks/forecast.py                     # sunspots + airline, seeds 0 1 2
    python benchmarks/forecast.py --seeds 0 1 2 3 4 --out benchmarks/results/forecast
    python benchmarks/forecast.py --data airline --default-only --seeds 0 1 2 3 4 5 6 7 8 9 --stem airline-10-seeds

Protocols (rnnlab/apps/forecast.py, PRESETS):
- sunspots (statsmodels, yearly 1700-2008): input 30 years, 3-year horizon, one forecast
  from every origin 1959..2006 (the last 50 years), scored on the 3rd year (Darts'
  last_points_only).
- airline (aeon, monthly 1949-1960): log scale, input 24 months, 6-month horizon, origins
  from 1959-01, scored on the 6th month — Darts' AirPassengers protocol (RNNModel with
  covariates: MAPE 2.71%; exponential smoothing 5.11%).

Each variant is trained once per seed with the same command a user runs
(``rnnlab forecast train --data NAME --seed S [--set ...]``); baselines come from the same
run. Darts' RNNModel runs on the same protocols in benchmarks/forecast_darts.py (in
its own environment), writing darts.md beside forecast.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from _common import write_results

from rnnlab.apps.forecast import APP

VARIANTS = {  # the default model is forking (MQ-RNN's forking sequences); the others for comparison
    "sunspots": [[], ["model=direct"]],
    "airline": [[], ["model=direct"], ["model=seq2seq"]],
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "forecast")
    ap.add_argument("--data", nargs="+", default=list(VARIANTS), help="datasets (default: all)")
    ap.add_argument("--default-only", action="store_true", help="only the default model, not the variants")
    ap.add_argument("--stem", default="forecast", help="name of the result files (STEM.md, STEM.json)")
    args = ap.parse_args()
    rows = []
    for data in args.data:
        for overrides in VARIANTS[data][:1] if args.default_only else VARIANTS[data]:
            runs = []
            for seed in args.seeds:
                with tempfile.TemporaryDirectory() as tmp:
                    run = APP.train(data=data, seed=seed, out=Path(tmp) / "run", overrides=overrides, verbose=False)
                    runs.append(json.loads((run / "metrics.json").read_text()))
                print(data, overrides, seed, {k: round(v, 3) for k, v in runs[-1].items() if "mae" in k or "mape" in k},
                      flush=True)
            row = {"data": data, "variant": " ".join(overrides) or "default", "seeds": args.seeds,
                   "mape_all": [r["mape"] for r in runs]}
            for key in runs[0]:
                vals = [r[key] for r in runs]
                row[key] = statistics.mean(vals)
                row[key + "_std"] = statistics.pstdev(vals)
            rows.append(row)
    darts_note = ("Darts' RNNModel on the same protocols: benchmarks/forecast_darts.py (its own environment, "
                  "as darts pulls in PyTorch Lightning), results in darts.md")
    lines = [f"Seeds {args.seeds}; mean ± std over seeds; baselines are deterministic. {darts_note}.", "",
             "| data | variant | rnnlab MAE | rnnlab MAPE % | ARIMA MAE | ARIMA MAPE % | ETS MAE | ETS MAPE % | "
             "seasonal naive MAE | naive MAE | train s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['data']} | {r['variant']} | {r['mae']:.2f} ± {r['mae_std']:.2f} | "
                     f"{r['mape']:.2f} ± {r['mape_std']:.2f} | {r['baseline_arima_mae']:.2f} | "
                     f"{r['baseline_arima_mape']:.2f} | {r['baseline_ets_mae']:.2f} | {r['baseline_ets_mape']:.2f} | "
                     f"{r['baseline_seasonal_naive_mae']:.2f} | {r['baseline_naive_mae']:.2f} | "
                     f"{r['train_seconds']:.0f} |")
    write_results(args.out, args.stem, rows, lines)


if __name__ == "__main__":
    main()
