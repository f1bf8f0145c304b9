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
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import decoding
from ..attention import DotAttention, make_attention
from ..recurrent import Recurrent, sequence_mask
from ._state import state_from_dict, state_to_dict

__all__ = ["EncoderDecoder"]


class EncoderDecoder(nn.Module):
    """Token-to-token encoder-decoder.

    Args:
        src_vocab_size, tgt_vocab_size: vocabulary sizes.
        embed_size, hidden_size: widths (the decoder has ``hidden_size`` units).
        cell: ``"gru"`` | ``"lstm"`` | ``"rnn"`` for encoder and decoder.
        num_layers: layers of encoder and of decoder.
        bidirectional: bidirectional encoder.
        attention: ``"additive"`` (Bahdanau), ``"dot"``, ``"general"`` (Luong) or None.
        input_feeding: feed h̃_{t-1} into the next decoder step.
        dropout: on embeddings, between layers and before the output layer.
        pad_id, bos_id, eos_id: special target ids (``pad_id`` also pads sources).

    ``forward(src, src_lengths, tgt_in) -> (logits (B, T, V), attention (B, T, S) or None)``
    where ``tgt_in`` is the target shifted right (``bos`` first).
    ``generate(src, src_lengths, max_len, beam_size=1, alpha=0.0)`` returns a
    :class:`~rnnlab.decoding.Decoded` whose ``extras`` are the attention weights (B, L, S).
    """

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, embed_size: int = 128, hidden_size: int = 256,
                 cell: str = "gru", num_layers: int = 1, bidirectional: bool = True,
                 attention: str | None = "additive", input_feeding: bool = True, dropout: float = 0.1,
                 pad_id: int = 0, bos_id: int = 1, eos_id: int = 2, backend: str = "auto"):
        super().__init__()
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.attention_kind, self.input_feeding = attention, input_feeding
        H = hidden_size
        self.src_embed = nn.Embedding(src_vocab_size, embed_size, padding_idx=pad_id)
        self.tgt_embed = nn.Embedding(tgt_vocab_size, embed_size, padding_idx=pad_id)
        self.encoder = Recurrent(cell, embed_size, H, num_layers=num_layers, bidirectional=bidirectional,
                                 dropout=dropout, backend=backend)
        D = self.encoder.num_directions
        self.decoder = Recurrent(cell, embed_size + (H if input_feeding else 0), H, num_layers=num_layers,
                                 dropout=dropout, backend=backend)
        self.n_parts = len(self.decoder.state_size)
        self.bridge = nn.ModuleList(nn.Linear(D * H, H) for _ in range(self.n_parts))
        if attention is None:
            self.attention = None
        elif attention == "dot" and D * H != H:
            self.attention = DotAttention(H)
            self.key_proj = nn.Linear(D * H, H, bias=False)  # dot scores need equal widths
        else:
            self.attention = make_attention(attention, H, D * H)
        self.combine = nn.Linear(H + D * H, H, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(H, tgt_vocab_size)

    # ------------------------------------------------------------------ encoder
    def encode(self, src: Tensor, src_lengths: Tensor) -> dict:
        """Run the encoder; return the decoder's start state (batch-first dict)."""
        if src.dim() != 2:
            raise ValueError(f"src: expected token ids (B, S), got shape {tuple(src.shape)}")
        B, S = src.shape
        mem, final = self.encoder(self.dropout(self.src_embed(src)), lengths=src_lengths)
        parts = (final,) if isinstance(final, Tensor) else final
        L, D, H = self.encoder.num_layers, self.encoder.num_directions, self.encoder.hidden_size
        init = []
        for part, bridge in zip(parts, self.bridge):
            per_layer = part.view(L, D, B, H).permute(0, 2, 1, 3).reshape(L, B, D * H)
            init.append(torch.tanh(bridge(per_layer)))
        state = state_to_dict(init[0] if self.n_parts == 1 else tuple(init))
        state["mask"] = sequence_mask(src_lengths, S, B, src.device)
        if self.attention is not None:
            keys = self.key_proj(mem) if hasattr(self, "key_proj") else mem
            state["keys"], state["values"] = keys, mem
            state["proj"] = self.attention.project_keys(keys)
        else:
            # fixed-size summary: forward direction at the last step, backward at step 0
            last = state["mask"].sum(1) - 1
            fwd = mem[torch.arange(B, device=mem.device), last, :H]
            state["summary"] = torch.cat([fwd, mem[:, 0, H:]], -1) if D == 2 else fwd
        if self.input_feeding:
            state["feed"] = mem.new_zeros(B, H)
        return state

    # ------------------------------------------------------------------ decoder
    def _context(self, s: Tensor, state: dict) -> tuple[Tensor, Tensor | None]:
        """Context for decoder outputs ``s`` (B, T, H) -> ((B, T, D*H), weights (B, T, S))."""
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
        state = self.encode(src, src_lengths)
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
        return torch.stack(logits, 1), (torch.stack(attns, 1) if attns[0] is not None else None)

    def log_prob_step(self, tokens: Tensor, state: dict):
        """The step function :mod:`rnnlab.decoding` expects."""
        logits, state, attn = self._step(tokens, state)
        return torch.log_softmax(logits, -1), state, attn

    @torch.no_grad()
    def generate(self, src: Tensor, src_lengths: Tensor, max_len: int = 50, beam_size: int = 1,
                 alpha: float = 0.0, strategy: str | None = None, temperature: float = 1.0,
                 top_k: int | None = None, generator: torch.Generator | None = None) -> decoding.Decoded:
        """Translate a batch: greedy (beam_size=1), beam search, or ``strategy="sample"``."""
        state = self.encode(src, src_lengths)
        B = src.shape[0]
        args = (self.log_prob_step, state, B, self.bos_id, self.eos_id, max_len)
        if strategy == "sample":
            return decoding.sample(*args, temperature=temperature, top_k=top_k, generator=generator, pad_id=self.pad_id)
        if beam_size > 1:
            return decoding.beam_search(*args, beam_size=beam_size, alpha=alpha, pad_id=self.pad_id)
        return decoding.greedy(*args, pad_id=self.pad_id)
