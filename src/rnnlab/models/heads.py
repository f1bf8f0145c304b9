"""Output heads: map a hidden vector to a prediction and its loss."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["GaussianHead", "gaussian_nll"]


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
