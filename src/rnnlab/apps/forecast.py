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

from ..cells import cell_names
from ..data.timeseries import EMBEDDED, Series, load_series
from ..errors import InputError
from ..files import atomic_write
from ..models.forecasting import ForecastNet
from ..tasks import panel_forecasting as panel
from ..tasks.forecast_baselines import BASELINES
from ..tasks.forecasting import Plan, find_start, forecast_from_end, future_labels, known_inputs, plot_forecast, windows
from ..tasks.forecasting import backtest as tasks_backtest
from ..tasks.panel_baselines import PANEL_BASELINES
from ..training import TensorBatches, TrainConfig, Trainer
from ..training.config import check_choices
from .base import App, LoadedRun, RunContext

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

    Panels (many series, one global network; :mod:`rnnlab.tasks.panel_forecasting`):
    layout: auto | series | long | wide | folder | tsf (auto: a panel when the data is
    m1_yearly, a folder, a .tsf file or a CSV with an id column). id_column (long
    layout; default unique_id), targets[0] the value column (default y), date_column
    (default ds); covariates: known-in-advance columns (future), past_covariates:
    observed with the target, static_covariates: one value per series. model: forking
    (MQ-RNN, quantiles) | deepar (likelihood: gaussian | student_t | negbin; ``samples``
    paths). quantiles: the levels predicted and written (the 13-level grid of the
    metrics is always trained too). id_embedding: width of a learned embedding of each
    series' id (0: none, so new series can be forecast). window_stride: steps between
    training windows. validation: last (the horizon before the test part is the
    early-stopping set) | none. calibrate: shift each quantile so that its share of the
    validation values lies below it (conformal; needs validation=last). panel_baselines:
    any of seasonal_naive, auto_ets, auto_theta, auto_arima (statsforecast).
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
    layout: str = "auto"
    id_column: str | None = None
    past_covariates: list[str] | None = None
    static_covariates: list[str] | None = None
    quantiles: list[float] = field(default_factory=lambda: [0.1, 0.5, 0.9])
    id_embedding: int = 0
    window_stride: int = 1
    validation: str = "last"
    samples: int = 200
    calibrate: bool = True
    panel_baselines: list[str] = field(default_factory=lambda: ["seasonal_naive", "auto_ets", "auto_theta"])
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=300, lr=3e-3, patience=40, clip_norm=1.0,
                                                                   weight_decay=1e-5))

    def __post_init__(self) -> None:
        check_choices(self, model=("direct", "seq2seq", "forking", "deepar"),
                      likelihood=("none", "gaussian", "student_t", "negbin"), validation=("last", "none"),
                      layout=("auto", "series", "long", "wide", "folder", "tsf"),
                      backtest_points=("last", "all"), fill=("none", "interpolate", "drop"),
                      cell=cell_names(), transform=(None, "none", "log"),
                      anchor=(None, "last", "seasonal"))
        for b in self.baselines:
            if b not in BASELINES:
                raise ValueError(f"baselines: unknown baseline {b!r}; expected any of {', '.join(BASELINES)}")
        for name in self.panel_baselines:
            if name not in PANEL_BASELINES:
                raise ValueError(f"panel_baselines: unknown baseline {name!r}; expected any of "
                                 f"{', '.join(PANEL_BASELINES)}")
        if not all(0 < q < 1 for q in self.quantiles):
            raise ValueError(f"quantiles: levels must lie strictly between 0 and 1, got {self.quantiles}")
        if self.window_stride < 1 or self.samples < 1 or self.id_embedding < 0:
            raise ValueError("window_stride and samples must be >= 1 and id_embedding >= 0")
        if self.ensemble < 1:
            raise ValueError(f"ensemble: must be >= 1, got {self.ensemble}")


# ---------------------------------------------------------------------------- the plan
def make_plan(cfg: ForecastConfig, series: Series | None = None, scaling: Plan | None = None) -> Plan:
    """The plan of ``cfg``'s series (or ``series``); with ``scaling`` (the plan a model was
    trained on) the targets are scaled as they were in training."""
    s = series or load_series(cfg.data, cfg.targets, cfg.covariates, cfg.date_column, cfg.fill, cfg.season)
    preset = PRESETS.get(cfg.data, {}) if cfg.data in EMBEDDED else {}
    season = cfg.season or s.season
    if season != s.season:
        s = dataclasses.replace(s, season=season)  # a copy: the caller's series stays as it was
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
    start = find_start(s, cfg.backtest_start or preset.get("backtest_start"), L, h, cfg.data)
    if transform == "log":
        if (s.values <= 0).any():
            raise InputError(f"{cfg.data}: transform=log needs positive values; use --set transform=none")
        z = np.log(s.values)
    else:
        z = s.values.astype(float)
    train_z = z[:start]
    center, scale = train_z.mean(0), train_z.std(0) + 1e-8
    if scaling is not None:  # the network learned the training scale
        center, scale = scaling.center, scaling.scale
    cov = s.covariates
    no_cov = (np.zeros(0), np.ones(0))
    cov_center, cov_scale = (cov[:start].mean(0), cov[:start].std(0) + 1e-8) if cov.shape[1] else no_cov
    anchor = cfg.anchor or preset.get("anchor") or "last"
    if anchor == "seasonal" and not 1 < season <= L:
        raise InputError(f"{cfg.data}: anchor={anchor} needs a season > 1 (got {season}) and input_len >= season "
                         f"(got {L}); use --set anchor=last, or set season / input_len")
    future = known_inputs(s, N, start, cfg.calendar, cfg.trend)
    past = np.concatenate([(cov - cov_center) / cov_scale, future], 1)
    return Plan(s, z, past, future, L, h, start, transform, center, scale, cov_center, cov_scale, anchor,
                level=cfg.level, calendar=cfg.calendar, trend=cfg.trend, forking=cfg.model == "forking")


def build_model(cfg: ForecastConfig, plan: Plan) -> ForecastNet:
    return ForecastNet(plan.n_features, plan.n_future, plan.horizon, plan.z.shape[1], cfg.model, cfg.cell,
                       cfg.hidden_size, cfg.num_layers, cfg.dropout, cfg.likelihood, cfg.ensemble)

def backtest(model: ForecastNet, plan: Plan, cfg: ForecastConfig, log=lambda m: None) -> tuple[dict, dict]:
    """:func:`rnnlab.tasks.forecasting.backtest` with the config's baselines and points."""
    return tasks_backtest(model, plan, cfg.baselines, cfg.backtest_points, cfg.quick_baselines, log)


# ---------------------------------------------------------------------------- the app
class ForecastApp(App):
    name = "forecast"
    help = "Forecast a time series (sequence→vector or sequence→sequence) against naive, ARIMA and ETS baselines."
    summary = "GRU forecaster vs naive / seasonal-naive / ARIMA / ETS on yearly sunspots (statsmodels)"
    Config = ForecastConfig

    quick = {
        "hidden_size": 32, "ensemble": 2, "quick_baselines": True, "train.epochs": 60, "train.lr": 0.005,
        "train.patience": 15
    }

    def _resolve_data(self, cfg: ForecastConfig) -> ForecastConfig:
        if cfg.data not in EMBEDDED and Path(cfg.data).exists():
            return dataclasses.replace(cfg, data=str(Path(cfg.data).resolve()))
        return cfg

    def make_config(self, *args, **kwargs) -> ForecastConfig:
        return self._resolve_data(super().make_config(*args, **kwargs))

    def fit(self, cfg: ForecastConfig, ctx: RunContext) -> dict[str, float]:
        if panel.is_panel(cfg):
            return panel.train_panel(cfg, ctx.run_dir, ctx.resume, ctx.verbose, ctx.log)
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

    def load(self, run_dir: Path, data: str | None = None) -> LoadedRun:
        """The run; with ``data``, the plan of that series scaled as in training (a
        panel's plan is of the forecast after each series' end)."""
        cfg = self.load_config(run_dir)
        if panel.is_panel(cfg):
            trained = panel.panel_plan(cfg)
            return LoadedRun(cfg, self.trained(run_dir, lambda: panel.build_panel_model(cfg, trained)),
                             plan=panel.end_plan(cfg, trained, data), meta={"trained_plan": trained},
                             unpacks_as=("config", "plan", "model"))
        trained_plan = make_plan(cfg)
        plan = trained_plan
        if data is not None:
            # the trained season, window and horizon, not the new file's guesses: the model's inputs are fixed
            new_cfg = self._resolve_data(dataclasses.replace(
                cfg, data=data, backtest_start=None, season=trained_plan.series.season,
                input_len=trained_plan.input_len, horizon=trained_plan.horizon))
            plan = make_plan(new_cfg, scaling=trained_plan)
            trained_names = [n.lower() for n in trained_plan.series.target_names]
            if [n.lower() for n in plan.series.target_names] != trained_names:
                raise InputError(f"--data {data}: its target column(s) {plan.series.target_names} are not the "
                                 f"model's {trained_plan.series.target_names}; give a file with those columns")
            if plan.z.shape[1] != trained_plan.z.shape[1] or plan.past.shape[1] != trained_plan.past.shape[1]:
                raise InputError(f"--data {data}: has {plan.z.shape[1]} target(s) and {plan.past.shape[1]} extra "
                                 f"input(s); the model was trained with {trained_plan.z.shape[1]} and "
                                 f"{trained_plan.past.shape[1]}")
        return LoadedRun(cfg, self.trained(run_dir, lambda: build_model(cfg, trained_plan)), plan=plan,
                         unpacks_as=("config", "plan", "model"))

    def evaluate(self, run_dir: Path) -> dict[str, float]:
        run = self.load(run_dir)
        cfg, plan, model = run
        if panel.is_panel(cfg):
            return panel.evaluate_panel(cfg, run.meta["trained_plan"], model, run_dir,
                                        lambda m: print(m, file=sys.stderr))
        return self._evaluate(cfg, plan, model, run_dir, lambda m: print(m, file=sys.stderr))

    def predict_csv(self, run_dir: Path, data: str | None = None, run: LoadedRun | None = None) -> str:
        """The forecast of the next ``horizon`` steps after the end of the run's series (or
        of ``data``'s, same columns as in training) as CSV: ``step,target,forecast[,lower95,
        upper95]``, a panel's as ``unique_id,ds,forecast,q...`` (the long layout). ``run``:
        ``self.load(run_dir, data)`` when the caller has it already."""
        cfg, plan, model = run or self.load(run_dir, data)
        if panel.is_panel(cfg):
            panel.check_future_known(plan, data or cfg.data)
            lengths = [len(v) for v in plan.z]
            q = panel.panel_forecast(model, plan, panel.PanelArrays(plan), lengths, cfg.samples, cfg.train.seed)
            return panel.predictions_csv(plan, q, lengths, cfg.quantiles)
        mean, interval = forecast_from_end(model, plan)
        lines = ["step,target,forecast" + (",lower95,upper95" if interval is not None else "")]
        for k, lab in enumerate(future_labels(plan.series, plan.horizon)):
            for j, name in enumerate(plan.series.target_names):
                row = f"{lab},{name},{mean[k, j]:.6g}"
                if interval is not None:
                    row += f",{interval[k, j, 0]:.6g},{interval[k, j, 1]:.6g}"
                lines.append(row)
        return "\n".join(lines) + "\n"

    def add_commands(self, cli, guarded) -> None:
        import typer

        @cli.command("predict")
        def predict(run_dir: Path = typer.Argument(..., help="A run directory made by 'rnnlab forecast train'."),
                    data: str = typer.Option(None, "--data", help="Forecast after the end of this series instead "
                                             "(same columns as in training)."),
                    out: Path = typer.Option(None, "--out", help="Also write the forecast to this CSV file.")):
            """Forecast the next `horizon` steps after the end of the series; prints CSV."""

            def run():
                text = self.predict_csv(run_dir, data)
                if out is not None:
                    atomic_write(out, text)
                return text

            typer.echo(guarded(run), nl=False)


APP = ForecastApp()
