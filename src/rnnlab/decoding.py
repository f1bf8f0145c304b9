"""Autoregressive decoding: greedy, sampling (temperature, top-k) and batched beam search.

Every decoder works on a *step function* and its state, so any model can use them:

    step(tokens: (N,) long, state: dict[str, Tensor]) -> (log_probs (N, V), new_state, extra)

Every tensor in ``state`` has the batch on axis 0 (so beam search can reorder
hypotheses with ``index_select(0, ...)``); ``extra`` is ``None`` or a per-step tensor
``(N, ...)`` to keep along the chosen path (e.g. attention weights ``(N, S)``).

Each function returns a :class:`Decoded`: ``tokens`` ``(B, L)`` (``pad_id`` after the end),
``lengths`` ``(B,)`` (tokens up to and including ``eos``), ``scores`` ``(B,)`` (sum of
log-probabilities; for beam search, length-normalised if asked), ``extras`` ``(B, L, ...)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

__all__ = ["Decoded", "StepFn", "greedy", "sample", "beam_search", "length_penalty"]

StepFn = Callable[[Tensor, dict], "tuple[Tensor, dict, Tensor | None]"]


@dataclass
class Decoded:
    tokens: Tensor
    lengths: Tensor
    scores: Tensor
    extras: Tensor | None = None


def _check(batch_size: int, max_len: int) -> None:
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")


def _finish(history: list[Tensor], extras: list, lengths: Tensor, scores: Tensor, pad_id: int) -> Decoded:
    tokens = torch.stack(history, 1)
    positions = torch.arange(tokens.shape[1], device=tokens.device).unsqueeze(0)
    tokens = tokens.masked_fill(positions >= lengths.unsqueeze(1), pad_id)
    ex = torch.stack(extras, 1) if extras and extras[0] is not None else None
    return Decoded(tokens, lengths, scores, ex)


def _autoregress(step: StepFn, state: dict, batch_size: int, bos_id: int, eos_id: int, max_len: int,
                 pad_id: int | None, choose: Callable[[Tensor], Tensor]) -> Decoded:
    _check(batch_size, max_len)
    device = next((v.device for v in state.values()), torch.device("cpu"))
    tokens = torch.full((batch_size,), bos_id, dtype=torch.long, device=device)
    finished = torch.zeros(batch_size, dtype=torch.bool, device=device)
    lengths = torch.zeros(batch_size, dtype=torch.long, device=device)
    scores = torch.zeros(batch_size, device=device)
    history, extras = [], []
    for _ in range(max_len):
        logp, state, extra = step(tokens, state)
        tokens = choose(logp)
        scores = scores + torch.where(finished, 0.0, logp.gather(1, tokens.unsqueeze(1)).squeeze(1))
        lengths = lengths + (~finished).long()
        history.append(tokens)
        extras.append(extra)
        finished = finished | (tokens == eos_id)
        if bool(finished.all()):
            break
    return _finish(history, extras, lengths, scores, eos_id if pad_id is None else pad_id)


@torch.no_grad()
def greedy(step: StepFn, state: dict, batch_size: int, bos_id: int, eos_id: int, max_len: int,
           pad_id: int | None = None) -> Decoded:
    """Take the most probable token at every step."""
    return _autoregress(step, state, batch_size, bos_id, eos_id, max_len, pad_id, lambda lp: lp.argmax(-1))


@torch.no_grad()
def sample(step: StepFn, state: dict, batch_size: int, bos_id: int, eos_id: int, max_len: int,
           temperature: float = 1.0, top_k: int | None = None, generator: torch.Generator | None = None,
           pad_id: int | None = None) -> Decoded:
    """Draw each token from the model's distribution sharpened by ``temperature``
    (0 means greedy), restricted to the ``top_k`` most probable tokens if given."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    return _autoregress(step, state, batch_size, bos_id, eos_id, max_len, pad_id,
                        lambda lp: sample_logits(lp, temperature, top_k, generator))


def sample_logits(logits: Tensor, temperature: float = 1.0, top_k: int | None = None,
                  generator: torch.Generator | None = None) -> Tensor:
    """One token per row of ``logits`` ``(N, V)`` (log-probabilities work too)."""
    if temperature == 0:
        return logits.argmax(-1)
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits.float(), dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def length_penalty(lengths: Tensor, alpha: float) -> Tensor:
    """GNMT's length penalty ``((5 + |Y|) / 6) ** alpha`` (Wu et al. 2016); 1 when alpha = 0."""
    return ((5.0 + lengths.float()) / 6.0) ** alpha


@torch.no_grad()
def beam_search(step: StepFn, state: dict, batch_size: int, bos_id: int, eos_id: int, max_len: int,
                beam_size: int = 5, alpha: float = 0.0, pad_id: int | None = None) -> Decoded:
    """Batched beam search; hypotheses are ranked at the end by ``score / length_penalty``.

    With ``beam_size=1`` it returns exactly what :func:`greedy` returns.
    """
    _check(batch_size, max_len)
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    B, K = batch_size, beam_size
    state = {k: v.repeat_interleave(K, 0) for k, v in state.items()}
    device = next((v.device for v in state.values()), torch.device("cpu"))
    tokens = torch.full((B * K,), bos_id, dtype=torch.long, device=device)
    beam_scores = torch.full((B, K), float("-inf"), device=device)
    beam_scores[:, 0] = 0.0  # all beams start identical: expand only the first
    finished = torch.zeros(B * K, dtype=torch.bool, device=device)
    lengths = torch.zeros(B * K, dtype=torch.long, device=device)
    offsets = (torch.arange(B, device=device) * K).unsqueeze(1)
    history: list[Tensor] = []
    extras: list = []
    for _ in range(max_len):
        logp, state, extra = step(tokens, state)
        V = logp.shape[-1]
        # A finished hypothesis may only continue with eos, at no cost, so it keeps its score.
        done_row = torch.full((V,), float("-inf"), device=device)
        done_row[eos_id] = 0.0
        logp = torch.where(finished.unsqueeze(1), done_row, logp)
        total = (beam_scores.view(B * K, 1) + logp).view(B, K * V)
        top_scores, top_idx = total.topk(K, dim=1)
        src = (offsets + top_idx // V).view(-1)
        tokens = (top_idx % V).view(-1)
        state = {k: v.index_select(0, src) for k, v in state.items()}
        history = [h.index_select(0, src) for h in history] + [tokens]
        if extra is not None:
            extras = [e.index_select(0, src) for e in extras] + [extra.index_select(0, src)]
        finished = finished.index_select(0, src)
        lengths = lengths.index_select(0, src) + (~finished).long()
        finished = finished | (tokens == eos_id)
        beam_scores = top_scores
        if bool(finished.all()):
            break
    final = beam_scores.view(-1) / length_penalty(lengths, alpha)
    best = final.view(B, K).argmax(1) + offsets.squeeze(1)
    hist = [h.index_select(0, best) for h in history]
    ex = [e.index_select(0, best) for e in extras] if extras else []
    return _finish(hist, ex, lengths.index_select(0, best), final.index_select(0, best),
                   eos_id if pad_id is None else pad_id)
