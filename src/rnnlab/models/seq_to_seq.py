"""Aligned many-to-many: one output per input step (tagging, per-step forecasting,
language models)."""

from __future__ import annotations

from torch import Tensor, nn

from ..recurrent import Recurrent

__all__ = ["SeqToSeq"]


class SeqToSeq(nn.Module):
    """Recurrent layer + a linear head applied at every step.

    ``forward(x (B, T, input_size), state=None, lengths=None) -> (y (B, T, output_size), state)``.
    Pass the returned state back in to carry it across chunks of a long stream
    (truncated BPTT). If ``num_embeddings`` is given, ``x`` is ``(B, T)`` token ids, embedded
    first (a language model); ``tie_weights`` then shares the embedding with the head
    (Press & Wolf 2017; needs ``embed_size == hidden_size``).
    """

    def __init__(self, input_size: int, output_size: int, hidden_size: int = 64, cell: str | type = "lstm",
                 num_layers: int = 1, bidirectional: bool = False, dropout: float = 0.0, backend: str = "auto",
                 num_embeddings: int | None = None, tie_weights: bool = False, **cell_kwargs):
        super().__init__()
        self.embedding = nn.Embedding(num_embeddings, input_size) if num_embeddings else None
        self.rnn = Recurrent(cell, input_size, hidden_size, num_layers=num_layers, bidirectional=bidirectional,
                             dropout=dropout, batch_first=True, backend=backend, **cell_kwargs)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.rnn.num_directions * hidden_size, output_size)
        if tie_weights:
            if self.embedding is None or input_size != self.rnn.num_directions * hidden_size \
                    or output_size != num_embeddings:
                raise ValueError("tie_weights: needs num_embeddings == output_size and input_size == "
                                 "hidden output width")
            self.head.weight = self.embedding.weight

    def forward(self, x: Tensor, state=None, lengths: Tensor | None = None):
        if self.embedding is not None:
            if x.dim() != 2:
                raise ValueError(f"x: expected token ids (B, T), got shape {tuple(x.shape)}")
            x = self.embedding(x)
        x = self.dropout(x) if self.embedding is not None else x
        out, state = self.rnn(x, state, lengths=lengths)
        return self.head(self.dropout(out)), state
