"""Global forecasters: one network trained across a panel of series.

- ``forking`` — MQ-RNN (Wen et al. 2017, "A Multi-Horizon Quantile Recurrent
  Forecaster"): an encoder over the window; at *every* step a decoder MLP reads the
  encoder state and the known-in-advance covariates of the next ``horizon`` steps and
  emits every horizon step's quantiles, trained with the pinball loss on all steps at
  once (the forking sequences). Quantiles cannot cross: the lowest is free and each
  next one adds a softplus.
- ``deepar`` — DeepAR (Salinas et al. 2020): an autoregressive network whose input at
  step t is the previous value, with the covariates, and whose output is the parameters
  of a likelihood for the value at t (``gaussian``, ``student_t``, or ``negbin`` for
  counts); the forecast is a set of sample paths, each drawn step by step, fed back.

Both read the series in per-window scaled units (the task layer scales; see
:mod:`rnnlab.tasks.global_forecasting`) with the static covariates repeated at every
step. ``ensemble=k`` members are trained together and pooled (quantiles averaged,
sample paths pooled).
"""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..recurrent import Recurrent

__all__ = ["GlobalForecastNet", "LIKELIHOODS", "pinball_loss"]

LIKELIHOODS = ("gaussian", "student_t", "negbin")
_N_PARAMS = {"gaussian": 2, "student_t": 3, "negbin": 2}


def pinball_loss(q: Tensor, y: Tensor, levels: Tensor) -> Tensor:
    """Mean pinball (quantile) loss of quantiles ``q`` (..., Q) at ``levels`` (Q,) for
    targets ``y`` (...); NaN targets are left out."""
    known = ~torch.isnan(y)
    diff = y[known].unsqueeze(-1) - q[known]
    return torch.maximum(levels * diff, (levels - 1) * diff).mean()


class _ForkingMember(nn.Module):
    def __init__(self, n_inputs: int, n_future: int, n_static: int, horizon: int, n_quantiles: int, cell: str,
                 hidden_size: int, num_layers: int, dropout: float):
        super().__init__()
        self.horizon, self.n_quantiles = horizon, n_quantiles
        self.rnn = Recurrent(cell, n_inputs + n_static, hidden_size, num_layers, dropout=dropout, batch_first=True)
        self.decoder = nn.Sequential(nn.Linear(hidden_size + horizon * n_future + n_static, hidden_size), nn.ReLU(),
                                     nn.Linear(hidden_size, horizon * n_quantiles))

    def forward(self, x: Tensor, future: Tensor, static: Tensor) -> Tensor:
        B, L, _ = x.shape
        s = static.unsqueeze(1).expand(B, L, static.shape[-1])
        h, _ = self.rnn(torch.cat([x, s], -1))  # (B, L, H)
        raw = self.decoder(torch.cat([h, future.flatten(2), s], -1)).view(B, L, self.horizon, self.n_quantiles)
        # non-crossing: q_0 free, q_k = q_{k-1} + softplus(raw_k)
        return torch.cat([raw[..., :1], raw[..., :1] + F.softplus(raw[..., 1:]).cumsum(-1)], -1)


class _DeepARMember(nn.Module):
    def __init__(self, n_inputs: int, n_static: int, likelihood: str, cell: str, hidden_size: int, num_layers: int,
                 dropout: float):
        super().__init__()
        self.rnn = Recurrent(cell, n_inputs + n_static, hidden_size, num_layers, dropout=dropout, batch_first=True)
        self.head = nn.Linear(hidden_size, _N_PARAMS[likelihood])

    def forward(self, x: Tensor, static: Tensor, state=None) -> tuple[Tensor, object]:
        s = static.unsqueeze(1).expand(x.shape[0], x.shape[1], static.shape[-1])
        h, state = self.rnn(torch.cat([x, s], -1), state)
        return self.head(h), state


class GlobalForecastNet(nn.Module):
    """A global forecaster (see the module docstring).

    n_inputs: per-step inputs (the scaled value, its observed flag, past and future
    covariates); n_future: known-in-advance covariates per future step (forking's
    decoder); n_static: static covariates (one-hot categories, numbers, the series'
    identity when ``id_embedding`` > 0 over ``n_ids`` series). ``quantiles``: the
    levels ``forking`` is trained on (sorted); ``likelihood``: ``deepar``'s.
    """

    def __init__(self, n_inputs: int, n_future: int, n_static: int, horizon: int, model: str = "forking",
                 cell: str = "gru", hidden_size: int = 64, num_layers: int = 1, dropout: float = 0.0,
                 quantiles: tuple[float, ...] = (0.1, 0.5, 0.9), likelihood: str = "gaussian", n_ids: int = 0,
                 id_embedding: int = 0, ensemble: int = 1):
        super().__init__()
        if model not in ("forking", "deepar"):
            raise ValueError(f"model: a panel is forecast by forking or deepar, got {model!r}")
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood: expected one of {', '.join(LIKELIHOODS)}, got {likelihood!r}")
        self.model, self.likelihood, self.horizon = model, likelihood, horizon
        self.register_buffer("levels", torch.tensor(sorted(quantiles), dtype=torch.float32), persistent=False)
        # per horizon step and level, the factor each quantile's distance from the median is
        # multiplied by (conformal calibration on held-out windows,
        # rnnlab.tasks.panel_forecasting.calibrate; 1: none)
        self.register_buffer("calibration", torch.ones(horizon, len(quantiles)))
        self.ids = nn.Embedding(n_ids, id_embedding) if id_embedding > 0 and n_ids > 0 else None
        n_s = n_static + (id_embedding if self.ids is not None else 0)
        if model == "forking":
            self.members = nn.ModuleList(_ForkingMember(n_inputs, n_future, n_s, horizon, len(quantiles), cell,
                                                        hidden_size, num_layers, dropout) for _ in range(ensemble))
        else:
            self.members = nn.ModuleList(_DeepARMember(n_inputs, n_s, likelihood, cell, hidden_size, num_layers,
                                                       dropout) for _ in range(ensemble))

    def _static(self, static: Tensor, ids: Tensor) -> Tensor:
        return static if self.ids is None else torch.cat([static, self.ids(ids)], -1)

    # ------------------------------------------------------------------ forking
    def forking(self, x: Tensor, future: Tensor, static: Tensor, ids: Tensor) -> Tensor:
        """Quantiles from every window step: x (B, L, n_inputs), future (B, L, h, n_future)
        → (members, B, L, h, Q), in the window's scaled units relative to each step's value."""
        s = self._static(static, ids)
        return torch.stack([m(x, future, s) for m in self.members], 0)

    # ------------------------------------------------------------------ deepar
    def params(self, x: Tensor, static: Tensor, ids: Tensor) -> Tensor:
        """DeepAR's likelihood parameters at every step: (members, B, T, n_params)."""
        s = self._static(static, ids)
        return torch.stack([m(x, s)[0] for m in self.members], 0)

    def distribution(self, raw: Tensor, scale: Tensor | None = None) -> torch.distributions.Distribution:
        """The likelihood of raw parameters (..., n_params); ``scale`` (broadcastable):
        the window's scale, which a count likelihood's mean is multiplied by."""
        if self.likelihood == "gaussian":
            return torch.distributions.Normal(raw[..., 0], F.softplus(raw[..., 1]) + 1e-3)
        if self.likelihood == "student_t":
            return torch.distributions.StudentT(2.0 + F.softplus(raw[..., 2]), raw[..., 0],
                                                F.softplus(raw[..., 1]) + 1e-3)
        sc = torch.ones_like(raw[..., 0]) if scale is None else scale
        mean = F.softplus(raw[..., 0]) * sc + 1e-6
        alpha = F.softplus(raw[..., 1]) / sc.sqrt() + 1e-6  # DeepAR: the shape scaled by 1/sqrt(scale)
        return torch.distributions.NegativeBinomial(total_count=1 / alpha, logits=torch.log(mean * alpha))

    def nll(self, raw: Tensor, target: Tensor, scale: Tensor) -> Tensor:
        """Mean negative log-likelihood over the known targets (raw (M, B, T, P), target (B, T))."""
        known = ~torch.isnan(target)
        y = torch.where(known, target, torch.zeros_like(target)).expand(raw.shape[:-1])
        if self.likelihood == "negbin":
            y = torch.round(y * scale)  # counts on their own scale
        dist = self.distribution(raw, scale.expand(raw.shape[:-1]))
        return -(dist.log_prob(y) * known).sum() / (known.sum() * raw.shape[0]).clamp_min(1)

    @torch.no_grad()
    def sample(self, x: Tensor, future_x: Tensor, static: Tensor, ids: Tensor, scale: Tensor,
               n_samples: int, seed: int = 0) -> Tensor:
        """Sample paths over the horizon: x (B, L, n_inputs) the context's inputs (its last
        step reads the last known value), future_x (B, h, n_inputs - 2) the covariates of
        the horizon steps, scale (B, 1) → (B, members * n_samples, h) in scaled units.
        The draws come from a generator seeded with ``seed``: the same call gives the same paths."""
        s = self._static(static, ids)
        B, h = x.shape[0], future_x.shape[1]
        rep = lambda t, dim=0: t.repeat_interleave(n_samples, dim)  # noqa: E731 - (B, ...) -> (B * n, ...)
        sc, ss, fx = rep(scale[:, 0]), rep(s), rep(future_x)
        paths = []
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for m in cast(list[_DeepARMember], list(self.members)):
                raw, state = m(x, s)
                state = _repeat_state(state, n_samples)
                last = rep(raw[:, -1])  # (B * n, P): the first horizon step's parameters
                out = []
                for k in range(h):
                    draw = self.distribution(last, sc).sample()
                    u = draw / sc if self.likelihood == "negbin" else draw
                    out.append(u)
                    if k + 1 < h:
                        step = torch.cat([u[:, None, None], torch.ones_like(u)[:, None, None], fx[:, k + 1:k + 2]], -1)
                        hid, state = m.rnn(torch.cat([step, ss[:, None]], -1), state)
                        last = m.head(hid)[:, -1]
                paths.append(torch.stack(out, -1).view(B, n_samples, h))
        return torch.cat(paths, 1)


def _repeat_state(state, n: int):
    """A recurrent state ((layers * dirs, B, H), or a tuple / list of them) repeated n
    times along its batch axis, each sequence's copies together."""
    if isinstance(state, (tuple, list)):
        return type(state)(_repeat_state(t, n) for t in state)
    return state.repeat_interleave(n, 1)
