"""Attention: a query reads a weighted average of values, weighted by its match to keys.

Shapes: query ``(B, Dq)`` or ``(B, Tq, Dq)``; keys ``(B, S, Dk)``; values ``(B, S, Dv)``
(default: the keys); mask ``(B, S)`` bool, True where a key is valid.
Returns ``(context, weights)``: context ``(B, Dv)`` / ``(B, Tq, Dv)``, weights
``(B, S)`` / ``(B, Tq, S)`` — a distribution over the valid keys, exactly 0 on masked ones.

Scores:

- :class:`AdditiveAttention` (Bahdanau et al. 2014): ``e_j = vᵀ tanh(W q + U k_j)``
- :class:`DotAttention` (Luong et al. 2015, "dot"): ``e_j = qᵀ k_j`` (optionally / √d)
- :class:`GeneralAttention` (Luong et al. 2015, "general"): ``e_j = qᵀ W k_j``

and, by location rather than content, :class:`GaussianWindow` (Graves 2013), the window
a handwriting network slides along its text.

No module keeps state between calls. ``U k`` does not depend on the query, so a decoder
that attends to the same keys at every step computes it once with
:meth:`Attention.project_keys` and passes it back as ``projected_keys=``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["Attention", "AdditiveAttention", "DotAttention", "GaussianWindow", "GeneralAttention", "make_attention",
           "masked_softmax"]


def masked_softmax(scores: Tensor, mask: Tensor | None) -> Tensor:
    """Softmax over the last axis that gives exactly 0 where ``mask`` is False."""
    if mask is None:
        return torch.softmax(scores, dim=-1)
    scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1)


class Attention(nn.Module):
    """Base class: subclasses define ``score(query, projected_keys) -> (B, Tq, S)``."""

    def __init__(self, query_size: int, key_size: int):
        super().__init__()
        self.query_size = int(query_size)
        self.key_size = int(key_size)

    def project_keys(self, keys: Tensor) -> Tensor:
        """The query-independent part of the score (identity unless overridden)."""
        return keys

    def score(self, query: Tensor, projected_keys: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        values: Tensor | None = None,
        mask: Tensor | None = None,
        projected_keys: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        single = query.dim() == 2
        q = query.unsqueeze(1) if single else query
        if q.dim() != 3 or q.shape[-1] != self.query_size:
            raise ValueError(f"query: expected (B, {self.query_size}) or (B, Tq, {self.query_size}), "
                             f"got {tuple(query.shape)}")
        if keys.dim() != 3 or keys.shape[-1] != self.key_size or keys.shape[0] != q.shape[0]:
            raise ValueError(f"keys: expected (B={q.shape[0]}, S, {self.key_size}), got {tuple(keys.shape)}")
        values = keys if values is None else values
        if values.dim() != 3 or values.shape[:2] != keys.shape[:2]:
            raise ValueError(f"values: expected (B, S, Dv) with (B, S) = {tuple(keys.shape[:2])}, "
                             f"got {tuple(values.shape)}")
        if mask is not None:
            if mask.shape != keys.shape[:2]:
                raise ValueError(f"mask: expected shape {tuple(keys.shape[:2])} (B, S), got {tuple(mask.shape)}")
            mask = mask.bool()
            if not bool(mask.any(dim=1).all()):
                raise ValueError("mask: some sequence has no valid key (a row of the mask is all False)")
            mask = mask.unsqueeze(1)  # (B, 1, S)
        pk = self.project_keys(keys) if projected_keys is None else projected_keys
        weights = masked_softmax(self.score(q, pk), mask)  # (B, Tq, S)
        context = torch.bmm(weights, values)  # (B, Tq, Dv)
        if single:
            return context.squeeze(1), weights.squeeze(1)
        return context, weights


class AdditiveAttention(Attention):
    """Bahdanau attention: ``e_j = vᵀ tanh(W q + U k_j)`` with learned ``W``, ``U``, ``v``."""

    def __init__(self, query_size: int, key_size: int, hidden_size: int | None = None):
        super().__init__(query_size, key_size)
        hidden_size = int(hidden_size or query_size)
        self.W = nn.Linear(query_size, hidden_size, bias=False)
        self.U = nn.Linear(key_size, hidden_size, bias=True)
        self.v = nn.Linear(hidden_size, 1, bias=False)

    def project_keys(self, keys: Tensor) -> Tensor:
        return self.U(keys)  # (B, S, A)

    def score(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        # (B, Tq, 1, A) + (B, 1, S, A) -> (B, Tq, S)
        e = torch.tanh(self.W(query).unsqueeze(2) + projected_keys.unsqueeze(1))
        return self.v(e).squeeze(-1)


class DotAttention(Attention):
    """Luong's dot score ``qᵀ k``; ``scaled=True`` divides by √d (Vaswani et al.)."""

    def __init__(self, query_size: int, key_size: int | None = None, scaled: bool = False):
        key_size = query_size if key_size is None else key_size
        if key_size != query_size:
            raise ValueError(f"DotAttention needs query_size == key_size, got {query_size} and {key_size}")
        super().__init__(query_size, key_size)
        self.scale = 1.0 / math.sqrt(query_size) if scaled else 1.0

    def score(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        return torch.bmm(query, projected_keys.transpose(1, 2)) * self.scale


class GeneralAttention(Attention):
    """Luong's general score ``qᵀ W k``."""

    def __init__(self, query_size: int, key_size: int):
        super().__init__(query_size, key_size)
        self.W = nn.Linear(key_size, query_size, bias=False)

    def project_keys(self, keys: Tensor) -> Tensor:
        return self.W(keys)  # (B, S, Dq)

    def score(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        return torch.bmm(query, projected_keys.transpose(1, 2))


class GaussianWindow(nn.Module):
    """Graves' (2013, eq. 46-51) soft window over a character sequence: location-based
    attention whose position only moves forward.

    From a hidden state ``h`` it computes, for ``K`` Gaussians, an importance ``α``, a
    width ``β`` and an advance: ``κ_t = κ_{t-1} + exp(κ̂)``. The weight of character
    ``u`` is ``φ(t, u) = Σ_k α_k exp(-β_k (κ_k - u)²)`` and the window is
    ``w_t = Σ_u φ(t, u) c_u``. Unlike content-based attention (:class:`AdditiveAttention`),
    the weights depend on where the window was, not on what the characters are, which is
    what aligns a pen trajectory with its text.

    ``forward(h, kappa, chars, mask=None) -> (w, kappa, phi)``: ``h`` ``(B, H)``,
    ``kappa`` ``(B, K)`` (zeros at the start), ``chars`` ``(B, U, C)`` (one-hot or
    embedded), ``mask`` ``(B, U)`` True on real characters. Returns ``w`` ``(B, C)``,
    the new ``kappa`` and ``phi`` ``(B, U + 1)``: the last column is the weight one past
    the text, which overtakes the others when the window has read it all (Graves'
    stopping rule for sampling). The module keeps no state; the caller carries ``kappa``.
    """

    def __init__(self, hidden_size: int, mixtures: int = 10, advance_init: float = 0.05):
        super().__init__()
        self.mixtures = int(mixtures)
        self.proj = nn.Linear(hidden_size, 3 * self.mixtures)
        with torch.no_grad():  # start by moving ~advance_init characters per step, not e^0 = 1
            self.proj.bias[2 * self.mixtures:].fill_(math.log(advance_init))

    def forward(self, h: Tensor, kappa: Tensor, chars: Tensor, mask: Tensor | None = None
                ) -> tuple[Tensor, Tensor, Tensor]:
        a, b, k = torch.exp(self.proj(h)).unsqueeze(-1).chunk(3, dim=1)  # each (B, K, 1)
        kappa = kappa + k.squeeze(-1)
        U = chars.shape[1]
        u = torch.arange(U + 1, device=h.device, dtype=h.dtype)  # characters 0..U-1 and one past the end
        phi = (a * torch.exp(-b * (kappa.unsqueeze(-1) - u) ** 2)).sum(1)  # (B, U + 1)
        if mask is not None:
            phi = torch.cat([phi[:, :U] * mask.to(phi.dtype), phi[:, U:]], 1)
        w = torch.bmm(phi[:, :U].unsqueeze(1), chars).squeeze(1)
        return w, kappa, phi


ATTENTION_NAMES = ("additive", "dot", "general")


def make_attention(kind: str, query_size: int, key_size: int) -> Attention:
    """``"additive"`` (Bahdanau), ``"dot"`` or ``"general"`` (Luong)."""
    if kind == "additive":
        return AdditiveAttention(query_size, key_size)
    if kind == "dot":
        return DotAttention(query_size, key_size)
    if kind == "general":
        return GeneralAttention(query_size, key_size)
    raise ValueError(f"attention: unknown kind {kind!r}; expected one of {', '.join(ATTENTION_NAMES)} or None")
