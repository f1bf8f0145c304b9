"""Output heads: map a hidden vector to a prediction and its loss."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["GaussianHead", "MixtureDensityHead", "gaussian_nll", "mixture_log_density", "mixture_nll",
           "mixture_sample"]


class GaussianHead(nn.Module):
    """Predicts a mean and a standard deviation per output: ``(..., H) -> (mu, sigma)``,
    each ``(..., output_size)``; train with :func:`gaussian_nll` for prediction intervals."""

    def __init__(self, hidden_size: int, output_size: int, min_sigma: float = 1e-3):
        super().__init__()
        self.proj = nn.Linear(hidden_size, 2 * output_size)
        self.min_sigma = min_sigma

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor]:
        mu, raw = self.proj(h).chunk(2, dim=-1)
        return mu, nn.functional.softplus(raw) + self.min_sigma


def gaussian_nll(mu: Tensor, sigma: Tensor, y: Tensor) -> Tensor:
    """Mean negative log-likelihood of ``y`` under ``N(mu, sigma²)``."""
    return (torch.log(sigma) + 0.5 * ((y - mu) / sigma) ** 2 + 0.5 * math.log(2 * math.pi)).mean()


class MixtureDensityHead(nn.Module):
    """Graves (2013, eq. 18-23): a mixture of ``mixtures`` bivariate Gaussians for the
    next pen offset and a Bernoulli for the end of the stroke, from a hidden vector.

    ``forward(h)`` with ``h`` ``(..., H)`` returns the raw parameters as a dict:
    ``end_logit`` ``(...)``, ``logit_pi`` ``(..., M)``, ``mu`` ``(..., M, 2)``,
    ``log_sigma`` ``(..., M, 2)``, ``rho`` ``(..., M)`` (in (-1, 1)). Train with
    :func:`mixture_nll`; draw with :func:`mixture_sample`.
    """

    def __init__(self, hidden_size: int, mixtures: int = 20):
        super().__init__()
        self.mixtures = int(mixtures)
        self.proj = nn.Linear(hidden_size, 1 + 6 * self.mixtures)

    def forward(self, h: Tensor) -> dict[str, Tensor]:
        M = self.mixtures
        out = self.proj(h)
        end, pi, mu, log_sigma, rho = out.split([1, M, 2 * M, 2 * M, M], dim=-1)
        shape = h.shape[:-1]
        return {"end_logit": end.squeeze(-1), "logit_pi": pi, "mu": mu.reshape(*shape, M, 2),
                "log_sigma": log_sigma.reshape(*shape, M, 2), "rho": torch.tanh(rho)}


def mixture_log_density(params: dict[str, Tensor], target: Tensor) -> Tensor:
    """Log-likelihood of each target point ``(..., 3)`` = ``(dx, dy, end)`` under the
    head's distribution (eq. 24-26): ``(...)``."""
    xy = target[..., :2].unsqueeze(-2)  # (..., 1, 2) against M components
    z = (xy - params["mu"]) * torch.exp(-params["log_sigma"])
    rho = params["rho"]
    one_minus = (1 - rho * rho).clamp_min(1e-6)
    quad = (z[..., 0] ** 2 + z[..., 1] ** 2 - 2 * rho * z[..., 0] * z[..., 1]) / one_minus
    log_n = -quad / 2 - params["log_sigma"].sum(-1) - 0.5 * torch.log(one_minus) - math.log(2 * math.pi)
    log_xy = torch.logsumexp(torch.log_softmax(params["logit_pi"], -1) + log_n, -1)
    log_end = -nn.functional.binary_cross_entropy_with_logits(params["end_logit"], target[..., 2], reduction="none")
    return log_xy + log_end


def mixture_nll(params: dict[str, Tensor], target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean negative log-likelihood per point (nats); ``mask`` ``(...)`` True on real
    points (padding excluded)."""
    logp = mixture_log_density(params, target)
    if mask is None:
        return -logp.mean()
    return -(logp * mask).sum() / mask.sum().clamp_min(1)


def mixture_sample(params: dict[str, Tensor], bias: float = 0.0, generator: torch.Generator | None = None) -> Tensor:
    """One point ``(..., 3)`` per distribution. ``bias`` >= 0 sharpens it (Graves §5.4:
    ``sigma`` shrinks as ``exp(-bias)``, the mixture weights as ``pi^(1 + bias)``) for
    neater, less varied writing."""
    if bias < 0:
        raise ValueError(f"bias: must be >= 0, got {bias}")
    pi = torch.softmax(params["logit_pi"] * (1 + bias), -1)
    shape = pi.shape[:-1]
    k = torch.multinomial(pi.reshape(-1, pi.shape[-1]), 1, generator=generator).reshape(*shape, 1)
    k2 = k.unsqueeze(-1).expand(*shape, 1, 2)  # the chosen component, for the (..., M, 2) parameters
    mu = params["mu"].gather(-2, k2).squeeze(-2)
    sigma = torch.exp(params["log_sigma"].gather(-2, k2).squeeze(-2) - bias)
    rho = params["rho"].gather(-1, k).squeeze(-1)
    e1 = torch.randn(mu.shape, generator=generator, dtype=mu.dtype)
    # correlated pair: x = mu_x + s_x e1, y = mu_y + s_y (rho e1 + sqrt(1 - rho^2) e2)
    dx = mu[..., 0] + sigma[..., 0] * e1[..., 0]
    dy = mu[..., 1] + sigma[..., 1] * (rho * e1[..., 0] + torch.sqrt((1 - rho * rho).clamp_min(0)) * e1[..., 1])
    end = (torch.rand(shape, generator=generator, dtype=mu.dtype) < torch.sigmoid(params["end_logit"])).to(mu.dtype)
    return torch.stack([dx, dy, end], -1)
