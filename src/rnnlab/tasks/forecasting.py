"""The forecasting task: a series' plan (scaling, inputs known in advance, the backtest
origin), the network's input windows, the rolling-origin backtest of the network and the
baselines, the forecast after the end, and the forecast plot. ``rnnlab forecast`` and
:class:`rnnlab.Forecaster` are glue around these."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..data.timeseries import Series, calendar_features
from ..errors import InputError
from ..models.forecasting import ForecastNet
from ..report import save_figure
from .forecast_baselines import ArimaBaseline, ets_forecast, forecast_metrics, naive, seasonal_naive

__all__ = ["Plan", "known_inputs", "find_start", "windows", "untransform", "network_forecasts", "backtest",
           "forecast_from_end", "plot_forecast", "future_labels"]


@dataclass(frozen=True)
class Plan:
    """The resolved protocol for one series: everything derived from data + config.
    Frozen: a plan made for one series is never edited into another's (a forecast on new
    data makes a new plan with the training scale, :func:`make_plan`'s ``scaling``)."""

    series: Series
    z: np.ndarray  # transformed targets (N, T)
    past: np.ndarray  # per-step extra inputs known in the past: covariates + calendar (N, C)
    future: np.ndarray  # per-step inputs known in advance: calendar (N, K), K >= 0
    input_len: int
    horizon: int
    start: int  # first backtest origin
    transform: str
    center: np.ndarray
    scale: np.ndarray
    cov_center: np.ndarray
    cov_scale: np.ndarray
    anchor: str = "last"
    level: bool = True
    calendar: bool = True
    trend: bool = False
    forking: bool = False  # per-step forecasts and targets over the whole window (model=forking)

    @property
    def n_features(self) -> int:
        return (2 if self.level else 1) * self.z.shape[1] + self.past.shape[1]

    def known_inputs(self, n: int) -> np.ndarray:
        """Inputs known in advance for steps 0..n-1 (n may run past the series' end)."""
        return known_inputs(self.series, n, self.start, self.calendar, self.trend)

    @property
    def n_future(self) -> int:
        return self.future.shape[1] + 1  # +1: the step's position in the horizon


def known_inputs(series: Series, n: int, start: int, calendar: bool, trend: bool) -> np.ndarray:
    """Inputs known in advance for steps 0..n-1 of ``series`` (n may run past its end):
    calendar sin/cos and the time index standardised over the training steps
    ``0..start-1``, as configured."""
    dates = series.dates
    if dates is not None and n > len(dates):
        dates = np.concatenate([dates, dates[-1] + np.arange(1, n - len(dates) + 1)])
    cal = calendar_features(dates, series.season, n)[0] if calendar else np.zeros((n, 0))
    if not trend:
        return cal
    # standardised over the training steps 0..start-1 (mean (start-1)/2, std start/sqrt(12))
    t = (np.arange(n) - (start - 1) / 2) / (start / np.sqrt(12))
    return np.concatenate([cal, t[:, None]], 1)


def find_start(series: Series, label: str | None, L: int, h: int, path: str) -> int:
    """The first backtest origin: the step whose label starts with ``label`` (default: 80%
    of the series), checked to leave enough training windows and a horizon after it."""
    N = len(series)
    if label is None:
        start = max(L + h, int(N * 0.8))
    else:
        hits = [i for i, x in enumerate(series.index) if x.startswith(str(label))]
        if not hits:
            raise InputError(f"{path}: backtest_start {label!r} matches no step (the series runs from "
                             f"{series.index[0]} to {series.index[-1]})")
        start = hits[0]
    if start - L - h + 1 < 4:
        raise InputError(f"{path}: only {max(start - L - h + 1, 0)} training windows before backtest_start "
                         f"{series.index[min(start, N - 1)]} with input_len={L} and horizon={h}; the series "
                         f"({N} steps) is too short: use a smaller input_len or horizon, or a later backtest_start")
    if start > N - h:
        raise InputError(f"{path}: backtest_start leaves fewer than horizon={h} steps to forecast")
    return start


def windows(plan: Plan, origins: list[int],
            future_cal: np.ndarray | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Network inputs for forecasts from ``origins``: x (n, L, F), future (n, h, K+1),
    targets (n, h, T) relative to the anchors (NaN past the end), anchors (n, h, T) on
    the transformed scale (a forecast is ``anchor + output * scale``).

    With ``plan.forking`` the targets are (n, L, h, T): at window step j (time
    u = t0-L+j) the next h values relative to the anchor known at u (z[u], or the
    value one season before the target) — all at or before t0+h-1, so a training window
    never sees past its own last target; the anchors returned are the last step's."""
    L, h, z = plan.input_len, plan.horizon, plan.z
    cal = plan.future if future_cal is None else future_cal
    m = plan.series.season
    xs, fs, ys, anchors = [], [], [], []
    steps = (np.arange(h) / max(h - 1, 1))[:, None]
    for t0 in origins:
        inp, last = z[t0 - L:t0], z[t0 - 1]
        level = [(inp - plan.center) / plan.scale] if plan.level else []
        rel = inp - (inp[0] if plan.forking else last)  # forking: causal at every step
        xs.append(np.concatenate([rel / plan.scale, *level, plan.past[t0 - L:t0]], 1))
        fut = cal[t0:t0 + h]
        fut = np.concatenate([fut, np.zeros((h - len(fut), cal.shape[1]))])  # origins near the end: pad
        fs.append(np.concatenate([fut, steps], 1))
        if plan.anchor == "seasonal":  # the same step one (or more) seasons before, known at t0
            base = np.stack([z[t0 + k - m * (k // m + 1)] for k in range(h)])
        else:
            base = np.repeat(last[None], h, 0)
        tgt = np.full((h, z.shape[1]), np.nan)
        avail = z[t0:t0 + h]
        tgt[: len(avail)] = (avail - base[: len(avail)]) / plan.scale
        if plan.forking:
            u = np.arange(t0 - L, t0)[:, None]  # (L, 1): the time of each window step
            k = np.arange(1, h + 1)[None]  # (1, h): steps ahead
            v = u + k  # target times, all <= t0 + h - 1
            src = u if plan.anchor == "last" else v - m * ((k + m - 1) // m)  # anchor times, known at u
            ok = (v < len(z)) & (src >= 0)
            tgt = np.where(ok[..., None], z[np.minimum(v, len(z) - 1)] - z[np.maximum(src, 0)], np.nan) / plan.scale
        ys.append(tgt)
        anchors.append(base)
    f = lambda a: torch.tensor(np.stack(a), dtype=torch.float32)  # noqa: E731
    return f(xs), f(fs), f(ys), f(anchors)


def untransform(plan: Plan, z: np.ndarray) -> np.ndarray:
    """Transformed values back in the series' units."""
    return np.exp(z) if plan.transform == "log" else z


@torch.no_grad()
def network_forecasts(model: ForecastNet, plan: Plan, origins: list[int]) -> tuple[np.ndarray, np.ndarray | None]:
    """Forecasts in original units (n, h, T) and 95% intervals (n, h, T, 2) or None."""
    model.eval()
    x, fut, _, anchor = windows(plan, origins)
    mean, sd = model.predict(x, fut)
    z = anchor.numpy() + mean.numpy() * plan.scale
    yhat = untransform(plan, z)
    if sd is None:
        return yhat, None
    half = 1.96 * sd.numpy() * plan.scale
    return yhat, np.stack([untransform(plan, z - half), untransform(plan, z + half)], -1)


def backtest(model: ForecastNet, plan: Plan, baselines: list[str], points: str = "last", quick_baselines: bool = False,
             log=lambda m: None) -> tuple[dict, dict]:
    """Metrics of the network and every baseline on the rolling origins (``points``:
    ``last`` scores the h-step-ahead value of each forecast, ``all`` every value), and the
    predictions kept for the plot: ``(metrics, {name: (target indices, values)})``."""
    s, h = plan.series, plan.horizon
    N = len(s)
    origins = list(range(plan.start, N - h + 1))
    keep = [h - 1] if points == "last" else list(range(h))
    idx = np.array([t0 + k for t0 in origins for k in keep])
    truth = s.values[idx]
    train_y = s.values[: plan.start]
    preds: dict[str, np.ndarray] = {}
    yhat, _ = network_forecasts(model, plan, origins)
    preds["model"] = yhat[:, keep].reshape(-1, yhat.shape[-1])
    zs = plan.z
    for b in baselines:
        log(f"baseline {b} ...")
        out = np.zeros((len(origins), h, zs.shape[1]))
        for j in range(zs.shape[1]):
            if b == "arima":
                arima = ArimaBaseline(zs[: plan.start, j], s.season, quick=quick_baselines)
            for i, t0 in enumerate(origins):
                hist = zs[:t0, j]
                if b == "naive":
                    out[i, :, j] = naive(hist, h)
                elif b == "seasonal_naive":
                    out[i, :, j] = seasonal_naive(hist, h, s.season)
                elif b == "arima":
                    out[i, :, j] = arima.forecast(hist, h)
                else:
                    out[i, :, j] = ets_forecast(hist, h, s.season)
        preds[b] = untransform(plan, out)[:, keep].reshape(-1, zs.shape[1])
    metrics: dict[str, float] = {}
    for name, p in preds.items():
        m = forecast_metrics(truth, p, train_y, s.season)
        prefix = "" if name == "model" else f"baseline_{name}_"
        if truth.shape[1] > 1:  # several targets: each one's metrics too, and MASE as their mean (scale-free)
            per = [forecast_metrics(truth[:, j], p[:, j], train_y[:, j], s.season) for j in range(truth.shape[1])]
            m["mase"] = float(np.mean([q["mase"] for q in per]))
            for target, q in zip(s.target_names, per):
                metrics.update({f"{prefix}{k}_{target}": v for k, v in q.items()})
        metrics.update({prefix + k: v for k, v in m.items()})
    metrics["backtest_origins"] = len(origins)
    metrics["horizon"] = h
    return metrics, {k: (idx, v) for k, v in preds.items()}


def plot_forecast(path: Path, plan: Plan, preds: dict, future: tuple | None, title: str) -> None:
    from ..report import pyplot

    plt = pyplot()

    s = plan.series
    N = len(s)
    x = np.arange(N)
    fig, ax = plt.subplots(figsize=(11, 4.5))
    ax.plot(x, s.values[:, 0], color="black", lw=1.2, label=f"{s.target_names[0]} (observed)")
    ax.axvline(plan.start, color="grey", ls=":", lw=1)
    styles = {"model": dict(color="tab:red", lw=1.8), "arima": dict(color="tab:blue", lw=1, ls="--"),
              "ets": dict(color="tab:green", lw=1, ls="--")}
    for name, (idx, values) in preds.items():
        if name in styles:
            order = np.argsort(idx, kind="stable")
            ax.plot(idx[order], values[order, 0], label=f"{name} (backtest)", **styles[name])
    if future is not None:
        fx = np.arange(N, N + plan.horizon)
        mean, interval = future
        ax.plot(fx, mean[:, 0], color="tab:red", lw=2, label="forecast")
        if interval is not None:
            ax.fill_between(fx, interval[:, 0, 0], interval[:, 0, 1], color="tab:red", alpha=0.2, label="95% interval")
    ticks = np.linspace(0, N - 1, min(8, N)).astype(int)
    ax.set_xticks(ticks, [s.index[i] for i in ticks])
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def future_labels(s: Series, h: int) -> list[str]:
    """Labels of the ``h`` steps after the series' end (dates, years, or +k)."""
    if s.dates is not None:
        last = s.dates[-1]
        return [str(last + k) for k in range(1, h + 1)]
    try:
        last = int(s.index[-1])
        return [str(last + k) for k in range(1, h + 1)]
    except ValueError:
        return [f"+{k}" for k in range(1, h + 1)]


def forecast_from_end(model: ForecastNet, plan: Plan) -> tuple[np.ndarray, np.ndarray | None]:
    """The next ``horizon`` values after the series' end: (h, T) and (h, T, 2) or None."""
    N, h = len(plan.series), plan.horizon
    model.eval()
    x, fut, _, anchor = windows(plan, [N], future_cal=plan.known_inputs(N + h))
    with torch.no_grad():
        mean, sd = model.predict(x, fut)
    z = anchor.numpy() + mean.numpy() * plan.scale
    y = untransform(plan, z)[0]
    if sd is None:
        return y, None
    half = 1.96 * sd.numpy()[0] * plan.scale
    return y, np.stack([untransform(plan, z[0] - half), untransform(plan, z[0] + half)], -1)
