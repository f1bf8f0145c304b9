"""Forecast accuracy metrics and the statistical baselines every forecast is compared with.

Baselines, all run on the same rolling origins as the network:

- ``naive``: the last observed value, repeated.
- ``seasonal_naive``: the value one season earlier.
- ``arima``: statsmodels SARIMAX; order chosen by AIC on the training part from a small
  grid, then *applied* (parameters fixed, state re-filtered) at each origin — like the
  network, it is not refitted.
- ``ets``: statsmodels Holt-Winters exponential smoothing (additive damped trend, additive
  season when there is one), refitted at each origin (it has no cheap re-filter).

ARIMA and ETS work on the transformed scale (log for ``transform=log``).
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np

__all__ = ["forecast_metrics", "naive", "seasonal_naive", "ArimaBaseline", "ets_forecast", "BASELINES"]

BASELINES = ("naive", "seasonal_naive", "arima", "ets")


def forecast_metrics(y: np.ndarray, yhat: np.ndarray, train: np.ndarray, season: int) -> dict[str, float]:
    """MAE, RMSE, MAPE (%), sMAPE (%) and MASE (scaled by the in-sample seasonal-naive MAE
    on ``train``; Hyndman & Koehler 2006) of predictions ``yhat`` for ``y``."""
    y, yhat = np.asarray(y, float).ravel(), np.asarray(yhat, float).ravel()
    err = yhat - y
    m = season if season > 1 and len(train) > season else 1
    scale = np.mean(np.abs(train[m:] - train[:-m])) if len(train) > m else np.nan
    nz = np.abs(y) > 1e-12
    denom = np.abs(y) + np.abs(yhat)
    return {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err ** 2))),
        "mape": float(100 * np.mean(np.abs(err[nz] / y[nz]))) if nz.any() else float("nan"),
        "smape": float(100 * np.mean(np.where(denom > 0, 2 * np.abs(err) / np.where(denom > 0, denom, 1), 0))),
        "mase": float(np.mean(np.abs(err)) / scale) if scale and np.isfinite(scale) else float("nan"),
    }


def naive(history: np.ndarray, horizon: int) -> np.ndarray:
    return np.repeat(history[-1:], horizon, axis=0)


def seasonal_naive(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    if season <= 1:
        return naive(history, horizon)
    n = len(history)
    return np.stack([history[n + k - season * (k // season + 1)] for k in range(horizon)])


class ArimaBaseline:
    """SARIMAX chosen by AIC on ``train`` (1-D), then applied at any origin."""

    def __init__(self, train: np.ndarray, season: int, quick: bool = False):
        from statsmodels.tsa.statespace.sarimax import SARIMAX

        orders = [(1, 0, 0), (2, 0, 0), (2, 0, 1), (0, 1, 1), (1, 1, 1), (2, 1, 2)]
        if not quick:
            orders += [(3, 0, 0), (2, 1, 0), (3, 0, 2), (1, 1, 0)]
        seasonal = [(0, 0, 0, 0)]
        if season > 1 and len(train) > 3 * season:
            seasonal.append((0, 1, 1, season))
        best = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for order, sorder in itertools.product(orders, seasonal):
                trend = "c" if order[1] == 0 and sorder[1] == 0 else None
                try:
                    res = SARIMAX(train, order=order, seasonal_order=sorder, trend=trend).fit(disp=False)
                except Exception:  # a grid point that does not converge is skipped
                    continue
                if np.isfinite(res.aic) and (best is None or res.aic < best[0]):
                    best = (res.aic, res, order, sorder)
        if best is None:
            raise RuntimeError("no ARIMA model could be fitted")
        _, self.result, self.order, self.seasonal_order = best

    def forecast(self, history: np.ndarray, horizon: int) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(self.result.apply(history).forecast(horizon))

    def describe(self) -> str:
        return f"SARIMAX{self.order}x{self.seasonal_order}"


def ets_forecast(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    seasonal = "add" if season > 1 and len(history) >= 2 * season + 2 else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ExponentialSmoothing(history, trend="add", damped_trend=True, seasonal=seasonal,
                                     seasonal_periods=season if seasonal else None,
                                     initialization_method="estimated")
        return np.asarray(model.fit().forecast(horizon))
