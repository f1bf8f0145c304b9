"""``rnnlab forecast``: predict a series' next values from its last ``input_len`` values.

Protocol (the same for the network and the baselines; Darts' ``historical_forecasts``
with ``retrain=False``): the series is split in time at ``backtest_start``. Training
windows lie wholly before it (the last ``val_fraction`` of them, in time order, is the
validation set for early stopping); scaling statistics come from that part only. Then a
forecast of ``horizon`` steps is made from every origin from ``backtest_start`` to the
end, from the true history up to the origin, without refitting. ``backtest_points=last``
scores the last point of each forecast (the h-step-ahead value, as Darts' default);
``all`` scores every point.

Models: ``forking`` (the default; MQ-RNN's forking sequences, Wen et al. 2017: the
network emits a full horizon forecast at *every* step of its window and is trained on
all of them, so each window gives input_len training forecasts instead of one; the
forecast is the one from the window's last step), ``direct`` (sequence→vector: one
output per horizon step, from the last step only) or ``seq2seq`` (an encoder and a
decoder that steps over the horizon reading the future calendar). On AirPassengers
forking takes MAPE from 3.25% (direct) to 2.63% (benchmarks/forecast.py).

Inputs per step (divided by the training standard deviation): the value relative to
the window's last value — for forking, to its first, so that every step's input is
causal — and the value relative to the training mean (``level``); any covariate
columns (standardised); sin/cos of the position in the season (``calendar``); a
standardised time index (``trend``). ``likelihood=gaussian`` adds
a standard deviation per step and 95% prediction intervals. ``ensemble=k`` averages k
independently initialised networks.

Targets: the network predicts each horizon value relative to an anchor, so that it
learns a correction rather than the level: ``anchor=last`` (the window's last value: the
naive forecast) or ``anchor=seasonal`` (the value one season earlier: the seasonal-naive
forecast, which suits series whose seasonal pattern repeats, like AirPassengers).
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..data.timeseries import EMBEDDED, Series, calendar_features, load_series
from ..cells import cell_names
from ..errors import InputError
from ..models.forecasting import ForecastNet
from ..report import save_figure
from ..training import TensorBatches, TrainConfig, Trainer
from ..training.config import check_choices
from ..training.io import atomic_write
from .base import App, RunContext
from .forecast_baselines import (
    BASELINES,
    ArimaBaseline,
    ets_forecast,
    forecast_metrics,
    naive,
    seasonal_naive,
)

__all__ = ["ForecastConfig", "ForecastApp", "APP", "PRESETS"]

#: per embedded dataset: the documented protocol (used where the config says null)
PRESETS: dict[str, dict] = {
    "sunspots": dict(input_len=30, horizon=3, backtest_start="1959", transform="none"),  # last 50 years
    "airline": dict(input_len=24, horizon=6, backtest_start="1959-01", transform="log"),  # Darts' protocol
    "nile": dict(input_len=20, horizon=3, backtest_start="1951", transform="none"),
    "co2": dict(input_len=36, horizon=12, backtest_start="1995-01", transform="none"),
}


@dataclass
class ForecastConfig:
    """Every key of ``config.json``; ``null`` means "the dataset's preset" (see PRESETS).

    data: embedded name (sunspots, nile, co2, airline) or a CSV path. targets,
    covariates, date_column, fill (none | interpolate | drop): how to read a CSV.
    season: seasonal period in steps. input_len: steps the network reads. horizon:
    steps it predicts. backtest_start: first origin (an index label or its prefix, e.g.
    "1959-01"; default: the last 20% of the series). backtest_points: last | all.
    transform: none | log. model: forking | direct | seq2seq. cell: lstm | gru | rnn.
    likelihood: none | gaussian. calendar: season sin/cos inputs. trend: a time-index
    input (standardised on the training steps, known in advance like the calendar) so
    the network can tell where in a trending series it is. level: the input of each value
    relative to the training mean (off: the network sees only values relative to the
    window's last one, so a level never seen in training is not an unfamiliar input). ensemble: networks
    averaged. anchor: last | seasonal (what the network's outputs are relative to;
    seasonal needs input_len >= season). baselines: any of naive, seasonal_naive, arima, ets.
    """

    data: str = "sunspots"
    targets: list[str] | None = None
    covariates: list[str] | None = None
    date_column: str | None = None
    fill: str = "none"
    season: int | None = None
    input_len: int | None = None
    horizon: int | None = None
    backtest_start: str | None = None
    backtest_points: str = "last"
    transform: str | None = None
    model: str = "forking"
    cell: str = "gru"
    hidden_size: int = 64
    num_layers: int = 1
    dropout: float = 0.0
    likelihood: str = "none"
    calendar: bool = True
    trend: bool = False
    level: bool = True
    ensemble: int = 5
    anchor: str | None = None
    baselines: list[str] = field(default_factory=lambda: list(BASELINES))
    batch_size: int = 32
    val_fraction: float = 0.15
    quick_baselines: bool = False
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=300, lr=3e-3, patience=40, clip_norm=1.0,
                                                                   weight_decay=1e-5))

    def __post_init__(self) -> None:
        check_choices(self, model=("direct", "seq2seq", "forking"), likelihood=("none", "gaussian"),
                      backtest_points=("last", "all"), fill=("none", "interpolate", "drop"),
                      cell=cell_names(), transform=(None, "none", "log"),
                      anchor=(None, "last", "seasonal"))
        for b in self.baselines:
            if b not in BASELINES:
                raise ValueError(f"baselines: unknown baseline {b!r}; expected any of {', '.join(BASELINES)}")
        if self.ensemble < 1:
            raise ValueError(f"ensemble: must be >= 1, got {self.ensemble}")


# ---------------------------------------------------------------------------- the data plan
@dataclass
class Plan:
    """The resolved protocol for one series: everything derived from data + config."""

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
        """Inputs known in advance for steps 0..n-1 (n may run past the series' end):
        calendar sin/cos and the standardised time index, as configured."""
        s = self.series
        dates = s.dates
        if dates is not None and n > len(dates):
            dates = np.concatenate([dates, dates[-1] + np.arange(1, n - len(dates) + 1)])
        cal = calendar_features(dates, s.season, n)[0] if self.calendar else np.zeros((n, 0))
        if not self.trend:
            return cal
        # standardised over the training steps 0..start-1 (mean (start-1)/2, std start/sqrt(12))
        t = (np.arange(n) - (self.start - 1) / 2) / (self.start / np.sqrt(12))
        return np.concatenate([cal, t[:, None]], 1)

    @property
    def n_future(self) -> int:
        return self.future.shape[1] + 1  # +1: the step's position in the horizon


def _find_start(series: Series, label: str | None, L: int, h: int, path: str) -> int:
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


def make_plan(cfg: ForecastConfig, series: Series | None = None) -> Plan:
    s = series or load_series(cfg.data, cfg.targets, cfg.covariates, cfg.date_column, cfg.fill, cfg.season)
    preset = PRESETS.get(cfg.data, {}) if cfg.data in EMBEDDED else {}
    season = cfg.season or s.season
    s.season = season
    N = len(s)
    default_L = max(2 * season, 12) if season > 1 else 12
    L = cfg.input_len or preset.get("input_len") or min(default_L, max(N // 4, 2))
    h = cfg.horizon or preset.get("horizon") or 1
    if L < 1 or h < 1:
        raise InputError(f"input_len and horizon must be >= 1, got {L} and {h}")
    if N < L + h + 4:
        raise InputError(f"{cfg.data}: the series has {N} steps, shorter than input_len + horizon + 4 = {L + h + 4}; "
                         "use a longer series or smaller --set input_len=... / horizon=...")
    transform = cfg.transform or preset.get("transform") or "none"
    start = _find_start(s, cfg.backtest_start or preset.get("backtest_start"), L, h, cfg.data)
    if transform == "log":
        if (s.values <= 0).any():
            raise InputError(f"{cfg.data}: transform=log needs positive values; use --set transform=none")
        z = np.log(s.values)
    else:
        z = s.values.astype(float)
    train_z = z[:start]
    center, scale = train_z.mean(0), train_z.std(0) + 1e-8
    cov = s.covariates
    cov_center, cov_scale = (cov[:start].mean(0), cov[:start].std(0) + 1e-8) if cov.shape[1] else (np.zeros(0), np.ones(0))
    anchor = cfg.anchor or preset.get("anchor") or "last"
    if anchor == "seasonal" and not 1 < season <= L:
        raise InputError(f"{cfg.data}: anchor={anchor} needs a season > 1 (got {season}) and input_len >= season "
                         f"(got {L}); use --set anchor=last, or set season / input_len")
    plan = Plan(s, z, np.zeros((N, 0)), np.zeros((N, 0)), L, h, start, transform, center, scale, cov_center,
                cov_scale, anchor, level=cfg.level, calendar=cfg.calendar, trend=cfg.trend,
                forking=cfg.model == "forking")
    plan.future = plan.known_inputs(N)
    plan.past = np.concatenate([(cov - cov_center) / cov_scale, plan.future], 1)
    return plan


def windows(plan: Plan, origins: list[int], future_cal: np.ndarray | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
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


def build_model(cfg: ForecastConfig, plan: Plan) -> ForecastNet:
    return ForecastNet(plan.n_features, plan.n_future, plan.horizon, plan.z.shape[1], cfg.model, cfg.cell,
                       cfg.hidden_size, cfg.num_layers, cfg.dropout, cfg.likelihood, cfg.ensemble)


# ---------------------------------------------------------------------------- evaluation
def _untransform(plan: Plan, z: np.ndarray) -> np.ndarray:
    return np.exp(z) if plan.transform == "log" else z


@torch.no_grad()
def network_forecasts(model: ForecastNet, plan: Plan, origins: list[int]) -> tuple[np.ndarray, np.ndarray | None]:
    """Forecasts in original units (n, h, T) and 95% intervals (n, h, T, 2) or None."""
    model.eval()
    x, fut, _, anchor = windows(plan, origins)
    mean, sd = model.predict(x, fut)
    z = anchor.numpy() + mean.numpy() * plan.scale
    yhat = _untransform(plan, z)
    if sd is None:
        return yhat, None
    half = 1.96 * sd.numpy() * plan.scale
    return yhat, np.stack([_untransform(plan, z - half), _untransform(plan, z + half)], -1)


def backtest(model: ForecastNet, plan: Plan, cfg: ForecastConfig, log=lambda m: None) -> tuple[dict, dict]:
    """Metrics of the network and every baseline on the rolling origins, and the
    predictions kept for the plot: ``(metrics, {name: (target indices, values)})``."""
    s, h = plan.series, plan.horizon
    N = len(s)
    origins = list(range(plan.start, N - h + 1))
    keep = [h - 1] if cfg.backtest_points == "last" else list(range(h))
    idx = np.array([t0 + k for t0 in origins for k in keep])
    truth = s.values[idx]
    train_y = s.values[: plan.start]
    preds: dict[str, np.ndarray] = {}
    yhat, _ = network_forecasts(model, plan, origins)
    preds["model"] = yhat[:, keep].reshape(-1, yhat.shape[-1])
    zs = plan.z
    for b in cfg.baselines:
        log(f"baseline {b} ...")
        out = np.zeros((len(origins), h, zs.shape[1]))
        for j in range(zs.shape[1]):
            if b == "arima":
                arima = ArimaBaseline(zs[: plan.start, j], s.season, quick=cfg.quick_baselines)
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
        preds[b] = _untransform(plan, out)[:, keep].reshape(-1, zs.shape[1])
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


def _future_labels(s: Series, h: int) -> list[str]:
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
    y = _untransform(plan, z)[0]
    if sd is None:
        return y, None
    half = 1.96 * sd.numpy()[0] * plan.scale
    return y, np.stack([_untransform(plan, z[0] - half), _untransform(plan, z[0] + half)], -1)


# ---------------------------------------------------------------------------- the app
class ForecastApp(App):
    name = "forecast"
    help = "Forecast a time series (sequence→vector or sequence→sequence) against naive, ARIMA and ETS baselines."
    summary = "GRU forecaster vs naive / seasonal-naive / ARIMA / ETS on yearly sunspots (statsmodels)"
    Config = ForecastConfig

    def quick_config(self) -> ForecastConfig:
        return ForecastConfig(ensemble=2, hidden_size=32, quick_baselines=True, baselines=["naive", "seasonal_naive", "arima", "ets"],
                              train=TrainConfig(epochs=60, lr=5e-3, patience=15, clip_norm=1.0, weight_decay=1e-5))

    def _resolve_data(self, cfg: ForecastConfig) -> ForecastConfig:
        if cfg.data not in EMBEDDED and Path(cfg.data).exists():
            return dataclasses.replace(cfg, data=str(Path(cfg.data).resolve()))
        return cfg

    def make_config(self, *args, **kwargs) -> ForecastConfig:
        return self._resolve_data(super().make_config(*args, **kwargs))

    def fit(self, cfg: ForecastConfig, ctx: RunContext) -> dict[str, float]:
        plan = make_plan(cfg)
        L, h = plan.input_len, plan.horizon
        origins = list(range(L, plan.start - h + 1))
        n_val = max(1, int(round(len(origins) * cfg.val_fraction)))
        tr, va = origins[:-n_val], origins[-n_val:]
        ctx.log(f"forecast: {plan.series.name}, {len(plan.series)} steps, input_len={L}, horizon={h}, "
                f"{len(tr)} training / {len(va)} validation windows, backtest from {plan.series.index[plan.start]}")
        torch.manual_seed(cfg.train.seed)
        model = build_model(cfg, plan)
        xtr, ftr, ytr, _ = windows(plan, tr)
        xva, fva, yva, _ = windows(plan, va)

        def loss_fn(m, batch):  # m may be a DDP wrapper of model: call it, not its methods
            x, fut, y = batch
            return model.loss_from_output(m(x, fut), y)

        def evaluate_fn(m):
            return {"val_loss": float(m.loss(xva, fva, yva))}

        trainer = Trainer(model, loss_fn, cfg.train, run_dir=ctx.run_dir, evaluate_fn=evaluate_fn, verbose=ctx.verbose)
        trainer.fit(TensorBatches(xtr, ftr, ytr, batch_size=cfg.batch_size, seed=cfg.train.seed), resume=ctx.resume)
        return self._evaluate(cfg, plan, model, ctx.run_dir, ctx.log)

    def _evaluate(self, cfg: ForecastConfig, plan: Plan, model: ForecastNet, run_dir: Path, log) -> dict[str, float]:
        metrics, preds = backtest(model, plan, cfg, log)
        future = forecast_from_end(model, plan)
        title = (f"{plan.series.name}: {plan.horizon}-step backtest from {plan.series.index[plan.start]} — "
                 f"MAE {metrics['mae']:.3g} (ARIMA {metrics.get('baseline_arima_mae', float('nan')):.3g}, "
                 f"ETS {metrics.get('baseline_ets_mae', float('nan')):.3g})")
        plot_forecast(run_dir / "forecast.png", plan, preds, future, title)
        return metrics

    def load(self, run_dir: Path, data: str | None = None) -> tuple[ForecastConfig, Plan, ForecastNet]:
        cfg = self.load_config(run_dir)
        trained_plan = make_plan(cfg)
        plan = trained_plan
        if data is not None:
            new_cfg = self._resolve_data(dataclasses.replace(cfg, data=data, backtest_start=None))
            plan = make_plan(new_cfg)
            if plan.z.shape[1] != trained_plan.z.shape[1] or plan.past.shape[1] != trained_plan.past.shape[1]:
                raise InputError(f"--data {data}: has {plan.z.shape[1]} target(s) and {plan.past.shape[1]} extra "
                                 f"input(s); the model was trained with {trained_plan.z.shape[1]} and "
                                 f"{trained_plan.past.shape[1]}")
            # keep the training scale: the network learned it
            plan.center, plan.scale = trained_plan.center, trained_plan.scale
        return cfg, plan, self.trained(run_dir, lambda: build_model(cfg, trained_plan))

    def evaluate(self, run_dir: Path) -> dict[str, float]:
        cfg, plan, model = self.load(run_dir)
        return self._evaluate(cfg, plan, model, run_dir, lambda m: print(m, file=sys.stderr))

    def add_commands(self, cli, guarded) -> None:
        import typer

        @cli.command("predict")
        def predict(run_dir: Path = typer.Argument(..., help="A run directory made by 'rnnlab forecast train'."),
                    data: str = typer.Option(None, "--data", help="Forecast after the end of this series instead "
                                             "(same columns as in training)."),
                    out: Path = typer.Option(None, "--out", help="Also write the forecast to this CSV file.")):
            """Forecast the next `horizon` steps after the end of the series; prints CSV."""

            def run():
                cfg, plan, model = self.load(run_dir, data)
                mean, interval = forecast_from_end(model, plan)
                labels = _future_labels(plan.series, plan.horizon)
                lines = ["step,target,forecast" + (",lower95,upper95" if interval is not None else "")]
                for k, lab in enumerate(labels):
                    for j, name in enumerate(plan.series.target_names):
                        row = f"{lab},{name},{mean[k, j]:.6g}"
                        if interval is not None:
                            row += f",{interval[k, j, 0]:.6g},{interval[k, j, 1]:.6g}"
                        lines.append(row)
                text = "\n".join(lines) + "\n"
                if out is not None:
                    atomic_write(out, text)
                return text

            typer.echo(guarded(run), nl=False)


APP = ForecastApp()
