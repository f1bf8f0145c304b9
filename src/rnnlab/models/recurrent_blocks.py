"""Deep stacks of recurrent layers the way the parallel-recurrence papers build them:
residual blocks, each a normalised recurrent mixer and an MLP.

A block (pre-norm, as the minGRU paper's language model and the LRU's deep model)::

    u = x + Dropout(Linear_out(Recurrent(CausalConv(LayerNorm(x)))))
    y = u + Dropout(MLP(LayerNorm(u)))

``CausalConv`` is a short depthwise convolution over time (kernel ``conv_kernel``; the
minGRU paper's language model uses 4; 0 leaves it out): it mixes a few neighbouring
steps before the recurrence, which linear recurrences, whose state update cannot look at
the state, profit from. The recurrence runs ``expansion × d_model`` units wide and is
projected back. Any registered cell works (``"mingru"``, ``"minlstm"``, ``"lru"``, also
``"lstm"``), and a stack of linear cells trains on the scan backend.

Every block carries a state — the convolution's last ``conv_kernel − 1`` inputs and the
cell's state — so a :class:`RecurrentBlockLM` generates one token at a time in constant
memory, like the LSTM: ``model(ids, state) -> (logits, state)``, the interface of
:class:`~rnnlab.models.SeqToSeq` language models.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..recurrent import Recurrent

__all__ = ["CausalConv", "RecurrentBlock", "RecurrentBlockStack", "RecurrentBlockLM", "RecurrentBlockClassifier"]

BlockState = tuple[Tensor, ...]  # (convolution buffer (B, k-1, d) if any, cell state parts (1, B, S)...)


class CausalConv(nn.Module):
    """Depthwise convolution over time that sees only the present and the past:
    ``(B, T, d) -> (B, T, d)``, with the last ``kernel − 1`` inputs as its state."""

    def __init__(self, channels: int, kernel: int):
        super().__init__()
        if kernel < 1:
            raise ValueError(f"conv_kernel: must be >= 1 (0 leaves the convolution out), got {kernel}")
        self.kernel = int(kernel)
        self.conv = nn.Conv1d(channels, channels, kernel, groups=channels)

    def forward(self, x: Tensor, past: Tensor | None = None,
                lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(y, state)``; with ``lengths`` the state is each sequence's last inputs before
        its own length (padding is never carried on)."""
        if past is None:
            past = x.new_zeros(x.shape[0], self.kernel - 1, x.shape[2])
        full = torch.cat([past, x], 1)
        y = self.conv(full.transpose(1, 2)).transpose(1, 2)
        if lengths is None:
            return y, full[:, full.shape[1] - (self.kernel - 1):]
        # sequence b's last k-1 inputs sit at full[b, len_b : len_b + k - 1]
        index = torch.as_tensor(lengths, device=x.device).view(-1, 1) + torch.arange(self.kernel - 1, device=x.device)
        return y, full.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[2]))


class RecurrentBlock(nn.Module):
    """One residual block (module docstring). ``forward(x (B, T, d), state=None,
    lengths=None) -> (y (B, T, d), state)``; with ``lengths`` the state is each
    sequence's at its own length (the outputs past it are not zeroed: the residual path
    carries the padding's inputs through)."""

    def __init__(self, d_model: int, cell: str | type = "mingru", expansion: float = 1.5, conv_kernel: int = 4,
                 mlp_ratio: float = 4.0, dropout: float = 0.0, **cell_kwargs):
        super().__init__()
        width = max(1, round(expansion * d_model))
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.conv = CausalConv(d_model, conv_kernel) if conv_kernel else None
        self.rnn = Recurrent(cell, d_model, width, batch_first=True, **cell_kwargs)
        self.out = nn.Linear(width, d_model)
        hidden = max(1, round(mlp_ratio * d_model))
        self.mlp = nn.Sequential(nn.Linear(d_model, hidden), nn.GELU(), nn.Linear(hidden, d_model))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, state: BlockState | None = None,
                lengths: Tensor | None = None) -> tuple[Tensor, BlockState]:
        u = self.norm1(x)
        past, cell_state = None, None
        if state is not None:
            past, cell_state = (state[0], state[1:]) if self.conv is not None else (None, state)
        new: tuple[Tensor, ...] = ()
        if self.conv is not None:
            u, buffer = self.conv(u, past, lengths)
            new = (buffer,)
        u, h = self.rnn(u, None if cell_state is None else tuple(cell_state), lengths=lengths)
        x = x + self.dropout(self.out(u))
        x = x + self.dropout(self.mlp(self.norm2(x)))
        return x, new + ((h,) if isinstance(h, Tensor) else tuple(h))


class RecurrentBlockStack(nn.Module):
    """``num_blocks`` :class:`RecurrentBlock` s over an input projection to ``d_model``
    and a final LayerNorm: ``(B, T, input_size) -> (B, T, d_model)``, with a state per
    block (a tuple of block states)."""

    def __init__(self, input_size: int, d_model: int = 256, num_blocks: int = 4, cell: str | type = "mingru",
                 expansion: float = 1.5, conv_kernel: int = 4, mlp_ratio: float = 4.0, dropout: float = 0.0,
                 **cell_kwargs):
        super().__init__()
        if num_blocks < 1:
            raise ValueError(f"num_blocks: must be >= 1, got {num_blocks}")
        self.input = nn.Linear(input_size, d_model) if input_size != d_model else nn.Identity()
        self.blocks = nn.ModuleList(RecurrentBlock(d_model, cell, expansion, conv_kernel, mlp_ratio, dropout,
                                                   **cell_kwargs) for _ in range(num_blocks))
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: Tensor, state: tuple[BlockState, ...] | None = None,
                lengths: Tensor | None = None) -> tuple[Tensor, tuple[BlockState, ...]]:
        if state is not None and len(state) != len(self.blocks):
            raise ValueError(f"state: expected one state per block ({len(self.blocks)}), got {len(state)}")
        x = self.input(x)
        new = []
        for k, block in enumerate(self.blocks):
            x, s = block(x, None if state is None else state[k], lengths)
            new.append(s)
        return self.norm(x), tuple(new)


class RecurrentBlockLM(nn.Module):
    """A language model on a :class:`RecurrentBlockStack`: ids ``(B, T)`` and a state
    (None: the start) -> logits ``(B, T, vocab)`` and the state after the last token.
    The output layer shares the embedding's weights (``tie_weights``)."""

    def __init__(self, vocab_size: int, d_model: int = 256, num_blocks: int = 4, cell: str | type = "mingru",
                 expansion: float = 1.5, conv_kernel: int = 4, mlp_ratio: float = 4.0, dropout: float = 0.0,
                 tie_weights: bool = True, **cell_kwargs):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, d_model)
        self.stack = RecurrentBlockStack(d_model, d_model, num_blocks, cell, expansion, conv_kernel, mlp_ratio,
                                         dropout, **cell_kwargs)
        self.head = nn.Linear(d_model, vocab_size)
        # GPT-2's scale: with the default N(0, 1) a tied output layer's logits start at
        # ~sqrt(d_model) (the final LayerNorm's output has unit entries) and the loss at ~50
        nn.init.normal_(self.embedding.weight, std=0.02)
        if tie_weights:
            self.head.weight = self.embedding.weight

    def forward(self, ids: Tensor, state: tuple[BlockState, ...] | None = None,
                lengths: Tensor | None = None) -> tuple[Tensor, tuple[BlockState, ...]]:
        if ids.dim() != 2:
            raise ValueError(f"ids: expected token ids (B, T), got shape {tuple(ids.shape)}")
        h, state = self.stack(self.embedding(ids), state, lengths)
        return self.head(h), state


class RecurrentBlockClassifier(nn.Module):
    """Many-to-one on a :class:`RecurrentBlockStack`: ``(B, T, input_size)`` (and
    ``lengths``) -> ``(B, output_size)`` from the stack's output at each sequence's last
    step — :class:`~rnnlab.models.SeqToVec`'s task with the papers' deep stack, where a
    cell that is linear through and through (the LRU) gets the nonlinearity of the blocks'
    MLPs between its layers."""

    def __init__(self, input_size: int, output_size: int, d_model: int = 64, num_blocks: int = 2,
                 cell: str | type = "lru", expansion: float = 1.0, conv_kernel: int = 0, mlp_ratio: float = 2.0,
                 dropout: float = 0.0, **cell_kwargs):
        super().__init__()
        self.stack = RecurrentBlockStack(input_size, d_model, num_blocks, cell, expansion, conv_kernel, mlp_ratio,
                                         dropout, **cell_kwargs)
        self.head = nn.Linear(d_model, output_size)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        h, _ = self.stack(x, lengths=lengths)
        if lengths is None:
            last = h[:, -1]
        else:
            last = h[torch.arange(h.shape[0], device=h.device), torch.as_tensor(lengths, device=h.device) - 1]
        return self.head(last)
