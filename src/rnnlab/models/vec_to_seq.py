"""One-to-many: a vector in, a sequence out (captioning, generation from a code)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import decoding
from ..recurrent import Recurrent
from ._state import state_from_dict, state_to_dict

__all__ = ["VecToSeq"]


class VecToSeq(nn.Module):
    """A recurrent decoder conditioned on a vector ``v`` ``(B, vector_size)``.

    The vector sets the initial state (``init_from_vector``: ``s_0 = tanh(W v + b)`` for
    every layer and state part) and/or is concatenated to every step's input
    (``feed_vector``). Each step's input is the previous output: token ids embedded
    (``num_embeddings`` given; outputs are logits over ``output_size`` tokens) or the
    previous continuous output ``(B, output_size)``.

    ``forward(v, inputs, lengths=None) -> (B, T, output_size)`` with teacher forcing:
    ``inputs`` are the targets shifted right by one (``bos`` / zeros first).
    ``generate(v, max_len, ...)`` runs autoregressively, one state-carrying step at a time.
    """

    def __init__(self, vector_size: int, output_size: int, hidden_size: int = 128, cell: str | type = "lstm",
                 num_layers: int = 1, dropout: float = 0.0, init_from_vector: bool = True,
                 feed_vector: bool = False, num_embeddings: int | None = None, embed_size: int = 64,
                 backend: str = "auto", **cell_kwargs):
        super().__init__()
        if not (init_from_vector or feed_vector):
            raise ValueError("init_from_vector / feed_vector: at least one must be True, or the vector is unused")
        self.vector_size, self.output_size = int(vector_size), int(output_size)
        self.feed_vector, self.init_from_vector = feed_vector, init_from_vector
        self.embedding = nn.Embedding(num_embeddings, embed_size) if num_embeddings else None
        step_in = embed_size if num_embeddings else output_size
        self.rnn = Recurrent(cell, step_in + (vector_size if feed_vector else 0), hidden_size,
                             num_layers=num_layers, dropout=dropout, batch_first=True, backend=backend, **cell_kwargs)
        self.n_parts = len(self.rnn.state_size)
        if init_from_vector:
            self.init = nn.Linear(vector_size, num_layers * sum(self.rnn.state_size))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, output_size)

    def initial_state(self, v: Tensor):
        """The decoder's state before the first step, from ``v``."""
        if v.dim() != 2 or v.shape[1] != self.vector_size:
            raise ValueError(f"v: expected (B, {self.vector_size}), got {tuple(v.shape)}")
        if not self.init_from_vector:
            return None
        B, L = v.shape[0], self.rnn.num_layers
        parts = torch.tanh(self.init(v)).split([L * w for w in self.rnn.state_size], -1)  # part-major
        s = tuple(p.view(B, L, -1).transpose(0, 1).contiguous() for p in parts)
        return s[0] if self.n_parts == 1 else s

    def _inputs(self, v: Tensor, inputs: Tensor) -> Tensor:
        x = self.embedding(inputs) if self.embedding is not None else inputs
        if self.feed_vector:
            x = torch.cat([x, v.unsqueeze(1).expand(-1, x.shape[1], -1)], dim=-1)
        return self.dropout(x)

    def forward(self, v: Tensor, inputs: Tensor, lengths: Tensor | None = None) -> Tensor:
        out, _ = self.rnn(self._inputs(v, inputs), self.initial_state(v), lengths=lengths)
        return self.head(self.dropout(out))

    def step(self, prev: Tensor, state: dict) -> tuple[Tensor, dict]:
        """One step: ``prev`` (B,) ids or (B, output_size) values -> (output (B, O), state)."""
        v = state["vector"]
        rnn_state = state_from_dict(state, self.n_parts) if "h" in state else None
        out, rnn_state = self.rnn(self._inputs(v, prev.unsqueeze(1)), rnn_state)
        return self.head(out[:, 0]), {"vector": v, **state_to_dict(rnn_state)}

    def start_state(self, v: Tensor) -> dict:
        s = self.initial_state(v)
        return {"vector": v, **(state_to_dict(s) if s is not None else {})}

    @torch.no_grad()
    def generate(self, v: Tensor, max_len: int, bos_id: int = 1, eos_id: int = 2, strategy: str = "greedy",
                 beam_size: int = 5, temperature: float = 1.0, top_k: int | None = None,
                 generator: torch.Generator | None = None):
        """Token mode: a :class:`~rnnlab.decoding.Decoded` (strategy ``greedy`` | ``sample`` |
        ``beam``). Continuous mode: the generated values ``(B, max_len, output_size)``."""
        state = self.start_state(v)
        if self.embedding is None:
            prev, outs = v.new_zeros(v.shape[0], self.output_size), []
            for _ in range(max_len):
                prev, state = self.step(prev, state)
                outs.append(prev)
            return torch.stack(outs, 1)

        def step(tokens, st):
            logits, st = self.step(tokens, st)
            return torch.log_softmax(logits, -1), st, None

        B = v.shape[0]
        if strategy == "greedy":
            return decoding.greedy(step, state, B, bos_id, eos_id, max_len)
        if strategy == "sample":
            return decoding.sample(step, state, B, bos_id, eos_id, max_len, temperature, top_k, generator)
        if strategy == "beam":
            return decoding.beam_search(step, state, B, bos_id, eos_id, max_len, beam_size)
        raise ValueError(f"strategy: expected 'greedy', 'sample' or 'beam', got {strategy!r}")
