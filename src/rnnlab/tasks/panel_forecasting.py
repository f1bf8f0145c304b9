"""Forecasting a panel with one global network: the model from the config, its loss,
training, the forecasts (quantiles at every trained level), the probabilistic and point
metrics, the fan chart and the long table of predictions. ``rnnlab forecast`` takes
this path when its data is a panel (or ``model=deepar``); see :mod:`.panel_windows`
for the windows and the protocol.

Metrics, per series then averaged (as the Monash archive reports them): ``mase`` (mean
absolute error over the horizon, scaled by the in-sample mean absolute lag-m difference,
m the season — 1 for yearly data; series whose scale is 0 are dropped and counted in
``mase_dropped``), ``smape`` (%), ``mae``; over all values: ``wql`` the weighted
quantile loss on the 13-level grid (2 Σ pinball / Σ |y|, averaged over the levels; an
estimate of the CRPS relative to the series' size), ``coverage80`` / ``coverage95`` the
share of held-out values inside the 80% / 95% intervals, and ``msis`` the mean scaled
interval score of the 95% interval (M4's measure of interval quality).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import torch

from ..data.panel import is_panel_source, load_panel, panel_from_series
from ..data.timeseries import load_series
from ..errors import InputError
from ..models.global_forecasting import GlobalForecastNet, pinball_loss
from ..report import pyplot, save_figure
from ..training import TensorBatches, Trainer, save_weights
from .panel_baselines import panel_baseline
from .panel_windows import PanelArrays, PanelPlan, deepar_batch, forking_batch, make_panel_plan, training_origins

__all__ = ["is_panel", "read_panel", "panel_plan", "train_panel", "evaluate_panel", "end_plan", "check_future_known",
           "build_panel_model",
           "panel_loss", "scaled_quantiles", "panel_forecast", "calibrate", "panel_metrics", "plot_fan",
           "predictions_csv", "scores"]


def build_panel_model(cfg, plan: PanelPlan) -> GlobalForecastNet:
    """The network ``cfg`` (a ``ForecastConfig``) describes, sized for ``plan``."""
    return GlobalForecastNet(plan.n_inputs, plan.n_future, plan.n_static, plan.horizon, plan.model, cfg.cell,
                             cfg.hidden_size, cfg.num_layers, cfg.dropout, plan.levels, plan.likelihood,
                             n_ids=len(plan.train_ids), id_embedding=cfg.id_embedding, ensemble=cfg.ensemble)


def panel_loss(model: GlobalForecastNet, plan: PanelPlan, arr: PanelArrays, s, origins, limit) -> torch.Tensor:
    """The training loss of windows (series ``s``, ``origins``, target ``limit``): the
    pinball loss at every level (forking) or the negative log-likelihood (deepar)."""
    if plan.model == "forking":
        x, dec, target, _, _ = forking_batch(plan, arr, s, origins, limit)
        q = model.forking(x, dec, arr.static[s], arr.ids[s])
        return pinball_loss(q, target.expand(q.shape[:-1]), model.levels)
    x, target, scale, _ = deepar_batch(plan, arr, s, origins, limit)
    return model.nll(model.params(x, arr.static[s], arr.ids[s]), target, scale)


@torch.no_grad()
def scaled_quantiles(model: GlobalForecastNet, plan: PanelPlan, arr: PanelArrays, s: torch.Tensor,
                     o: torch.Tensor, samples: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The network's quantiles (B, h, Q) in the windows' scaled units, with the windows'
    location and scale (B, 1): the forecast on the transformed scale is loc + q · scale.
    The model's calibration offsets are not yet added."""
    model.eval()
    L = plan.input_len
    if plan.model == "forking":
        x, dec, _, scale, last = forking_batch(plan, arr, s, o, o)
        q = model.forking(x, dec, arr.static[s], arr.ids[s])[:, :, -1].mean(0)  # (B, h, Q), members averaged
        return q.numpy(), last.numpy(), scale.numpy()
    x, _, scale, loc = deepar_batch(plan, arr, s, o, o)
    paths = model.sample(x[:, :L], x[:, L - 1:, 2:], arr.static[s], arr.ids[s], scale, samples, seed)
    # inverted_cdf: each quantile is one of the sampled values (a count stays a count)
    q = np.quantile(paths.numpy(), plan.levels, axis=1, method="inverted_cdf")
    return np.moveaxis(q, 0, -1), loc.numpy(), scale.numpy()


def _raw_forecast(model: GlobalForecastNet, plan: PanelPlan, arr: PanelArrays, s: torch.Tensor, o: torch.Tensor,
                  samples: int, seed: int) -> np.ndarray:
    """The network's quantiles (B, h, Q) on the data's own scale, before calibration."""
    q, loc, scale = scaled_quantiles(model, plan, arr, s, o, samples, seed)
    z = loc[..., None] + q * scale[..., None]
    return np.exp(z) if plan.transform == "log" else z


def panel_forecast(model: GlobalForecastNet, plan: PanelPlan, arr: PanelArrays, origins: list[int],
                   samples: int = 200, seed: int = 0, batch: int = 1024) -> np.ndarray:
    """Quantiles (S, h, Q) at ``plan.levels`` on the data's own scale, of the forecast of
    every series from ``origins[i]`` (the values before it are the context), calibrated
    (:func:`calibrate`) and kept in order."""
    out = []
    med = _level(plan.levels, 0.5)
    factors = model.calibration.numpy().astype(float)
    for a in range(0, len(origins), batch):
        s = torch.arange(a, min(a + batch, len(origins)))
        q = _raw_forecast(model, plan, arr, s, torch.tensor(origins[a:a + batch]), samples, seed + a)
        q = np.sort(q[..., med:med + 1] + factors * (q - q[..., med:med + 1]), -1)
        out.append(np.round(q) if plan.likelihood == "negbin" else q)  # quantiles of counts are counts
    return np.concatenate(out, 0).astype(float)


def calibrate(model: GlobalForecastNet, plan: PanelPlan, arr: PanelArrays, samples: int = 200,
              seed: int = 0) -> int:
    """Conformal calibration of every level on the validation windows (one per series,
    the horizon before the test part), with scores normalised by the network's own
    spread (Romano et al. 2019's conformalised quantiles, level by level, scaled as in
    Lei et al. 2018's locally weighted conformal): on the data's own scale, level p's
    quantile at horizon step k becomes ``median + f · (q_p − median)`` with f the
    p-quantile over the validation series of ``(y − median) / |q_p − median|`` (sign
    kept), so that a share p of the validation values lies below it while each series
    keeps the width its own context gives it. The median is left as trained. Stored in
    the model's ``calibration`` buffer (saved with the weights). Returns the number of
    windows used (0: fewer than 20, and the network's quantiles are kept)."""
    val = [i for i, (f, t) in enumerate(zip(plan.n_fit, plan.n_train)) if f < t]
    model.calibration.fill_(1.0)
    if len(val) < 20:
        return 0
    o = torch.tensor([plan.n_fit[i] for i in val])
    q = _raw_forecast(model, plan, arr, torch.tensor(val), o, samples, seed)
    y = np.stack([plan.panel.values[i][plan.n_fit[i]:plan.n_fit[i] + plan.horizon] for i in val])  # (V, h)
    levels = np.asarray(plan.levels)
    med = _level(levels, 0.5)
    spread = np.abs(q - q[..., med:med + 1])  # (V, h, Q)
    ratio = (y[..., None] - q[..., med:med + 1]) / np.maximum(spread, 1e-12 * (1 + np.abs(q[..., med:med + 1])))
    factors = np.ones((plan.horizon, len(levels)))
    for j, p in enumerate(levels):
        if j != med:
            f = np.quantile(ratio[..., j], p, axis=0, method="inverted_cdf")  # (h,)
            factors[:, j] = np.maximum(f if p > 0.5 else -f, 0.0)  # a quantile never crosses the median
    model.calibration.copy_(torch.from_numpy(factors).float())
    return len(val)


def _level(levels, p: float) -> int:
    return int(np.argmin(np.abs(np.asarray(levels) - p)))


def scores(y: list[np.ndarray], q: np.ndarray, levels, insample: list[np.ndarray], season: int) -> dict[str, float]:
    """The metrics of the module docstring for held-out values ``y[i]`` (h_i,) and
    quantiles ``q`` (S, h, Q) at ``levels`` (which include 0.5, 0.025, 0.1, 0.9, 0.975)."""
    med, lo80, hi80, lo95, hi95 = (_level(levels, p) for p in (0.5, 0.1, 0.9, 0.025, 0.975))
    lv = np.asarray(levels)
    mase, smape, mae, msis, ql, absy, inside80, inside95, n = [], [], [], [], 0.0, 0.0, 0, 0, 0
    for i, yi in enumerate(y):
        k = len(yi)
        qi = q[i, :k]
        point = qi[:, med]
        err = np.abs(point - yi)
        x = insample[i]
        m = season if season > 1 and len(x) > season else 1
        denom = np.mean(np.abs(x[m:] - x[:-m])) if len(x) > m else 0.0
        if denom > 0:
            mase.append(err.mean() / denom)
            lo, hi = qi[:, lo95], qi[:, hi95]
            msis.append(np.mean(hi - lo + 40 * (lo - yi) * (yi < lo) + 40 * (yi - hi) * (yi > hi)) / denom)
        s = np.abs(point) + np.abs(yi)
        smape.append(np.mean(np.where(s > 0, 200 * err / np.where(s > 0, s, 1), 0)))
        mae.append(err.mean())
        diff = yi[:, None] - qi
        ql += float(np.sum(2 * np.maximum(lv * diff, (lv - 1) * diff)))
        absy += float(np.abs(yi).sum())
        inside80 += int(((yi >= qi[:, lo80]) & (yi <= qi[:, hi80])).sum())
        inside95 += int(((yi >= qi[:, lo95]) & (yi <= qi[:, hi95])).sum())
        n += k
    return {"mase": float(np.mean(mase)) if mase else float("nan"), "smape": float(np.mean(smape)),
            "mae": float(np.mean(mae)), "wql": ql / max(absy, 1e-12) / len(lv),
            "coverage80": inside80 / max(n, 1), "coverage95": inside95 / max(n, 1),
            "msis": float(np.mean(msis)) if msis else float("nan"), "mase_dropped": float(len(y) - len(mase))}


def panel_metrics(plan: PanelPlan, q: np.ndarray) -> dict[str, float]:
    """:func:`scores` of the plan's test part (the last horizon of every series)."""
    y = [v[t:] for v, t in zip(plan.panel.values, plan.n_train)]
    insample = [v[:t] for v, t in zip(plan.panel.values, plan.n_train)]
    return scores(y, q, plan.levels, insample, plan.panel.season)


def plot_fan(path: Path, plan: PanelPlan, q: np.ndarray, origins: list[int], title: str, n_series: int = 6) -> None:
    """A fan chart (median, 80% and 95% intervals) for the first ``n_series`` series."""
    plt = pyplot()
    k = min(n_series, len(plan.panel))
    cols = min(k, 3)
    rows = (k + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.8 * rows), squeeze=False)
    lv = plan.levels
    for i, ax in enumerate(axes.ravel()):
        if i >= k:
            ax.axis("off")
            continue
        v, t = plan.panel.values[i], origins[i]
        steps = np.arange(len(v))
        ax.plot(steps[:t], v[:t], color="black", lw=1)
        if t < len(v):
            ax.plot(steps[t:], v[t:], color="black", lw=1, ls=":", label="held out")
        fut = t + np.arange(q.shape[1])
        for lo, hi, alpha in ((0.025, 0.975, 0.2), (0.1, 0.9, 0.35)):
            ax.fill_between(fut, q[i, :, _level(lv, lo)], q[i, :, _level(lv, hi)], color="tab:blue", alpha=alpha,
                            lw=0, label=f"{round((hi - lo) * 100)}%")
        ax.plot(fut, q[i, :, _level(lv, 0.5)], color="tab:blue", lw=1.5, label="median")
        ax.set_title(plan.panel.ids[i], fontsize=9)
        if i == 0:
            ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def predictions_csv(plan: PanelPlan, q: np.ndarray, origins: list[int], quantiles: list[float]) -> str:
    """The forecasts in the long layout: ``unique_id, ds, forecast`` (the median) and one
    column ``q<level>`` per requested quantile."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["unique_id", "ds", "forecast"] + [f"q{p:g}" for p in quantiles])
    cols = [_level(plan.levels, p) for p in quantiles]
    med = _level(plan.levels, 0.5)
    for i, sid in enumerate(plan.panel.ids):
        labels = plan.panel.labels(i, origins[i] + plan.horizon)[origins[i]:]
        for k, lab in enumerate(labels):
            w.writerow([sid, lab, f"{q[i, k, med]:.6g}"] + [f"{q[i, k, c]:.6g}" for c in cols])
    return buf.getvalue()



# ---------------------------------------------------------------------------- the app's glue
def is_panel(cfg) -> bool:
    """Whether ``rnnlab forecast`` forecasts ``cfg.data`` as a panel with a global network."""
    return cfg.model == "deepar" or is_panel_source(cfg.data, cfg.layout, cfg.id_column)


def read_panel(cfg, data: str | None = None):
    """The panel of ``cfg`` (or of ``data`` read with ``cfg``'s columns)."""
    data = data or cfg.data
    if not is_panel_source(data, cfg.layout, cfg.id_column):  # one series (model=deepar)
        s = load_series(data, cfg.targets, cfg.covariates, cfg.date_column, cfg.fill, cfg.season)
        return panel_from_series(s)
    return load_panel(data, cfg.layout, cfg.id_column, cfg.date_column, (cfg.targets or [None])[0],
                      cfg.past_covariates, cfg.covariates, cfg.static_covariates, cfg.season)


def panel_plan(cfg, panel=None, forecast_end: bool = False, like: PanelPlan | None = None) -> PanelPlan:
    if cfg.model not in ("forking", "deepar"):
        raise InputError(f"model={cfg.model}: a panel is forecast by one global network, --set model=forking "
                         "(MQ-RNN, quantiles) or --set model=deepar (a likelihood and sample paths)")
    likelihood = "gaussian" if cfg.likelihood == "none" else cfg.likelihood
    if cfg.model == "forking" and likelihood != "gaussian":
        raise InputError(f"likelihood={cfg.likelihood}: the forking model learns quantiles (--set quantiles=...); "
                         "a likelihood is model=deepar's")
    transform = None if cfg.transform in (None, "auto") else cfg.transform
    return make_panel_plan(panel if panel is not None else read_panel(cfg), cfg.input_len, cfg.horizon, transform,
                           cfg.model, likelihood, cfg.quantiles, cfg.calendar, cfg.validation, forecast_end, like)


def train_panel(cfg, run_dir: Path, resume: bool, verbose: bool, log) -> dict[str, float]:
    """Train the global network of ``cfg`` on its panel, then :func:`evaluate_panel`."""
    plan = panel_plan(cfg)
    arr = PanelArrays(plan)
    s, o, lim = training_origins(plan, cfg.window_stride)
    val = [i for i, (f, t) in enumerate(zip(plan.n_fit, plan.n_train)) if f < t]
    vs = torch.tensor(val, dtype=torch.long)
    vo = torch.tensor([plan.n_fit[i] for i in val], dtype=torch.long)
    vl = torch.tensor([plan.n_train[i] for i in val], dtype=torch.long)
    skipped = f"; {len(plan.skipped)} series skipped, shorter than horizon + 3: {', '.join(plan.skipped[:5])}" + \
        ("..." if len(plan.skipped) > 5 else "") if plan.skipped else ""
    log(f"forecast: panel {plan.panel.name}, {len(plan.panel)} series, model={plan.model}, input_len="
        f"{plan.input_len}, horizon={plan.horizon}, transform={plan.transform}, {len(s)} training windows, "
        f"{len(val)} validation series{skipped}")
    torch.manual_seed(cfg.train.seed)
    model = build_panel_model(cfg, plan)

    def evaluate_fn(m):
        if not val:
            return {}
        with torch.no_grad():
            return {"val_loss": float(panel_loss(model, plan, arr, vs, vo, vl))}

    trainer = Trainer(model, lambda m, b: panel_loss(model, plan, arr, *b), cfg.train, run_dir=run_dir,
                      evaluate_fn=evaluate_fn, verbose=verbose)
    trainer.fit(TensorBatches(s, o, lim, batch_size=cfg.batch_size, seed=cfg.train.seed), resume=resume)
    if cfg.calibrate:
        n = calibrate(model, plan, arr, cfg.samples, cfg.train.seed)
        log(f"calibrated the quantiles on {n} validation windows" if n else
            "calibration: fewer than 20 validation windows; the quantiles are the network's")
        save_weights(run_dir / "model.safetensors", model, {"calibrated": str(n)})
    return evaluate_panel(cfg, plan, model, run_dir, log)


def evaluate_panel(cfg, plan: PanelPlan, model: GlobalForecastNet, run_dir: Path, log) -> dict[str, float]:
    """Score the network and the baselines on the last horizon of every series; the fan chart."""
    arr = PanelArrays(plan)
    q = panel_forecast(model, plan, arr, plan.n_train, cfg.samples, cfg.train.seed)
    metrics = panel_metrics(plan, q)
    metrics["n_series"] = float(len(plan.panel))
    metrics["n_skipped"] = float(len(plan.skipped))
    history = [v[:t] for v, t in zip(plan.panel.values, plan.n_train)]
    for name in (["seasonal_naive"] if cfg.quick_baselines else cfg.panel_baselines):
        qb = panel_baseline(name, history, plan.horizon, plan.panel.season, plan.levels)
        for k, v in panel_metrics(plan, qb).items():
            if k != "mase_dropped":
                metrics[f"baseline_{name}_{k}"] = v
    log("  " + "  ".join(f"{k} {metrics[k]:.4g}" for k in ("mase", "smape", "wql", "coverage80", "coverage95")))
    title = (f"{plan.panel.name}: {plan.horizon}-step forecasts of the held-out values — MASE {metrics['mase']:.3g}, "
             f"80% coverage {metrics['coverage80']:.0%}")
    plot_fan(run_dir / "forecast.png", plan, q, plan.n_train, title)
    return metrics


def end_plan(cfg, trained: PanelPlan, data: str | None = None) -> PanelPlan:
    """The plan of a forecast after the end of each series of ``data`` (default: the
    training data), with the training statistics; checks the ids (the future covariates:
    :func:`check_future_known`)."""
    where = data or cfg.data
    plan = panel_plan(cfg, read_panel(cfg, data), forecast_end=True, like=trained)
    plan.id_index(cfg.id_embedding > 0, where)
    return plan


def check_future_known(plan: PanelPlan, where: str) -> None:
    """A forecast after the end needs the future covariates over the whole horizon."""
    if plan.panel.future_names:
        for i, (n, f) in enumerate(zip((len(v) for v in plan.z), plan.panel.future)):
            if len(f) < n + plan.horizon:
                step = plan.panel.labels(i, len(f) + 1)[-1]
                raise InputError(f"{where}, series {plan.panel.ids[i]!r}: the future covariates "
                                 f"({', '.join(plan.panel.future_names)}) stop before step {step}; a forecast of "
                                 f"horizon {plan.horizon} needs them for every step up to {n + plan.horizon} "
                                 "(add rows with an empty target)")
