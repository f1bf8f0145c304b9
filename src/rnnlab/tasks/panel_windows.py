"""A panel's plan and the global network's windows: what every series looks like to the
network, built on the fly per batch (a panel of 10,000 series is a few padded arrays; a
window is a gather, so memory does not grow with the number of windows).

Protocol. Series i has ``n_i`` values; the last ``horizon`` are held out (the test part,
as the Monash archive and the M competitions do: one origin per series) unless the plan
is for a forecast after the end. With ``validation="last"`` the horizon before the test
part is the validation set for early stopping (training targets stop before it); series
too short for that train on everything before the test part.

Scaling (per window, from its context only, as DeepAR does): ``scale`` is the mean
absolute step-to-step change of the context's values (the MASE denominator, so the loss
is in MASE-like units; counts: 1 + the context's mean). The forking network reads each
value relative to the window's first one and predicts every horizon value relative to
the value at the step it forecasts from; DeepAR reads and predicts values relative to
the context's last value. ``transform="log"`` (positive series) works on log values, so
a window's changes are growth rates and its quantiles stay positive.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..data.panel import Panel
from ..errors import InputError

__all__ = ["PanelPlan", "make_panel_plan", "PanelArrays", "forking_batch", "deepar_batch",
           "training_origins", "DEFAULT_LEVELS"]

#: the levels every forking network is trained on besides the user's: the 80% and 95%
#: intervals and the grid the weighted quantile loss (≈ CRPS) is measured on
DEFAULT_LEVELS = (0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.975)


@dataclass(frozen=True)
class PanelPlan:
    """The resolved protocol for a panel (frozen: a forecast on new data makes a new plan
    with the training statistics, ``make_panel_plan(..., like=plan)``)."""

    panel: Panel
    z: list[np.ndarray]  # transformed values per series
    n_train: list[int]  # values before the test part (n_i for a forecast after the end)
    n_fit: list[int]  # training targets stop here (before the validation horizon)
    input_len: int
    horizon: int
    transform: str
    model: str
    likelihood: str
    levels: tuple[float, ...]
    past_stats: tuple[np.ndarray, np.ndarray]
    future_stats: tuple[np.ndarray, np.ndarray]
    static_stats: tuple[np.ndarray, np.ndarray]
    calendar: bool
    train_ids: tuple[str, ...]  # the series the network was trained on, for id embeddings
    skipped: tuple[str, ...] = ()  # series too short to train on (kept out of the plan)

    @property
    def n_past(self) -> int:
        return self.panel.past[0].shape[1] if len(self.panel) else 0

    @property
    def n_future(self) -> int:
        return len(self.future_stats[0]) + (2 if self.calendar and self.panel.season > 1 else 0)

    @property
    def n_inputs(self) -> int:
        return 2 + self.n_past + self.n_future

    @property
    def n_static(self) -> int:
        return self.panel.static.shape[1]

    def id_index(self, strict: bool, where: str) -> np.ndarray:
        """Each series' row in the trained id embedding; unknown ids are an error when
        ``strict`` (the network embeds identities), else row 0."""
        known = {s: k for k, s in enumerate(self.train_ids)}
        out = []
        for s in self.panel.ids:
            if s not in known and strict:
                raise InputError(f"{where}: series {s!r} was not in the training panel and this model embeds the "
                                 "series' identity (id_embedding > 0); forecast the trained series, or train with "
                                 "--set id_embedding=0 to forecast new ones")
            out.append(known.get(s, 0))
        return np.array(out, dtype=np.int64)


def _stats(arrays: list[np.ndarray], ends: list[int]) -> tuple[np.ndarray, np.ndarray]:
    width = arrays[0].shape[1] if arrays else 0
    if width == 0:
        return np.zeros(0), np.ones(0)
    rows = np.concatenate([a[:e] for a, e in zip(arrays, ends)], 0)
    return np.nanmean(rows, 0), np.nanstd(rows, 0) + 1e-8


def make_panel_plan(panel: Panel, input_len: int | None, horizon: int | None, transform: str | None, model: str,
                    likelihood: str, quantiles: list[float] | None, calendar: bool = True,
                    validation: str = "last", forecast_end: bool = False, like: PanelPlan | None = None) -> PanelPlan:
    """The plan of ``panel``: series shorter than ``horizon + 3`` values (``2 + 3`` for a
    forecast after the end) are skipped and named in ``skipped``; ``like``: the plan the
    network was trained on (its window, scaling statistics and ids)."""
    h = horizon or panel.horizon or (like.horizon if like else 1)
    if like is not None:
        input_len, transform, model, likelihood = like.input_len, like.transform, like.model, like.likelihood
    m = panel.season
    L = input_len or max(2 * h, 2 * m if m > 1 else 0, 12)
    if L < 1 or h < 1:
        raise InputError(f"input_len and horizon must be >= 1, got {L} and {h}")
    need = 3 + (0 if forecast_end else h)
    keep = [i for i, v in enumerate(panel.values) if len(v) >= need]
    kept = set(keep)
    skipped = tuple(panel.ids[i] for i in range(len(panel)) if i not in kept)
    if not keep:
        raise InputError(f"{panel.source or panel.name}: every series is shorter than {need} values (horizon {h} + 3); "
                         "use a smaller --set horizon=...")
    panel = _subset(panel, keep)
    if likelihood == "negbin":
        for i, v in enumerate(panel.values):
            bad = np.flatnonzero((v < 0) | (v != np.round(v)))
            if len(bad):
                raise InputError(f"{panel.source}, series {panel.ids[i]!r}, step {panel.labels(i, len(v))[bad[0]]}: "
                                 f"{v[bad[0]]:g} is not a count (likelihood=negbin needs non-negative integers); "
                                 "use --set likelihood=gaussian or student_t")
    positive = all((v > 0).all() for v in panel.values)
    transform = transform or ("log" if positive and likelihood != "negbin" else "none")
    if transform == "log" and not positive:
        i = next(i for i, v in enumerate(panel.values) if (v <= 0).any())
        raise InputError(f"{panel.source}, series {panel.ids[i]!r}: transform=log needs positive values; "
                         "use --set transform=none")
    z = [np.log(v) if transform == "log" else v.astype(float) for v in panel.values]
    n = [len(v) for v in z]
    n_train = n if forecast_end else [k - h for k in n]
    n_fit = [t - h if validation == "last" and t - h >= 3 else t for t in n_train]
    levels = tuple(sorted(set(DEFAULT_LEVELS) | set(quantiles or [])))
    if like is not None:
        stats = like.past_stats, like.future_stats, like.static_stats
        levels, calendar, ids = like.levels, like.calendar, like.train_ids
        if panel.past[0].shape[1] != len(like.past_stats[0]) or panel.future[0].shape[1] != len(like.future_stats[0]):
            raise InputError(f"{panel.source}: {panel.past[0].shape[1]} past and {panel.future[0].shape[1]} future "
                             f"covariate(s); the model was trained with {len(like.past_stats[0])} and "
                             f"{len(like.future_stats[0])}")
    else:
        stats = _stats(panel.past, n_fit), _stats(panel.future, n_fit), _stats([panel.static], [len(panel)])
        ids = tuple(panel.ids)
    return PanelPlan(panel, z, n_train, n_fit, L, h, transform, model, likelihood, levels, *stats, calendar,
                     ids, skipped)


def _subset(panel: Panel, keep: list[int]) -> Panel:
    pick = lambda xs: [xs[i] for i in keep]  # noqa: E731
    return dataclasses.replace(panel, ids=pick(panel.ids), values=pick(panel.values), dates=pick(panel.dates),
                               past=pick(panel.past), future=pick(panel.future), static=panel.static[keep])


class PanelArrays:
    """The plan's series as padded tensors: values (S, L + N + h) with NaN outside a
    series, past and future covariates (S, L + N + h, ·) standardised (0 where unknown),
    whether the future covariates are known there, the static covariates (S, ·)."""

    def __init__(self, plan: PanelPlan):
        L, h, S = plan.input_len, plan.horizon, len(plan.panel)
        N = max(len(v) for v in plan.z)
        W = L + N + h
        self.values = torch.full((S, W), float("nan"))
        self.past = torch.zeros(S, W, plan.n_past)
        self.future = torch.zeros(S, W, plan.n_future)
        self.future_known = torch.zeros(S, W, dtype=torch.bool)
        (pc, ps), (fc, fs), (sc, ss) = plan.past_stats, plan.future_stats, plan.static_stats
        p = plan.panel
        for i, z in enumerate(plan.z):
            n = len(z)
            self.values[i, L:L + n] = torch.from_numpy(z).float()
            if plan.n_past:
                self.past[i, L:L + n] = torch.from_numpy((p.past[i] - pc) / ps).float()
            m = min(len(p.future[i]), N + h)
            cols = [(p.future[i][:m] - fc) / fs] if len(fc) else []
            if plan.n_future > len(fc):
                cols.append(p.calendar(i, m if len(fc) else n + h))
                m = m if len(fc) else n + h
            if cols:
                self.future[i, L:L + m] = torch.from_numpy(np.concatenate(cols, 1)).float()
            self.future_known[i, L:L + m] = True
        self.static = torch.from_numpy((p.static - sc) / ss).float() if plan.n_static else torch.zeros(S, 0)
        self.ids = torch.from_numpy(plan.id_index(False, "")).long()

    def window(self, s: Tensor, origins: Tensor, width: int) -> tuple[Tensor, Tensor, Tensor]:
        """Values, past and future covariates of ``width`` steps from ``origin - L``."""
        cols = origins[:, None] + torch.arange(width)  # column of step origin - L + j
        rows = s[:, None]
        return self.values[rows, cols], self.past[rows, cols], self.future[rows, cols]


def _scale(context: Tensor, counts: bool) -> Tensor:
    """(B, 1): the window's scale from its context (NaN where a step is missing)."""
    if counts:
        return 1 + torch.nan_to_num(context, nan=0.0).sum(1, keepdim=True) / (~context.isnan()).sum(1, keepdim=True)
    d = (context[:, 1:] - context[:, :-1]).abs()
    ok = ~d.isnan()
    mad = torch.where(ok, d, torch.zeros_like(d)).sum(1, keepdim=True) / ok.sum(1, keepdim=True).clamp_min(1)
    level = torch.nan_to_num(context.abs(), nan=0.0).amax(1, keepdim=True)
    return torch.maximum(mad, 1e-3 * level + 1e-6)


def _first_observed(context: Tensor) -> Tensor:
    idx = (~context.isnan()).float().argmax(1, keepdim=True)
    return context.gather(1, idx)


def forking_batch(plan: PanelPlan, arr: PanelArrays, s: Tensor, origins: Tensor, limit: Tensor | None):
    """Forking windows: inputs (B, L, n_inputs), decoder covariates (B, L, h, n_future),
    targets (B, L, h) relative to each step's value in scaled units (NaN: unknown or at /
    past ``limit``), the scale (B, 1), the last context value (B, 1)."""
    L, h = plan.input_len, plan.horizon
    vals, past, fut = arr.window(s, origins, L + h)
    if limit is not None:  # targets at or past the limit are not the network's to see
        step = origins[:, None] - L + torch.arange(L + h)
        vals = torch.where(step < limit[:, None], vals, torch.full_like(vals, float("nan")))
    ctx = vals[:, :L]
    scale = _scale(ctx, False)
    u = (ctx - _first_observed(ctx)) / scale
    obs = ~u.isnan()
    x = torch.cat([torch.nan_to_num(u, nan=0.0)[..., None], obs.float()[..., None], past[:, :L], fut[:, :L]], -1)
    ahead = vals.unfold(1, h, 1)[:, 1:L + 1]  # (B, L, h): the h values after each step
    target = (ahead - ctx[..., None]) / scale[..., None]
    dec = fut.unfold(1, h, 1)[:, 1:L + 1].transpose(-1, -2)  # (B, L, h, F)
    return x, dec, target, scale, ctx[:, -1:]


def deepar_batch(plan: PanelPlan, arr: PanelArrays, s: Tensor, origins: Tensor, limit: Tensor | None):
    """DeepAR windows of L + h steps: inputs (B, L + h - 1, n_inputs) at steps 1.. (the
    previous value, whether it was observed, the previous step's past covariates — zero
    from the origin on, where they are unknown — and the step's future covariates),
    targets (B, L + h - 1) in scaled units, the scale (B, 1) and the location (B, 1)."""
    L, h = plan.input_len, plan.horizon
    vals, past, fut = arr.window(s, origins, L + h)
    step = origins[:, None] - L + torch.arange(L + h)
    if limit is not None:
        vals = torch.where(step < limit[:, None], vals, torch.full_like(vals, float("nan")))
    counts = plan.likelihood == "negbin"
    ctx = vals[:, :L]
    scale = _scale(ctx, counts)
    loc = torch.zeros_like(scale) if counts else ctx[:, -1:]
    u = (vals - loc) / scale
    past = torch.where((step < origins[:, None])[..., None], past, torch.zeros_like(past))
    prev = u[:, :-1]
    x = torch.cat([torch.nan_to_num(prev, nan=0.0)[..., None], (~prev.isnan()).float()[..., None],
                   past[:, :-1], fut[:, 1:]], -1)
    return x, u[:, 1:], scale, loc


def training_origins(plan: PanelPlan, stride: int = 1) -> tuple[Tensor, Tensor, Tensor]:
    """(series, origin, target limit) of every training window: origins from a series'
    third value to its last training target, every ``stride`` steps counted back from the
    newest (which is always in). An origin t is a forecast of steps t.. from the values
    before t, and, in the padded arrays, the column where its window starts."""
    s, o, lim = [], [], []
    for i, n_fit in enumerate(plan.n_fit):
        ts = list(range(n_fit - 1, 1, -stride))[::-1]
        s += [i] * len(ts)
        o += ts
        lim += [n_fit] * len(ts)
    return torch.tensor(s, dtype=torch.long), torch.tensor(o, dtype=torch.long), torch.tensor(lim, dtype=torch.long)
