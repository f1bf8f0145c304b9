"""Darts' global recurrent models on M1 yearly, on the split of benchmarks/forecast_m1.py.

    python -m venv .venv-darts && .venv-darts/bin/pip install torch==2.13.0 "darts[torch]" aeon
    .venv-darts/bin/python benchmarks/forecast_m1_darts.py [--seeds 0 1 2 3 4] [--epochs 100]

Darts is not a dependency of rnnlab, so this runs in its own environment and imports
nothing from rnnlab: it reads the same file (aeon's bundled ``m1_yearly_dataset.tsf``)
with its own few lines, holds out the last 6 values of each series, and scores exactly
as forecast_m1.py does (MASE per series scaled by the in-sample mean absolute lag-1
difference, averaged; sMAPE). The models, each one global model over the 181 series,
min-max scaled per series on the training part (Darts' ``Scaler`` on a list):

- ``BlockRNNModel(model="LSTM")`` — an encoder over ``input_chunk_length`` values emitting
  the 6 horizon values at once (the closest Darts has to rnnlab's forking model);
- ``RNNModel(model="LSTM")`` — Darts' autoregressive (DeepAR-like, point) recurrent model.

``input_chunk_length=3``: the shortest training part has 9 values and Darts skips series
shorter than input + output length. Writes ``darts.json`` and ``darts.md`` beside m1.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from _common import write_results

H = 6


def read_m1() -> list[np.ndarray]:
    import aeon

    path = Path(aeon.__file__).parent / "datasets" / "data" / "m1_yearly_dataset" / "m1_yearly_dataset.tsf"
    lines = path.read_text().splitlines()
    data = lines[next(i for i, ln in enumerate(lines) if ln.strip().lower() == "@data") + 1:]
    return [np.array([float(v) for v in ln.split(":")[-1].split(",")]) for ln in data if ln.strip()]


def score(y: list[np.ndarray], f: list[np.ndarray], insample: list[np.ndarray]) -> dict:
    mase, smape = [], []
    for a, b, x in zip(y, f, insample):
        denom = np.mean(np.abs(np.diff(x)))
        if denom > 0:
            mase.append(np.mean(np.abs(a - b)) / denom)
        smape.append(np.mean(200 * np.abs(a - b) / (np.abs(a) + np.abs(b))))
    return {"mase": float(np.mean(mase)), "smape": float(np.mean(smape))}


def run(kind: str, seed: int, epochs: int) -> dict:
    from darts import TimeSeries
    from darts.dataprocessing.transformers import Scaler
    from darts.models import BlockRNNModel, RNNModel

    values = read_m1()
    train = [TimeSeries.from_values(v[:-H].astype(np.float32)) for v in values]
    scaler = Scaler()
    train_s = scaler.fit_transform(train)
    common = dict(model="LSTM", input_chunk_length=3, hidden_dim=25, batch_size=32, n_epochs=epochs,
                  optimizer_kwargs={"lr": 1e-3}, random_state=seed, force_reset=True,
                  pl_trainer_kwargs={"accelerator": "cpu", "enable_progress_bar": False,
                                     "enable_model_summary": False, "logger": False})
    if kind == "BlockRNNModel":
        model = BlockRNNModel(output_chunk_length=H, **common)
    else:
        model = RNNModel(training_length=8, **common)
    t0 = time.perf_counter()
    model.fit(train_s, verbose=False)
    pred = scaler.inverse_transform(model.predict(n=H, series=train_s, verbose=False))
    seconds = time.perf_counter() - t0
    f = [p.values().ravel().astype(float) for p in pred]
    return {**score([v[-H:] for v in values], f, [v[:-H] for v in values]), "seconds": seconds}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "forecast" / "m1")
    args = ap.parse_args()
    import darts

    rows = []
    for kind in ("BlockRNNModel", "RNNModel"):
        runs = []
        for s in args.seeds:
            runs.append(run(kind, s, args.epochs))
            print(kind, s, runs[-1], flush=True)
        row = {"model": kind, "seeds": args.seeds, "epochs": args.epochs, "runs": runs}
        for k in ("mase", "smape", "seconds"):
            row[k] = statistics.mean(r[k] for r in runs)
            row[k + "_std"] = statistics.pstdev(r[k] for r in runs)
        rows.append(row)
    lines = [f"Darts {darts.__version__} on M1 yearly (last 6 held out), LSTM, {args.epochs} epochs, "
             f"seeds {args.seeds}; mean ± std.", "",
             "| Darts model | mean MASE | mean sMAPE % | fit + predict s |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['mase']:.3f} ± {r['mase_std']:.3f} | {r['smape']:.2f} ± "
                     f"{r['smape_std']:.2f} | {r['seconds']:.0f} |")
    write_results(args.out, "darts", rows, lines)


if __name__ == "__main__":
    main()
