"""``Forecaster``: ``rnnlab forecast`` on a pandas Series / DataFrame or a NumPy array.

    >>> from rnnlab import Forecaster
    >>> f = Forecaster(horizon=6, epochs=60).fit(y)   # doctest: +SKIP
    >>> f.predict()                                   # the six steps after y's end, by date  # doctest: +SKIP
    >>> f.backtest()                                  # the network beside naive, seasonal, ARIMA, ETS  # doctest: +SKIP

The verbs are Darts' (``fit``, ``predict``, ``backtest``): aeon's forecasters predict
one value ``horizon`` steps ahead, where this one returns the whole horizon, dated.
Training is the CLI's: the network learns from the part of the series before the
backtest start (``backtest_start``, by default the last 20%), is scored on the rest
beside the baselines, and forecasts from the end of the series — ``predict()`` equals
``rnnlab forecast predict`` on the saved run.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator

from ..apps.forecast import APP as FORECAST
from ..errors import InputError
from ..tasks.forecasting import forecast_from_end
from ..tasks.panel_forecasting import check_future_known, panel_forecast, predictions_csv
from ..tasks.panel_windows import PanelArrays
from .base import RunBackedEstimator

__all__ = ["Forecaster"]


def _frame(y, X=None):
    """``(csv bytes, target names, covariate names, index)``: the series as the CSV
    ``rnnlab forecast`` reads (a ``date`` column when the index is one of dates)."""
    import pandas as pd

    if isinstance(y, np.ndarray):
        if y.ndim not in (1, 2):
            raise InputError(f"y: expected a 1-D or 2-D array, got shape {y.shape}")
        y = pd.DataFrame(y.reshape(len(y), -1), columns=["value"] if y.ndim == 1 else
                         [f"value{j}" for j in range(y.shape[1])])
    elif isinstance(y, pd.Series):
        y = y.to_frame(name=str(y.name) if y.name is not None else "value")
    elif not isinstance(y, pd.DataFrame):
        raise InputError(f"y: expected a pandas Series or DataFrame or a NumPy array, got {type(y).__name__}")
    frame = y.copy()
    frame.columns = [str(c) for c in frame.columns]
    targets = list(frame.columns)
    covariates: list[str] = []
    if X is not None:
        X = pd.DataFrame(X) if not isinstance(X, pd.DataFrame) else X
        if len(X) != len(frame):
            raise InputError(f"X: {len(X)} rows, y has {len(frame)}; covariates need one row per step")
        X = X.set_axis(frame.index)
        covariates = [str(c) for c in X.columns]
        clash = set(covariates) & set(targets)
        if clash:
            raise InputError(f"X: column(s) {sorted(clash)} are also in y; rename them")
        frame[covariates] = X.to_numpy()
    index = frame.index
    if isinstance(index, pd.PeriodIndex):
        frame.insert(0, "date", index.to_timestamp().strftime("%Y-%m-%d %H:%M:%S"))
    elif isinstance(index, pd.DatetimeIndex):
        frame.insert(0, "date", index.strftime("%Y-%m-%d %H:%M:%S"))
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue().encode(), targets, covariates, index


def _long_frame(y, X=None) -> tuple[bytes, list[str], list[str]] | None:
    """A panel as the long CSV ``rnnlab forecast`` reads (``unique_id, ds, y`` and the
    covariate columns) and its column names, or None when ``y`` is one series. A panel is a DataFrame with a
    ``unique_id`` column (Nixtla's layout, ``ds`` and ``y`` beside it), or a list or dict
    of pandas Series (their names or keys are the ids)."""
    import pandas as pd

    if isinstance(y, dict) or (isinstance(y, list) and y and all(isinstance(s, pd.Series) for s in y)):
        items = y.items() if isinstance(y, dict) else ((s.name if s.name is not None else f"series{k}", s)
                                                      for k, s in enumerate(y))
        parts = []
        for key, s in items:
            if not isinstance(s, pd.Series):
                raise InputError(f"y[{key!r}]: expected a pandas Series, got {type(s).__name__}")
            idx = s.index.to_timestamp() if isinstance(s.index, pd.PeriodIndex) else s.index
            parts.append(pd.DataFrame({"unique_id": str(key), "ds": idx, "y": s.to_numpy(float)}))
        frame = pd.concat(parts, ignore_index=True)
    elif isinstance(y, pd.DataFrame) and "unique_id" in y.columns:
        missing = [c for c in ("ds", "y") if c not in y.columns]
        if missing:
            raise InputError(f"y: a long DataFrame needs columns unique_id, ds and y; {missing} missing")
        frame = y.copy()
    else:
        return None
    if X is not None:
        raise InputError("X: a panel carries its covariates as columns of the long DataFrame (name them with "
                         "covariates=[...], past_covariates=[...], static_covariates=[...])")
    if pd.api.types.is_datetime64_any_dtype(frame["ds"]):
        frame["ds"] = frame["ds"].dt.strftime("%Y-%m-%d %H:%M:%S")
    frame.columns = [str(c) for c in frame.columns]
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue().encode(), list(frame.columns), []


def _future_index(index, h: int):
    import pandas as pd

    if isinstance(index, pd.PeriodIndex):
        return pd.period_range(index[-1] + 1, periods=h, freq=index.freq)
    if isinstance(index, pd.DatetimeIndex):
        freq = index.freq or pd.infer_freq(index)
        if freq is None:
            raise InputError("y: its dates have no regular frequency; give a PeriodIndex or a DatetimeIndex with freq")
        return pd.date_range(index[-1], periods=h + 1, freq=freq)[1:]
    if isinstance(index, pd.RangeIndex) or np.issubdtype(np.asarray(index).dtype, np.integer):
        return pd.RangeIndex(int(index[-1]) + 1, int(index[-1]) + 1 + h)
    return pd.RangeIndex(len(index), len(index) + h)


class Forecaster(RunBackedEstimator, BaseEstimator):
    """A recurrent forecaster of the next ``horizon`` steps (``rnnlab forecast``) with
    scikit-learn's parameter handling (``get_params`` / ``set_params`` / ``clone``) over
    every key of ``rnnlab forecast config``. ``fit(y, X=None)``: a pandas Series or
    DataFrame of targets (a DatetimeIndex or PeriodIndex gives the calendar and the
    season) or a NumPy array, and optional covariates ``X`` (one row per step).
    ``predict()``: a Series (one target) or DataFrame indexed by the future dates, with
    ``lower95`` / ``upper95`` columns when ``likelihood="gaussian"``. ``backtest()``:
    the backtest table of the fit (the network beside the baselines)."""

    _app = FORECAST
    _exclude = ("data", "targets", "covariates", "date_column")
    _leading = ("horizon",)

    _data_file = "series.csv"

    def __init__(self, **params):  # replaced by _define_params (an explicit signature)
        raise NotImplementedError  # pragma: no cover

    def fit(self, y, X=None) -> "Forecaster":
        """Fit on one series (``y`` a Series, DataFrame of targets or array, ``X`` its
        covariates) or on a panel (a long DataFrame with ``unique_id, ds, y``, or a list /
        dict of Series): then one global network (``model`` forking or deepar)."""
        panel = _long_frame(y, X)
        if panel is not None:
            # every other column of a long frame is a covariate known in advance, unless
            # past_covariates / static_covariates name it
            named = {"unique_id", "ds", "y", *(self.past_covariates or []), *(self.static_covariates or [])}
            future = [c for c in panel[1] if c not in named] or None
            self._train_on(panel[0], layout="long", targets=["y"], date_column="ds", covariates=future)
            self.index_, self.targets_, self.covariates_, self.panel_ = None, ["y"], [], True
            return self
        self.panel_ = False
        return self._fit_data(*_frame(y, X))

    def _fit_data(self, data: bytes, targets: list[str], covariates: list[str], index) -> "Forecaster":
        date = "date" if data.startswith(b"date,") else None
        self._train_on(data, targets=targets, covariates=covariates or None, date_column=date)
        self.index_, self.targets_, self.covariates_ = index, targets, covariates
        return self

    def predict(self):
        """The ``horizon`` steps after the end of the fitted series, indexed by their dates;
        for a panel, a long DataFrame: ``unique_id, ds, forecast`` (the median) and a
        column ``q<level>`` per level of ``quantiles``."""
        import pandas as pd

        run = self._app_loaded()
        plan = run.plan
        if getattr(self, "panel_", False):
            check_future_known(plan, "y")
            ends = [len(v) for v in plan.z]
            q = panel_forecast(run.model, plan, PanelArrays(plan), ends, run.config.samples, run.config.train.seed)
            return pd.read_csv(io.StringIO(predictions_csv(plan, q, ends, run.config.quantiles)),
                               dtype={"unique_id": str})
        mean, interval = forecast_from_end(run.model, plan)
        index = _future_index(self.index_, plan.horizon) if getattr(self, "index_", None) is not None else \
            pd.Index([str(i) for i in range(1, plan.horizon + 1)])
        names = plan.series.target_names
        out = pd.DataFrame(mean, index=index, columns=names)
        if interval is not None:
            for j, n in enumerate(names):
                out[f"{n}_lower95" if len(names) > 1 else "lower95"] = interval[:, j, 0]
                out[f"{n}_upper95" if len(names) > 1 else "upper95"] = interval[:, j, 1]
        return out[names[0]] if len(names) == 1 and interval is None else out

    def backtest(self, start: str | None = None):
        """The rolling-origin backtest: one row per method (``rnn`` and the baselines), one
        column per error measure, as ``metrics.json`` holds it (the table the CLI prints).
        ``start`` (an index label or its prefix, e.g. ``"1958-01"``): backtest from there
        instead — a copy of this forecaster is trained on the same series up to it."""
        import pandas as pd
        from sklearn.base import clone

        self._check_fitted()
        if start is not None and str(start) != self.backtest_start:
            if self._data_file not in self.run_files_:
                raise InputError("backtest(start): this forecaster was loaded from a CLI run without its series; "
                                 "fit it on the series, or run 'rnnlab forecast train --set backtest_start=...'")
            other = clone(self).set_params(backtest_start=str(start))
            other._fit_data(self.run_files_[self._data_file], self.targets_, self.covariates_, self.index_)
            return other.backtest()
        m = self.metrics_
        rows: dict[str, dict[str, float]] = {}
        for key, value in m.items():
            if key.startswith("baseline_"):
                name, _, measure = key[len("baseline_"):].rpartition("_")
            else:
                name, measure = "rnn", key
            if name and measure and isinstance(value, (int, float)):
                rows.setdefault(name, {})[measure] = value
        return pd.DataFrame(rows).T

    def _restore(self, run: Path, cfg) -> None:
        from ..tasks.panel_forecasting import is_panel

        self.index_, self.panel_ = None, is_panel(cfg)
        self.targets_ = list(cfg.targets or [])
        self.covariates_ = list(cfg.covariates or [])


Forecaster._define_params()
