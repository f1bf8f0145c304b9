"""The Transformer (Vaswani et al. 2017), attention's successor, beside the recurrent networks.

Built from torch's own layers — ``nn.TransformerEncoderLayer`` / ``nn.TransformerDecoderLayer``
(pre-layer-norm, GELU) and ``scaled_dot_product_attention`` — with sinusoidal or learned
positions, padding masks and causal masks. Three models, each with the interface of the
recurrent model it stands beside, so the apps swap one for the other:

- :class:`TransformerEncoderDecoder` — as :class:`~rnnlab.models.EncoderDecoder`:
  ``forward(src, src_lengths, tgt_in)``, ``generate`` (greedy / beam / sampling through
  :mod:`rnnlab.decoding`) whose ``extras`` are the last cross-attention layer's weights
  (averaged over heads) for the heatmaps. Decoding keeps each layer's keys and values
  (a cache), so a step costs attention over the tokens so far, not a rerun of the prefix.
- :class:`TransformerClassifier` — as :class:`~rnnlab.models.SeqToVec`:
  ``forward(x (B, T, F), lengths) -> (B, classes)``, mean-pooled over valid steps;
  ``encode`` for a pooled vector without the head.
- :class:`TransformerLM` — as the language models textgen trains:
  ``forward(ids (B, T), state=None) -> (logits, state)``, where the state is a
  :class:`KVCache`. Feeding tokens with the state continues the sequence: positions go
  on from the cache, and each layer attends over the cached keys and values. The state
  of a recurrent network has a fixed size; the cache grows by ``2 × layers × d_model``
  numbers a token — the difference ``rnnlab lab successor`` measures.

Positions are absolute, so a sequence is at most ``max_positions`` long. Where generation
would run past it, the cache is rebuilt from the last ``max_positions // 2`` tokens (a
sliding window; the model then sees less context than the stream has had).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .. import decoding
from ..recurrent import sequence_mask

__all__ = ["POSITIONS", "PositionalEncoding", "TransformerEncoderDecoder", "TransformerClassifier",
           "TokenTransformerClassifier", "TransformerLM", "KVCache", "TransformerOptions", "check_heads"]

POSITIONS = ("sinusoidal", "learned")
MODELS = ("rnn", "transformer")


@dataclass
class TransformerOptions:
    """The config keys of ``--set model=transformer``, shared by the apps that offer it
    (each app's config inherits them and may change their defaults). ``model``: rnn (the
    app's recurrent network) | transformer. ``d_model``, ``heads`` (``d_model`` divisible
    by ``heads``), ``transformer_layers``, ``ff_size``: the Transformer's sizes (its
    dropout is the app's ``dropout``). ``max_positions``: the longest sequence it reads;
    ``positions``: sinusoidal | learned."""

    model: str = "rnn"
    d_model: int = 256
    heads: int = 4
    transformer_layers: int = 3
    ff_size: int = 1024
    max_positions: int = 512
    positions: str = "sinusoidal"

    def check_transformer(self, longest: int, longest_key: str, models: tuple[str, ...] = MODELS) -> None:
        """In a config's ``__post_init__``: the keys' values (``model`` one of ``models``),
        and that sequences of ``longest`` steps (the config key ``longest_key``) fit in
        ``max_positions``."""
        if self.model not in models:
            raise ValueError(f"model: expected one of {', '.join(models)}, got {self.model!r}")
        if self.positions not in POSITIONS:
            raise ValueError(f"positions: expected one of {', '.join(POSITIONS)}, got {self.positions!r}")
        for key in ("d_model", "heads", "transformer_layers", "ff_size", "max_positions"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key}: must be >= 1, got {getattr(self, key)}")
        check_heads(self.d_model, self.heads)
        if self.model == "transformer" and longest > self.max_positions:
            raise ValueError(f"{longest_key}={longest} is longer than max_positions={self.max_positions}, the "
                             f"longest sequence the Transformer reads; raise max_positions or lower {longest_key}")

    def transformer_sizes(self, dropout: float) -> dict:
        """The keyword arguments the Transformer models take."""
        return dict(d_model=self.d_model, heads=self.heads, num_layers=self.transformer_layers,
                    ff_size=self.ff_size, dropout=dropout, max_positions=self.max_positions,
                    positions=self.positions)


def check_heads(d_model: int, heads: int, key: str = "d_model") -> None:
    """``d_model`` must split evenly over the heads (torch's attention requires it)."""
    if heads < 1 or d_model < 1 or d_model % heads:
        raise ValueError(f"{key}={d_model} does not divide into heads={heads}: each head gets d_model / heads "
                         f"features; choose e.g. {key}={max(heads, 1) * max(1, round(d_model / max(heads, 1)))}")


class PositionalEncoding(nn.Module):
    """Adds position ``offset + t`` to step ``t`` of ``x`` ``(B, T, d_model)``: Vaswani et
    al.'s sinusoids (fixed, extrapolate to any length up to ``max_positions``) or a
    learned table. ``max_positions`` bounds both."""

    def __init__(self, d_model: int, max_positions: int = 1024, kind: str = "sinusoidal"):
        super().__init__()
        if kind not in POSITIONS:
            raise ValueError(f"positions: expected one of {', '.join(POSITIONS)}, got {kind!r}")
        if max_positions < 1:
            raise ValueError(f"max_positions: must be >= 1, got {max_positions}")
        self.kind, self.max_positions = kind, int(max_positions)
        if kind == "learned":
            self.table = nn.Parameter(torch.randn(max_positions, d_model) * 0.02)
        else:
            pos = torch.arange(max_positions, dtype=torch.float32).unsqueeze(1)
            freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
            table = torch.zeros(max_positions, d_model)
            table[:, 0::2] = torch.sin(pos * freq)
            table[:, 1::2] = torch.cos(pos * freq[: d_model // 2])
            self.register_buffer("table", table, persistent=False)  # recomputed, not stored in the weights

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        end = offset + x.shape[1]
        if end > self.max_positions:
            raise ValueError(f"max_positions: a sequence of {end} positions is longer than this Transformer's "
                             f"max_positions={self.max_positions}; shorten it or build the model with more positions")
        return x + self.table[offset:end].to(x.dtype)


def _init_embeddings(d_model: int, *embeddings: nn.Embedding) -> None:
    """N(0, 1/d_model): scaled by sqrt(d_model) on the way in, an embedding starts at unit
    scale, and as the tied output layer its logits start near zero (N(0, 1) would start
    them at sqrt(d_model) times that, a loss in the tens)."""
    with torch.no_grad():
        for e in embeddings:
            e.weight.normal_(0.0, d_model ** -0.5)
            if e.padding_idx is not None:
                e.weight[e.padding_idx].zero_()


def _encoder_layer(d_model: int, heads: int, ff: int, dropout: float) -> nn.TransformerEncoderLayer:
    return nn.TransformerEncoderLayer(d_model, heads, ff, dropout, activation="gelu", batch_first=True,
                                      norm_first=True)


def _split_heads(x: Tensor, heads: int) -> Tensor:
    B, T, D = x.shape
    return x.view(B, T, heads, D // heads).transpose(1, 2)  # (B, heads, T, dh)


def _merge_heads(x: Tensor) -> Tensor:
    B, H, T, dh = x.shape
    return x.transpose(1, 2).reshape(B, T, H * dh)


def _projections(attn: nn.MultiheadAttention) -> tuple[tuple[Tensor, ...], tuple[Tensor | None, ...]]:
    """``nn.MultiheadAttention``'s packed input projection as (W_q, W_k, W_v), (b_q, b_k, b_v)."""
    w = attn.in_proj_weight.chunk(3, 0)
    b = attn.in_proj_bias.chunk(3, 0) if attn.in_proj_bias is not None else (None, None, None)
    return w, b


def _self_attention_step(attn: nn.MultiheadAttention, x: Tensor, extend) -> Tensor:
    """``attn`` for new steps ``x`` ``(B, T, D)`` that attend to the cached steps and,
    causally, to each other. ``extend(k, v)`` stores the new steps' keys and values
    ``(B, heads, T, dh)`` and returns all of them, cached ones first."""
    (wq, wk, wv), (bq, bk, bv) = _projections(attn)
    h = attn.num_heads
    q, k, v = (_split_heads(F.linear(x, w, b), h) for w, b in ((wq, bq), (wk, bk), (wv, bv)))
    k, v = extend(k, v)
    T, S = q.shape[2], k.shape[2]
    # new step i (at position S - T + i) sees every cached step and new steps <= i
    mask = None if T == 1 else torch.ones(T, S, dtype=torch.bool, device=x.device).tril(S - T)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return attn.out_proj(_merge_heads(out))


class TransformerEncoderDecoder(nn.Module):
    """A Transformer translator with :class:`~rnnlab.models.EncoderDecoder`'s interface.

    Args:
        src_vocab_size, tgt_vocab_size: vocabulary sizes.
        d_model, heads, ff_size: widths (``d_model`` divisible by ``heads``).
        num_layers: encoder layers and decoder layers (each).
        dropout: inside the layers and on the embeddings.
        max_positions, positions: see :class:`PositionalEncoding`.
        pad_id, bos_id, eos_id: special ids; ``tie_weights``: the target embedding is the
            output layer's weight (Press & Wolf 2017, as Vaswani et al.).

    ``forward(src, src_lengths, tgt_in) -> (logits (B, T, V), None)``;
    ``generate(src, src_lengths, max_len, beam_size=1, alpha=0.0)`` returns a
    :class:`~rnnlab.decoding.Decoded` whose ``extras`` are the last decoder layer's
    cross-attention weights ``(B, L, S)``, averaged over heads.
    """

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, d_model: int = 256, heads: int = 4,
                 num_layers: int = 3, ff_size: int = 1024, dropout: float = 0.1, max_positions: int = 512,
                 positions: str = "sinusoidal", pad_id: int = 0, bos_id: int = 1, eos_id: int = 2,
                 tie_weights: bool = True):
        super().__init__()
        check_heads(d_model, heads)
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.d_model, self.heads = d_model, heads
        self.src_embed = nn.Embedding(src_vocab_size, d_model, padding_idx=pad_id)
        self.tgt_embed = nn.Embedding(tgt_vocab_size, d_model, padding_idx=pad_id)
        self.positions = PositionalEncoding(d_model, max_positions, positions)
        self.dropout = nn.Dropout(dropout)
        self.encoder = nn.TransformerEncoder(_encoder_layer(d_model, heads, ff_size, dropout), num_layers,
                                             norm=nn.LayerNorm(d_model), enable_nested_tensor=False)
        layer = nn.TransformerDecoderLayer(d_model, heads, ff_size, dropout, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.decoder = nn.TransformerDecoder(layer, num_layers, norm=nn.LayerNorm(d_model))
        self.out = nn.Linear(d_model, tgt_vocab_size)
        _init_embeddings(d_model, self.src_embed, self.tgt_embed)
        if tie_weights:
            self.out.weight = self.tgt_embed.weight

    @property
    def max_positions(self) -> int:
        return self.positions.max_positions

    def _embed(self, embedding: nn.Embedding, ids: Tensor, offset: int = 0) -> Tensor:
        return self.dropout(self.positions(embedding(ids) * math.sqrt(self.d_model), offset))

    def encode(self, src: Tensor, src_lengths: Tensor) -> dict:
        """The decoder's start state: the encoded source ``memory`` (B, S, d_model), its
        ``mask`` (True on real tokens) and an empty cache."""
        if src.dim() != 2:
            raise ValueError(f"src: expected token ids (B, S), got shape {tuple(src.shape)}")
        B, S = src.shape
        mask = sequence_mask(src_lengths, S, B, src.device)
        memory = self.encoder(self._embed(self.src_embed, src), src_key_padding_mask=~mask)
        return {"memory": memory, "mask": mask, "steps": torch.zeros(B, dtype=torch.long, device=src.device)}

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> tuple[Tensor, None]:
        state = self.encode(src, src_lengths)
        T = tgt_in.shape[1]
        causal = nn.Transformer.generate_square_subsequent_mask(T, device=tgt_in.device, dtype=torch.bool)
        h = self.decoder(self._embed(self.tgt_embed, tgt_in), state["memory"], tgt_mask=causal, tgt_is_causal=True,
                         memory_key_padding_mask=~state["mask"])
        return self.out(h), None

    def _step(self, tokens: Tensor, state: dict) -> tuple[Tensor, dict, Tensor]:
        """One decoder step with the layers' keys / values cached in ``state``:
        ``(logits (N, V), new state, last layer's cross-attention (N, S))``."""
        offset = int(state["steps"][0]) if state["steps"].numel() else 0
        x = self._embed(self.tgt_embed, tokens.unsqueeze(1), offset)
        new = dict(state)
        memory, pad = state["memory"], ~state["mask"]
        cross = None
        for i, layer in enumerate(self.decoder.layers):
            # pre-norm layer, as nn.TransformerDecoderLayer(norm_first=True) computes it (dropout is off)
            def extend(k: Tensor, v: Tensor, i: int = i) -> tuple[Tensor, Tensor]:
                if f"k{i}" in state:  # short sequences: a copy per step costs less than a buffer's bookkeeping
                    k, v = torch.cat([state[f"k{i}"], k], 2), torch.cat([state[f"v{i}"], v], 2)
                new[f"k{i}"], new[f"v{i}"] = k, v
                return k, v

            x = x + _self_attention_step(layer.self_attn, layer.norm1(x), extend)
            ca, weights = layer.multihead_attn(layer.norm2(x), memory, memory, key_padding_mask=pad,
                                               need_weights=i == len(self.decoder.layers) - 1)
            cross = weights if weights is not None else cross
            x = x + ca
            x = x + layer.linear2(layer.activation(layer.linear1(layer.norm3(x))))
        new["steps"] = state["steps"] + 1
        norm = self.decoder.norm
        assert norm is not None and cross is not None  # built with a final norm; the last layer gives its weights
        return self.out(norm(x))[:, 0], new, cross[:, 0]

    def log_prob_step(self, tokens: Tensor, state: dict):
        """The step function :mod:`rnnlab.decoding` expects."""
        logits, state, attn = self._step(tokens, state)
        return torch.log_softmax(logits, -1), state, attn

    @torch.no_grad()
    def generate(self, src: Tensor, src_lengths: Tensor, max_len: int = 50, beam_size: int = 1,
                 alpha: float = 0.0, strategy: str | None = None, temperature: float = 1.0,
                 top_k: int | None = None, generator: torch.Generator | None = None) -> decoding.Decoded:
        """Translate a batch: greedy (beam_size=1), beam search, or ``strategy="sample"``;
        at most ``max_positions`` tokens."""
        state = self.encode(src, src_lengths)
        max_len = min(max_len, self.max_positions)
        args = (self.log_prob_step, state, src.shape[0], self.bos_id, self.eos_id, max_len)
        if strategy == "sample":
            return decoding.sample(*args, temperature=temperature, top_k=top_k, generator=generator, pad_id=self.pad_id)
        if beam_size > 1:
            return decoding.beam_search(*args, beam_size=beam_size, alpha=alpha, pad_id=self.pad_id)
        return decoding.greedy(*args, pad_id=self.pad_id)


class TransformerClassifier(nn.Module):
    """A Transformer encoder over a series with :class:`~rnnlab.models.SeqToVec`'s
    interface: ``forward(x (B, T, input_size), lengths=None) -> (B, output_size)``. Each
    step's features are projected to ``d_model``, positions added, padded steps masked
    out of attention, and the encoder's outputs averaged over the valid steps."""

    def __init__(self, input_size: int, output_size: int | None, d_model: int = 64, heads: int = 4,
                 num_layers: int = 2, ff_size: int = 256, dropout: float = 0.1, max_positions: int = 1024,
                 positions: str = "sinusoidal"):
        super().__init__()
        check_heads(d_model, heads)
        self.input = nn.Linear(input_size, d_model)
        self.positions = PositionalEncoding(d_model, max_positions, positions)
        self.dropout = nn.Dropout(dropout)
        self.encoder = nn.TransformerEncoder(_encoder_layer(d_model, heads, ff_size, dropout), num_layers,
                                             norm=nn.LayerNorm(d_model), enable_nested_tensor=False)
        self.head = nn.Linear(d_model, output_size) if output_size is not None else nn.Identity()

    @property
    def max_positions(self) -> int:
        return self.positions.max_positions

    def encode(self, x: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, None]:
        """``(pooled (B, d_model), None)``: the mean of the encoder's outputs over valid steps."""
        if x.dim() != 3:
            raise ValueError(f"x: expected (B, T, input_size), got shape {tuple(x.shape)}")
        B, T, _ = x.shape
        mask = sequence_mask(lengths, T, B, x.device)
        # padding may hold anything (NaN), and attention's zero weight x NaN is NaN
        x = x.masked_fill(~mask.unsqueeze(-1), 0.0)
        h = self.encoder(self.dropout(self.positions(self.input(x))), src_key_padding_mask=~mask)
        w = mask.to(h.dtype).unsqueeze(-1)
        return (h * w).sum(1) / w.sum(1).clamp_min(1), None

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        pooled, _ = self.encode(x, lengths)
        return self.head(self.dropout(pooled))


class TokenTransformerClassifier(nn.Module):
    """Token ids in, classes out: an embedding read by a :class:`TransformerClassifier`
    (documents as one word sequence, beside :class:`~rnnlab.models.FlatAttentionClassifier`).
    ``forward(ids (B, T), lengths (B)) -> (B, classes)``."""

    def __init__(self, vocab_size: int, num_classes: int, embed_size: int = 100, pad_id: int = 0, **sizes):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_size, padding_idx=pad_id)
        self.encoder = TransformerClassifier(embed_size, num_classes, **sizes)

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        return self.encoder(self.embed(ids), lengths)


class KVCache:
    """What a :class:`TransformerLM` keeps of the tokens it has read: per layer the keys and
    values ``(B, heads, t, dh)`` in buffers that grow by doubling (so a step writes one
    position instead of copying the cache), and the latest ``max_positions`` token ids (to
    rebuild the cache when positions run out). ``nbytes`` is what it holds per batch."""

    def __init__(self, layers: int, tokens: Tensor):
        self.k: list[Tensor | None] = [None] * layers
        self.v: list[Tensor | None] = [None] * layers
        self.length = 0
        self.tokens = tokens

    def append(self, i: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Layer ``i``'s keys / values with the new steps ``k``, ``v`` appended (views)."""
        n, t = self.length, k.shape[2]
        buf_k, buf_v = self.k[i], self.v[i]
        if buf_k is None or buf_v is None or buf_k.shape[2] < n + t:
            cap = max(16, 2 * (n + t))
            grown_k, grown_v = k.new_empty(*k.shape[:2], cap, k.shape[3]), v.new_empty(*v.shape[:2], cap, v.shape[3])
            if buf_k is not None and buf_v is not None:
                grown_k[:, :, :n], grown_v[:, :, :n] = buf_k[:, :, :n], buf_v[:, :, :n]
            self.k[i], self.v[i] = buf_k, buf_v = grown_k, grown_v
        buf_k[:, :, n:n + t], buf_v[:, :, n:n + t] = k, v
        return buf_k[:, :, :n + t], buf_v[:, :, :n + t]

    @property
    def nbytes(self) -> int:
        """Bytes of keys and values held for the tokens read (not the spare capacity)."""
        return sum(2 * k[:, :, :self.length].numel() * k.element_size() for k in self.k if k is not None)


class TransformerLM(nn.Module):
    """A causal Transformer language model with the interface textgen's models have:
    ``forward(ids (B, T), state=None) -> (logits (B, T, V), state)``; in eval mode the
    state is a :class:`KVCache` that the next call continues from (see the module
    docstring). In training mode a call without a state runs torch's layers over the
    window with a causal mask and returns no state: windows are independent (no
    gradient flows between them, and none could through the cache). ``tie_weights``:
    the embedding is the output layer's weight."""

    def __init__(self, vocab_size: int, d_model: int = 256, heads: int = 4, num_layers: int = 4,
                 ff_size: int = 1024, dropout: float = 0.1, max_positions: int = 1024, positions: str = "sinusoidal",
                 tie_weights: bool = True):
        super().__init__()
        check_heads(d_model, heads)
        self.d_model, self.heads = d_model, heads
        self.embed = nn.Embedding(vocab_size, d_model)
        self.positions = PositionalEncoding(d_model, max_positions, positions)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(_encoder_layer(d_model, heads, ff_size, dropout) for _ in range(num_layers))
        self.norm = nn.LayerNorm(d_model)
        self.out = nn.Linear(d_model, vocab_size)
        _init_embeddings(d_model, self.embed)
        if tie_weights:
            self.out.weight = self.embed.weight

    @property
    def max_positions(self) -> int:
        return self.positions.max_positions

    def _inputs(self, ids: Tensor, offset: int) -> Tensor:
        return self.dropout(self.positions(self.embed(ids) * math.sqrt(self.d_model), offset))

    def forward(self, ids: Tensor, state: KVCache | None = None) -> tuple[Tensor, KVCache | None]:
        if ids.dim() != 2:
            raise ValueError(f"ids: expected token ids (B, T), got shape {tuple(ids.shape)}")
        T = ids.shape[1]
        if T > self.max_positions:
            raise ValueError(f"max_positions: {T} tokens in one call are more than this model's "
                             f"max_positions={self.max_positions}; feed them in pieces, carrying the state")
        if state is None and self.training:
            causal = nn.Transformer.generate_square_subsequent_mask(T, device=ids.device, dtype=torch.bool)
            x = self._inputs(ids, 0)
            for layer in self.layers:
                x = layer(x, src_mask=causal, is_causal=True)
            return self.out(self.norm(x)), None
        if state is not None and state.length + T > self.max_positions:
            # out of positions: read the most recent tokens again from position 0 (a sliding window)
            window = torch.cat([state.tokens, ids], 1)[:, -max(self.max_positions // 2, T):]
            logits, cache = self._cached(window, KVCache(len(self.layers), ids[:, :0]))
            return logits[:, -T:], cache
        return self._cached(ids, state if state is not None else KVCache(len(self.layers), ids[:, :0]))

    def _cached(self, ids: Tensor, cache: KVCache) -> tuple[Tensor, KVCache]:
        """The layers over ``ids`` after the cached tokens, each attending to the cache and
        causally to the new tokens; the cache is extended in place."""
        x = self._inputs(ids, cache.length)
        layers = cast(list[nn.TransformerEncoderLayer], list(self.layers))
        for i, layer in enumerate(layers):  # nn.TransformerEncoderLayer(norm_first=True)'s equations
            sa = _self_attention_step(layer.self_attn, layer.norm1(x), lambda k, v, i=i: cache.append(i, k, v))
            x = x + layer.dropout1(sa)
            x = x + layer.dropout2(layer.linear2(layer.dropout(layer.activation(layer.linear1(layer.norm2(x))))))
        cache.length += ids.shape[1]
        # a slide re-reads at most max_positions of the latest tokens: keep no more than that
        cache.tokens = torch.cat([cache.tokens, ids], 1)[:, -self.max_positions:]
        return self.out(self.norm(x)), cache
