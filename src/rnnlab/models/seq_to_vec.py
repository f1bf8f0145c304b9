"""Many-to-one: a sequence in, one vector out (classification, regression, forecasting)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..attention import AdditiveAttention
from ..recurrent import Recurrent, sequence_mask
from .conv_front_end import ConvFrontEnd

__all__ = ["SeqToVec", "POOLINGS"]

POOLINGS = ("last", "mean", "max", "attention")


class SeqToVec(nn.Module):
    """[Convolutions over time +] recurrent encoder + pooling over time + a linear head.

    ``forward(x (B, T, input_size), lengths=None) -> (B, output_size)``.

    ``conv_channels`` / ``conv_kernels`` (one entry per layer, default none): a
    :class:`ConvFrontEnd` whose per-step features the recurrent layer reads instead of
    the raw inputs.

    Pooling of the top layer's outputs ``(B, T, D*H)``:
    ``"last"`` — the forward direction at each sequence's last valid step and the backward
    direction at step 0 (its own last step); ``"mean"`` / ``"max"`` over valid steps;
    ``"attention"`` — additive attention with a learned query (weights in
    :meth:`encode`'s second output).
    """

    def __init__(self, input_size: int, output_size: int | None, hidden_size: int = 64, cell: str | type = "lstm",
                 num_layers: int = 1, bidirectional: bool = False, dropout: float = 0.0, pooling: str = "last",
                 backend: str = "auto", conv_channels: Sequence[int] = (), conv_kernels: Sequence[int] = (),
                 **cell_kwargs):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling: unknown pooling {pooling!r}; expected one of {', '.join(POOLINGS)}")
        self.conv = None
        if len(conv_channels) or len(conv_kernels):  # the recurrent layer reads the convolutions' features
            self.conv = ConvFrontEnd(input_size, conv_channels, conv_kernels)
            input_size = self.conv.output_size
        self.rnn = Recurrent(cell, input_size, hidden_size, num_layers=num_layers, bidirectional=bidirectional,
                             dropout=dropout, batch_first=True, backend=backend, **cell_kwargs)
        self.pooling = pooling
        width = self.rnn.num_directions * hidden_size
        if pooling == "attention":
            self.query = nn.Parameter(torch.zeros(width))
            self.attention = AdditiveAttention(width, width)
        self.dropout = nn.Dropout(dropout)
        # output_size None: no head, forward returns the pooled vector (an encoder inside a larger network)
        self.head = nn.Linear(width, output_size) if output_size is not None else nn.Identity()

    def encode(self, x: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """``(pooled (B, D*H), attention weights (B, T) or None)``."""
        if self.conv is not None:
            x = self.conv(x, lengths)
        out, _ = self.rnn(x, lengths=lengths)
        B, T, _ = out.shape
        mask = sequence_mask(lengths, T, B, out.device)
        if self.pooling == "last":
            H = self.rnn.hidden_size
            last = (mask.sum(1) - 1).view(B, 1, 1).expand(B, 1, out.shape[-1])
            pooled = out.gather(1, last).squeeze(1)
            if self.rnn.bidirectional:
                pooled = torch.cat([pooled[:, :H], out[:, 0, H:]], dim=-1)
            return pooled, None
        if self.pooling == "mean":
            m = mask.unsqueeze(-1).to(out.dtype)
            return (out * m).sum(1) / m.sum(1), None
        if self.pooling == "max":
            return out.masked_fill(~mask.unsqueeze(-1), float("-inf")).max(1).values, None
        query = self.query.expand(B, -1)
        return self.attention(query, out, mask=mask)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        pooled, _ = self.encode(x, lengths)
        return self.head(self.dropout(pooled))
