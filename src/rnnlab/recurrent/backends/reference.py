"""The "reference" backend: the cells stepped in Python — any cell, readable, the
definition every other backend is tested against."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ...cells import RecurrentCell, State
from ..lengths import sequence_mask
from ..stack import stack_layers

if TYPE_CHECKING:
    from .compiled import CompiledSteps

__all__ = ["run", "run_steps", "unroll", "unavailable"]


def unavailable(layer) -> str | None:
    """The reference loop computes every layer."""
    return None


def run(layer, x: Tensor, hx: State, lengths: Tensor | None) -> tuple[Tensor, State]:
    """``layer`` over ``x`` in its own layout, each cell through :func:`unroll`."""
    return stack_layers(layer, lambda k, src, st: unroll(layer.direction(k), src, st, lengths), x, hx, lengths)


def run_steps(step, xp: Tensor, state: State, valid: Tensor | None = None) -> tuple[Tensor, State]:
    """``step`` over projected inputs ``xp`` ``(T, B, G)`` from ``state``: outputs
    ``(T, B, H)`` and the final state. With ``valid`` ``(T, B, 1)`` a sequence's state
    stops changing after its last step and its outputs there are zero.

    ``unbind`` splits ``xp`` once, because indexing ``xp[t]`` inside the loop makes
    backward quadratic in T."""
    outs = []
    if valid is None:
        for xp_t in xp.unbind(0):
            h, state = step(xp_t, state)
            outs.append(h)
        return torch.stack(outs, 0), state
    for xp_t, m in zip(xp.unbind(0), valid.unbind(0)):
        h, new = step(xp_t, state)
        state = tuple(torch.where(m, n, o) for n, o in zip(new, state))
        outs.append(h.masked_fill(~m, 0.0))
    return torch.stack(outs, 0), state


def unroll(cell: RecurrentCell, x: Tensor, state: State, lengths: Tensor | None = None,
           step: CompiledSteps | None = None, chunk: CompiledSteps | None = None) -> tuple[Tensor, State]:
    """Run ``cell`` over time-major ``x`` ``(T, B, I)`` from ``state``.

    The input projection is done for all steps at once (one GEMM). With lengths, a
    sequence's state stops changing after its last step and its outputs there are zero,
    so padding never reaches states, outputs or gradients. The compiled backend passes
    ``chunk`` (compiled runs of ``chunk.steps`` steps, for every whole run of that many
    steps) and ``step`` (a compiled single step, for the rest).
    """
    xp = cell.project_input(x)
    T = x.shape[0]
    valid = None
    if lengths is not None:
        valid = sequence_mask(lengths, T).t().unsqueeze(-1).to(x.device)  # (T, B, 1)

    def window(a: int, b: int) -> Tensor | None:
        return None if valid is None else valid[a:b]

    pieces, t = [], 0
    if chunk is not None:
        while t + chunk.steps <= T:
            out, state = chunk(xp[t:t + chunk.steps], state, window(t, t + chunk.steps))
            pieces.append(out)
            t += chunk.steps
    if t < T:
        out, state = (step or partial(run_steps, cell.step))(xp[t:], state, window(t, T))
        pieces.append(out)
    return (pieces[0] if len(pieces) == 1 else torch.cat(pieces, 0)), state
