"""Forecasting networks (the forecast app's): direct, sequence-to-sequence and forking
members, in an ensemble whose mean (and mixture standard deviation) is the forecast."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..recurrent import Recurrent
from .heads import gaussian_nll
from .seq_to_vec import SeqToVec

__all__ = ["ForecastNet"]


class _Seq2SeqMember(nn.Module):
    """Encoder over the window; decoder over the horizon reading known future inputs."""

    def __init__(self, n_features: int, n_future: int, n_out: int, cell: str, hidden_size: int, num_layers: int,
                 dropout: float):
        super().__init__()
        self.encoder = Recurrent(cell, n_features, hidden_size, num_layers, dropout=dropout)
        self.decoder = Recurrent(cell, n_future, hidden_size, num_layers, dropout=dropout)
        self.head = nn.Linear(hidden_size, n_out)

    def forward(self, x: Tensor, future: Tensor) -> Tensor:
        _, state = self.encoder(x)
        out, _ = self.decoder(future, state)
        return self.head(out)  # (B, h, n_out)


class _ForkingMember(nn.Module):
    """A recurrent layer with a horizon-wide head at every step (MQ-RNN's forking sequences)."""

    def __init__(self, n_features: int, n_out: int, cell: str, hidden_size: int, num_layers: int, dropout: float):
        super().__init__()
        self.rnn = Recurrent(cell, n_features, hidden_size, num_layers, dropout=dropout, batch_first=True)
        self.head = nn.Linear(hidden_size, n_out)

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.rnn(x)
        return self.head(out)  # (B, L, h * per_step)


class ForecastNet(nn.Module):
    """Forecasters of the next ``horizon`` steps of ``n_targets`` series: ``model`` is
    ``direct`` (sequence→vector, all steps at once), ``seq2seq`` (an encoder over the
    window, a decoder over the horizon reading the inputs known in advance) or
    ``forking`` (MQ-RNN's forking sequences: a horizon-wide forecast from every window
    step); ``likelihood="gaussian"`` adds a standard deviation per step. ``ensemble``
    independent networks; ``forward(x, future) -> (members, B, h, T, 1 or 2)``,
    or ``(members, B, L, h, T, 1 or 2)`` — a forecast from every window step — for forking."""

    def __init__(self, n_features: int, n_future: int, horizon: int, n_targets: int, model: str = "forking",
                 cell: str = "gru", hidden_size: int = 64, num_layers: int = 1, dropout: float = 0.0,
                 likelihood: str = "none", ensemble: int = 1):
        super().__init__()
        if model not in ("direct", "forking", "seq2seq"):
            raise ValueError(f"model: expected direct, forking or seq2seq, got {model!r}")
        self.horizon, self.n_targets = horizon, n_targets
        self.forking = model == "forking"
        self.gaussian = likelihood == "gaussian"
        per_step = n_targets * (2 if self.gaussian else 1)
        members: list[nn.Module] = []
        for _ in range(ensemble):
            if model == "direct":
                members.append(SeqToVec(n_features, horizon * per_step, hidden_size, cell, num_layers,
                                        dropout=dropout))
            elif model == "forking":
                members.append(_ForkingMember(n_features, horizon * per_step, cell, hidden_size, num_layers, dropout))
            else:
                members.append(_Seq2SeqMember(n_features, n_future, per_step, cell, hidden_size, num_layers, dropout))
        self.members = nn.ModuleList(members)

    def forward(self, x: Tensor, future: Tensor) -> Tensor:
        outs = []
        for m in self.members:
            if isinstance(m, _ForkingMember):
                outs.append(m(x).reshape(x.shape[0], x.shape[1], self.horizon, self.n_targets, -1))
                continue
            o = m(x) if isinstance(m, SeqToVec) else m(x, future)
            outs.append(o.reshape(x.shape[0], self.horizon, self.n_targets, -1))
        return torch.stack(outs, 0)  # (M, B, [L,] h, T, 1 or 2)

    def split(self, out: Tensor) -> tuple[Tensor, Tensor | None]:
        mu = out[..., 0]
        if not self.gaussian:
            return mu, None
        return mu, nn.functional.softplus(out[..., 1]) + 1e-3

    def predict(self, x: Tensor, future: Tensor) -> tuple[Tensor, Tensor | None]:
        """Ensemble mean (B, h, T) and standard deviation (mixture of the members) or None."""
        out = self(x, future)
        if self.forking:
            out = out[:, :, -1]  # the forecast made at the window's last step
        mu, sigma = self.split(out)
        mean = mu.mean(0)
        if sigma is None:
            return mean, None
        var = (sigma ** 2 + mu ** 2).mean(0) - mean ** 2
        return mean, var.clamp_min(1e-12).sqrt()

    def loss(self, x: Tensor, future: Tensor, y: Tensor) -> Tensor:
        return self.loss_from_output(self(x, future), y)

    def loss_from_output(self, out: Tensor, y: Tensor) -> Tensor:
        """Loss of ``forward``'s output; lets a DistributedDataParallel wrapper run forward."""
        mu, sigma = self.split(out)
        y = y.unsqueeze(0).expand_as(mu)
        known = ~torch.isnan(y)  # forking: targets past a validation window's data end are NaN
        if not bool(known.all()):
            mu, y = mu[known], y[known]
            sigma = None if sigma is None else sigma[known]
        if sigma is None:
            return nn.functional.mse_loss(mu, y)
        return gaussian_nll(mu, sigma, y)
