"""Darts' RNNModel on the protocols of benchmarks/forecast.py, for a side-by-side table.

    python -m venv .venv-darts && .venv-darts/bin/pip install torch==2.13.0 darts statsmodels aeon
    .venv-darts/bin/python benchmarks/forecast_darts.py [--seeds 0 1 2]

Darts is not a dependency of rnnlab (it pulls in PyTorch Lightning), so this script
runs in its own environment and imports nothing from rnnlab; it loads the same series
from the same packages. The model is the recipe of Darts' RNN example notebook for
AirPassengers — ``RNNModel(model="LSTM", hidden_dim=20, dropout=0, batch_size=16,
n_epochs=300, lr=1e-3, input_chunk_length=14, training_length=20)`` with year and
one-hot month as future covariates, series min-max scaled on the training part — and,
for sunspots, the same model with ``input_chunk_length=30`` (rnnlab's input length) and
no covariates. Both are trained on the points before the first backtest origin and
backtested with ``historical_forecasts(retrain=False, last_points_only=True)`` exactly as
in rnnlab's protocol: airline from 1959-01 with a 6-month horizon, sunspots from 1959
with a 3-year horizon. Writes ``darts.json`` and ``darts.md`` next to forecast.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import write_results


def load(name: str) -> pd.Series:
    if name == "airline":
        from aeon.datasets import load_airline

        y = load_airline()  # a Series with a PeriodIndex, or (newer aeon) a bare array from 1949-01
        if not isinstance(y, pd.Series):
            y = pd.Series(np.asarray(y).ravel(), index=pd.date_range("1949-01-01", periods=np.size(y), freq="MS"))
        elif isinstance(y.index, pd.PeriodIndex):
            y.index = y.index.to_timestamp()
        return y.astype("float32")
    import statsmodels.api as sm

    d = sm.datasets.sunspots.load_pandas().data
    return pd.Series(d["SUNACTIVITY"].to_numpy("float32"), index=pd.date_range("1700", periods=len(d), freq="YS"))


def run(name: str, seed: int) -> dict:
    from darts import TimeSeries
    from darts.dataprocessing.transformers import Scaler
    from darts.metrics import mae, mape
    from darts.models import RNNModel
    from darts.utils.timeseries_generation import datetime_attribute_timeseries

    series = TimeSeries.from_series(load(name))
    start = pd.Timestamp("1959-01-01")
    horizon = 6 if name == "airline" else 3
    train, _ = series.split_before(start)
    scaler = Scaler()
    train_s = scaler.fit_transform(train)
    series_s = scaler.transform(series)
    covariates = None
    if name == "airline":
        idx = pd.date_range(start=series.start_time(), freq=series.freq_str, periods=len(series) + 24)
        year = Scaler().fit_transform(datetime_attribute_timeseries(idx, attribute="year", one_hot=False))
        month = datetime_attribute_timeseries(idx, attribute="month", one_hot=True)
        covariates = year.stack(month).astype(np.float32)
    chunk, train_len = (14, 20) if name == "airline" else (30, 33)
    model = RNNModel(model="LSTM", hidden_dim=20, dropout=0, batch_size=16, n_epochs=300,
                     optimizer_kwargs={"lr": 1e-3}, input_chunk_length=chunk, training_length=train_len,
                     random_state=seed, force_reset=True,
                     pl_trainer_kwargs={"accelerator": "cpu", "enable_progress_bar": False,
                                        "enable_model_summary": False, "logger": False})
    t0 = time.perf_counter()
    model.fit(train_s, future_covariates=covariates, verbose=False)
    fc = model.historical_forecasts(series_s, future_covariates=covariates, start=start, forecast_horizon=horizon,
                                    retrain=False, last_points_only=True, verbose=False)
    seconds = time.perf_counter() - t0
    fc = scaler.inverse_transform(fc)
    return {"mae": float(mae(series, fc)), "mape": float(mape(series, fc)), "seconds": seconds,
            "first_scored": str(fc.start_time().date()), "last_scored": str(fc.end_time().date()), "points": len(fc)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "forecast")
    args = ap.parse_args()
    import darts

    rows = []
    for name in ("sunspots", "airline"):
        runs = [run(name, s) for s in args.seeds]
        for r in runs:
            print(name, r, flush=True)
        row = {"data": name, "seeds": args.seeds, "runs": runs}
        for k in ("mae", "mape", "seconds"):
            row[k] = statistics.mean(r[k] for r in runs)
            row[k + "_std"] = statistics.pstdev(r[k] for r in runs)
        rows.append(row)
    lines = [f"Darts {darts.__version__} RNNModel (LSTM), seeds {args.seeds}; mean ± std.", "",
             "| data | Darts MAE | Darts MAPE % | scored points | fit + backtest s |", "|---|---|---|---|---|"]
    for r in rows:
        first = r["runs"][0]
        lines.append(f"| {r['data']} | {r['mae']:.2f} ± {r['mae_std']:.2f} | {r['mape']:.2f} ± {r['mape_std']:.2f} | "
                     f"{first['points']} ({first['first_scored']} to {first['last_scored']}) | {r['seconds']:.0f} |")
    write_results(args.out, "darts", rows, lines)


if __name__ == "__main__":
    main()
