"""Baselines for a panel, fitted per series on the same split as the global network:
``seasonal_naive`` (NumPy; its intervals widen as the forecasting textbooks give them,
σ √(⌊(k−1)/m⌋ + 1) with σ the in-sample seasonal-difference spread, Hyndman &
Athanasopoulos, *FPP3* §5.5) and statsforecast's ``auto_ets``, ``auto_theta``,
``auto_arima`` (Nixtla's implementations, made for many series) with their own
prediction intervals. Each returns quantiles (S, h, Q) at the plan's levels, so the
same :func:`~rnnlab.tasks.panel_forecasting.scores` measures them.

statsforecast is imported only when one of its models is asked for (about 2 s on 2 cores;
its models need no numba compilation in version 2, measured in benchmarks/forecast_m1.py).
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

from ..errors import InputError

__all__ = ["PANEL_BASELINES", "panel_baseline"]

PANEL_BASELINES = ("seasonal_naive", "auto_ets", "auto_theta", "auto_arima")


def seasonal_naive_quantiles(history: list[np.ndarray], h: int, season: int, levels) -> np.ndarray:
    out = np.zeros((len(history), h, len(levels)))
    z = np.array([NormalDist().inv_cdf(p) for p in levels])
    for i, x in enumerate(history):
        m = season if season > 1 and len(x) > season else 1
        point = np.array([x[len(x) - m + (k % m)] for k in range(h)])
        resid = x[m:] - x[:-m]
        sigma = float(np.sqrt(np.mean(resid ** 2))) if len(resid) else 0.0
        width = sigma * np.sqrt(np.arange(h) // m + 1)
        out[i] = point[:, None] + width[:, None] * z[None]
    return out


def _statsforecast(name: str, history: list[np.ndarray], h: int, season: int, levels) -> np.ndarray:
    try:
        import pandas as pd
        from statsforecast import StatsForecast
        from statsforecast.models import AutoARIMA, AutoETS, AutoTheta
    except ImportError:
        raise InputError(f"panel_baselines: {name} needs statsforecast (pip install 'rnnlab[forecast]')") from None
    model = {"auto_ets": AutoETS, "auto_theta": AutoTheta, "auto_arima": AutoARIMA}[name](season_length=season)
    df = pd.DataFrame({"unique_id": np.repeat(np.arange(len(history)), [len(x) for x in history]),
                       "ds": np.concatenate([np.arange(len(x)) for x in history]),
                       "y": np.concatenate(history).astype(float)})
    widths = sorted({round(abs(1 - 2 * p) * 100, 6) for p in levels if p != 0.5})
    fc = StatsForecast(models=[model], freq=1, n_jobs=1).forecast(df=df, h=h, level=widths)
    col = [c for c in fc.columns if c not in ("unique_id", "ds") and "-lo-" not in c and "-hi-" not in c][0]
    out = np.zeros((len(history), h, len(levels)))
    fc = fc.sort_values(["unique_id", "ds"])
    for j, p in enumerate(levels):
        if p == 0.5:
            name_j = col
        else:
            w = round(abs(1 - 2 * p) * 100, 6)
            name_j = f"{col}-{'lo' if p < 0.5 else 'hi'}-{float(w)}"
        out[:, :, j] = fc[name_j].to_numpy().reshape(len(history), h)
    return out


def panel_baseline(name: str, history: list[np.ndarray], h: int, season: int, levels) -> np.ndarray:
    """Quantiles (S, h, Q) of baseline ``name`` from each series' ``history``."""
    if name not in PANEL_BASELINES:
        raise InputError(f"panel_baselines: unknown baseline {name!r}; expected any of {', '.join(PANEL_BASELINES)}")
    if name == "seasonal_naive":
        return seasonal_naive_quantiles(history, h, season, levels)
    return _statsforecast(name, history, h, season, levels)
