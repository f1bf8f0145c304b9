"""Encoder→decoder for sequence transduction (translation), with or without attention.

Encoder: embedding + (bidirectional) :class:`~rnnlab.Recurrent` over the source
``(B, S)`` -> memory ``(B, S, D*H)``. Decoder, at step t (Luong et al. 2015's layout,
with any score of :mod:`rnnlab.attention`):

    s_t   = RNN([emb(y_{t-1}); h̃_{t-1}], s_{t-1})        (h̃_{t-1} only with input feeding)
    c_t   = Σ_j α_tj m_j,  α_t = softmax(score(s_t, m))    (attention)
          = the encoder's final summary, at every t        (no attention: Cho et al.'s RNNencdec)
    h̃_t  = tanh(W_c [s_t; c_t]);   p(y_t) = softmax(W_o h̃_t)

Without attention the whole source must pass through the fixed-size summary — the
bottleneck Bahdanau et al. (2014) showed breaks on long sentences.
The decoder starts from ``tanh(W_b [last forward state; first backward state])`` per layer.

The memory need not come from the token encoder: built with ``src_vocab_size=None`` and a
``memory_size``, the model has no encoder and :meth:`EncoderDecoder.start` begins decoding
from any memory ``(B, S, memory_size)`` — a CNN's feature map read as ``S`` positions is
Xu et al.'s (2015) Show, Attend and Tell. The decoder then starts from the mean of the
valid memory and, without attention, reads that mean at every step.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import decoding
from ..attention import Attention, DotAttention, make_attention
from ..recurrent import Recurrent, sequence_mask
from ._state import state_from_dict, state_to_dict

__all__ = ["EncoderDecoder"]


class EncoderDecoder(nn.Module):
    """Token-to-token encoder-decoder.

    Args:
        src_vocab_size, tgt_vocab_size: vocabulary sizes (``src_vocab_size=None``: no
            token encoder; decode from a memory given to :meth:`start`).
        embed_size, hidden_size: widths (the decoder has ``hidden_size`` units).
        cell: ``"gru"`` | ``"lstm"`` | ``"rnn"`` for encoder and decoder.
        num_layers: layers of encoder and of decoder.
        bidirectional: bidirectional encoder.
        attention: ``"additive"`` (Bahdanau), ``"dot"``, ``"general"`` (Luong) or None.
        input_feeding: feed h̃_{t-1} into the next decoder step.
        dropout: on embeddings, between layers and before the output layer.
        pad_id, bos_id, eos_id: special target ids (``pad_id`` also pads sources).
        memory_size: width of the memory without a token encoder (ignored with one:
            its outputs are ``D*H`` wide).

    ``forward(src, src_lengths, tgt_in) -> (logits (B, T, V), attention (B, T, S) or None)``
    where ``tgt_in`` is the target shifted right (``bos`` first).
    ``generate(src, src_lengths, max_len, beam_size=1, alpha=0.0)`` returns a
    :class:`~rnnlab.decoding.Decoded` whose ``extras`` are the attention weights (B, L, S).
    """

    def __init__(self, src_vocab_size: int | None, tgt_vocab_size: int, embed_size: int = 128,
                 hidden_size: int = 256, cell: str = "gru", num_layers: int = 1, bidirectional: bool = True,
                 attention: str | None = "additive", input_feeding: bool = True, dropout: float = 0.1,
                 pad_id: int = 0, bos_id: int = 1, eos_id: int = 2, backend: str = "auto",
                 memory_size: int | None = None):
        super().__init__()
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.attention_kind, self.input_feeding = attention, input_feeding
        H = hidden_size
        self.tgt_embed = nn.Embedding(tgt_vocab_size, embed_size, padding_idx=pad_id)
        self.encoder: Recurrent | None  # None: no token encoder (the caller gives the memory)
        self.attention: Attention | None
        if src_vocab_size is not None:
            self.src_embed = nn.Embedding(src_vocab_size, embed_size, padding_idx=pad_id)
            self.encoder = Recurrent(cell, embed_size, H, num_layers=num_layers, bidirectional=bidirectional,
                                     dropout=dropout, backend=backend)
            M = self.encoder.num_directions * H
        elif memory_size is None or memory_size < 1:
            raise ValueError("memory_size: needed (>= 1) when src_vocab_size is None (no token encoder)")
        else:
            self.encoder = None
            M = int(memory_size)
        self.memory_size = M
        self.decoder = Recurrent(cell, embed_size + (H if input_feeding else 0), H, num_layers=num_layers,
                                 dropout=dropout, backend=backend)
        self.n_parts = len(self.decoder.state_size)
        # each decoder state part from the encoder's final one (its directions side by side)
        # or, without a token encoder, from the memory's summary; widths are the cells' own
        # (an LRU's state holds 2 numbers a mode)
        ins = ([self.encoder.num_directions * w for w in self.encoder.state_size] if self.encoder is not None
               else [M] * self.n_parts)
        self.bridge = nn.ModuleList(nn.Linear(i, w) for i, w in zip(ins, self.decoder.state_size))
        if attention is None:
            self.attention = None
        elif attention == "dot" and M != H:
            self.attention = DotAttention(H)
            self.key_proj = nn.Linear(M, H, bias=False)  # dot scores need equal widths
        else:
            self.attention = make_attention(attention, H, M)
        self.combine = nn.Linear(H + M, H, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(H, tgt_vocab_size)

    # ------------------------------------------------------------------ encoder
    def encode(self, src: Tensor, src_lengths: Tensor) -> dict:
        """Run the encoder; return the decoder's start state (batch-first dict)."""
        if self.encoder is None:
            raise ValueError("encode: this model has no token encoder (src_vocab_size=None); use start(memory)")
        if src.dim() != 2:
            raise ValueError(f"src: expected token ids (B, S), got shape {tuple(src.shape)}")
        B, S = src.shape
        mem, final = self.encoder(self.dropout(self.src_embed(src)), lengths=src_lengths)
        parts = (final,) if isinstance(final, Tensor) else final
        L, D, H = self.encoder.num_layers, self.encoder.num_directions, self.encoder.hidden_size
        mask = sequence_mask(src_lengths, S, B, src.device)
        # fixed-size summary: forward direction at the last step, backward at step 0
        last = mask.sum(1) - 1
        fwd = mem[torch.arange(B, device=mem.device), last, :H]
        summary = torch.cat([fwd, mem[:, 0, H:]], -1) if D == 2 else fwd
        init = [part.view(L, D, B, -1).permute(0, 2, 1, 3).reshape(L, B, -1) for part in parts]
        return self.start(mem, mask, summary, init)

    def start(self, memory: Tensor, mask: Tensor | None = None, summary: Tensor | None = None,
              init: list[Tensor] | None = None) -> dict:
        """The decoder's start state (batch-first dict) for ``memory`` ``(B, S,
        memory_size)``: what attention reads (``mask`` ``(B, S)``: True on valid
        positions), ``summary`` ``(B, memory_size)`` what a decoder without attention
        reads, and ``init`` per state part ``(L, B, memory_size)`` what its initial state
        is made from (both default to the mean of the valid memory)."""
        if memory.dim() != 3 or memory.shape[-1] != self.memory_size:
            raise ValueError(f"memory: expected (B, S, {self.memory_size}), got {tuple(memory.shape)}")
        B, S, _ = memory.shape
        if mask is None:
            mask = torch.ones(B, S, dtype=torch.bool, device=memory.device)
        if summary is None:
            w = mask.to(memory.dtype).unsqueeze(-1)
            summary = (memory * w).sum(1) / w.sum(1).clamp_min(1)
        if init is None:
            init = [summary.unsqueeze(0).expand(self.decoder.num_layers, -1, -1)] * self.n_parts
        parts = [torch.tanh(bridge(x)) for x, bridge in zip(init, self.bridge)]
        state = state_to_dict(parts[0] if self.n_parts == 1 else tuple(parts))
        state["mask"] = mask
        if self.attention is not None:
            keys = self.key_proj(memory) if hasattr(self, "key_proj") else memory
            state["keys"], state["values"] = keys, memory
            state["proj"] = self.attention.project_keys(keys)
        else:
            state["summary"] = summary
        if self.input_feeding:
            state["feed"] = memory.new_zeros(B, self.decoder.hidden_size)
        return state

    # ------------------------------------------------------------------ decoder
    def _context(self, s: Tensor, state: dict) -> tuple[Tensor, Tensor | None]:
        """Context for decoder outputs ``s`` (B, T, H) -> ((B, T, memory_size), weights (B, T, S))."""
        if self.attention is None:
            return state["summary"].unsqueeze(1).expand(-1, s.shape[1], -1), None
        return self.attention(s, state["keys"], state["values"], mask=state["mask"], projected_keys=state["proj"])

    def _step(self, tokens: Tensor, state: dict) -> tuple[Tensor, dict, Tensor | None]:
        """One decoder step: tokens (B,) -> (logits (B, V), new state, attention (B, S))."""
        x = self.dropout(self.tgt_embed(tokens)).unsqueeze(1)
        if self.input_feeding:
            x = torch.cat([x, state["feed"].unsqueeze(1)], -1)
        s, rnn_state = self.decoder(x, state_from_dict(state, self.n_parts))
        ctx, attn = self._context(s, state)
        h_tilde = torch.tanh(self.combine(torch.cat([s, ctx], -1)))[:, 0]
        new = {**state, **state_to_dict(rnn_state)}
        if self.input_feeding:
            new["feed"] = h_tilde
        return self.out(self.dropout(h_tilde)), new, None if attn is None else attn[:, 0]

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> tuple[Tensor, Tensor | None]:
        return self.decode(self.encode(src, src_lengths), tgt_in)

    def decode(self, state: dict, tgt_in: Tensor) -> tuple[Tensor, Tensor | None]:
        """Teacher-forced decoding from a start state (:meth:`encode` or :meth:`start`):
        ``(logits (B, T, V), attention (B, T, S) or None)``."""
        if not self.input_feeding:
            # no step depends on the previous output layer: run the decoder over all steps at once
            s, _ = self.decoder(self.dropout(self.tgt_embed(tgt_in)), state_from_dict(state, self.n_parts))
            ctx, attn = self._context(s, state)
            h_tilde = torch.tanh(self.combine(torch.cat([s, ctx], -1)))
            return self.out(self.dropout(h_tilde)), attn
        logits, attns = [], []
        for tok in tgt_in.unbind(1):
            lg, state, a = self._step(tok, state)
            logits.append(lg)
            attns.append(a)
        if attns[0] is None:
            return torch.stack(logits, 1), None
        return torch.stack(logits, 1), torch.stack([a for a in attns if a is not None], 1)

    def log_prob_step(self, tokens: Tensor, state: dict):
        """The step function :mod:`rnnlab.decoding` expects."""
        logits, state, attn = self._step(tokens, state)
        return torch.log_softmax(logits, -1), state, attn

    @torch.no_grad()
    def generate(self, src: Tensor, src_lengths: Tensor, max_len: int = 50, beam_size: int = 1,
                 alpha: float = 0.0, strategy: str | None = None, temperature: float = 1.0,
                 top_k: int | None = None, generator: torch.Generator | None = None) -> decoding.Decoded:
        """Translate a batch: greedy (beam_size=1), beam search, or ``strategy="sample"``."""
        return self.generate_from(self.encode(src, src_lengths), max_len, beam_size, alpha, strategy, temperature,
                                  top_k, generator)

    @torch.no_grad()
    def generate_from(self, state: dict, max_len: int = 50, beam_size: int = 1, alpha: float = 0.0,
                      strategy: str | None = None, temperature: float = 1.0, top_k: int | None = None,
                      generator: torch.Generator | None = None) -> decoding.Decoded:
        """:meth:`generate` from a start state (:meth:`encode` or :meth:`start`)."""
        B = state["mask"].shape[0]
        args = (self.log_prob_step, state, B, self.bos_id, self.eos_id, max_len)
        if strategy == "sample":
            return decoding.sample(*args, temperature=temperature, top_k=top_k, generator=generator, pad_id=self.pad_id)
        if beam_size > 1:
            return decoding.beam_search(*args, beam_size=beam_size, alpha=alpha, pad_id=self.pad_id)
        return decoding.greedy(*args, pad_id=self.pad_id)
