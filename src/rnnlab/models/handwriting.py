"""Handwriting synthesis (Graves 2013, §5): a network that writes a given text as pen strokes.

Shapes: ``points`` ``(B, T, 3)`` rows ``(dx, dy, end)`` (see :mod:`rnnlab.data.strokes`);
``text`` ``(B, U)`` character ids with ``text_lengths`` ``(B,)``.

At step ``t`` the first LSTM reads the current point and the previous window ``w_{t-1}``;
a :class:`~rnnlab.attention.GaussianWindow` on its output picks the characters being
written, ``w_t``. The upper LSTM layers read the point, the first layer's output and
``w_t`` over the whole sequence, and a :class:`~rnnlab.models.heads.MixtureDensityHead`
on the outputs of all layers (Graves' skip connections) gives the distribution of the
next point. The first layer and the window form a loop (``w_t`` feeds step ``t + 1``) and
run step by step; the upper layers run as one :class:`~rnnlab.recurrent.Recurrent` call.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..attention import GaussianWindow
from ..cells import LSTMCell
from ..recurrent import Recurrent
from .heads import MixtureDensityHead

__all__ = ["HandwritingSynthesis"]


class HandwritingSynthesis(nn.Module):
    """Args:
        alphabet_size: number of distinct characters (one-hot inputs to the window).
        hidden_size: width of every LSTM layer.
        num_layers: LSTM layers (the first carries the window; >= 1).
        mixtures: Gaussians of the output mixture.
        window_mixtures: Gaussians of the window.

    ``forward(points, text, text_lengths=None, state=None) -> (params, state, phi)``:
    ``params`` the head's dict (each ``(B, T, ...)``), the state to continue from, and the
    window weights ``phi`` ``(B, T, U + 1)``. Calling it with ``T = 1`` and the state
    carried is how :meth:`write` samples.
    """

    def __init__(self, alphabet_size: int, hidden_size: int = 400, num_layers: int = 3, mixtures: int = 20,
                 window_mixtures: int = 10):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers: must be >= 1, got {num_layers}")
        self.alphabet_size, self.hidden_size = int(alphabet_size), int(hidden_size)
        self.cell = LSTMCell(3 + alphabet_size, hidden_size)
        self.window = GaussianWindow(hidden_size, window_mixtures)
        self.upper = (Recurrent("lstm", 3 + hidden_size + alphabet_size, hidden_size, num_layers=num_layers - 1,
                                batch_first=True) if num_layers > 1 else None)
        self.head = MixtureDensityHead(hidden_size * (2 if self.upper is not None else 1), mixtures)

    def initial_state(self, batch: int, like: Tensor) -> tuple:
        z = like.new_zeros(batch, self.hidden_size)
        return (z, z, like.new_zeros(batch, self.window.mixtures), like.new_zeros(batch, self.alphabet_size), None)

    def forward(self, points: Tensor, text: Tensor, text_lengths: Tensor | None = None, state: tuple | None = None
                ) -> tuple[dict[str, Tensor], tuple, Tensor]:
        if points.dim() != 3 or points.shape[-1] != 3:
            raise ValueError(f"points: expected (B, T, 3) rows (dx, dy, end), got {tuple(points.shape)}")
        if text.dim() != 2 or text.shape[0] != points.shape[0]:
            raise ValueError(f"text: expected (B={points.shape[0]}, U) character ids, got {tuple(text.shape)}")
        B, T, _ = points.shape
        chars = nn.functional.one_hot(text, self.alphabet_size).to(points.dtype)  # (B, U, C)
        mask = None
        if text_lengths is not None:
            mask = torch.arange(text.shape[1], device=text.device) < text_lengths.to(text.device).unsqueeze(1)
        h, c, kappa, w, upper_state = state if state is not None else self.initial_state(B, points)
        hs, ws, phis = [], [], []
        for x in points.unbind(1):
            h, (h, c) = self.cell(torch.cat([x, w], -1), (h, c))
            w, kappa, phi = self.window(h, kappa, chars, mask)
            hs.append(h)
            ws.append(w)
            phis.append(phi)
        h1 = torch.stack(hs, 1)
        features = h1
        if self.upper is not None:
            out, upper_state = self.upper(torch.cat([points, h1, torch.stack(ws, 1)], -1), upper_state)
            features = torch.cat([h1, out], -1)
        return self.head(features), (h, c, kappa, w, upper_state), torch.stack(phis, 1)
