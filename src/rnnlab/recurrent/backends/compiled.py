"""The "compiled" backend (opt-in, any cell): the reference loop with each cell's ``step``
compiled by ``torch.compile``; with ``compile_steps=K > 1`` each run of K consecutive
steps is one graph, whose recurrent weight gradients the graph pass of
:mod:`.batched_weight_grads` computes as one GEMM over the K steps."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from torch import Tensor

from ...cells import RecurrentCell, State
from ..stack import stack_layers
from .reference import run_steps, unroll

__all__ = ["CompiledSteps", "run", "unavailable"]


def unavailable(layer) -> str | None:
    """Any cell compiles (where compilation fails it warns and runs the reference steps)."""
    return None


def run(layer, x: Tensor, hx: State, lengths: Tensor | None) -> tuple[Tensor, State]:
    """``layer`` over ``x`` through its cells' compiled steps (cached on the layer)."""
    def cell(k: int, src: Tensor, st: State) -> tuple[Tensor, State]:
        chunk = compiled_steps(layer, k, layer.compile_steps) if layer.compile_steps > 1 else None
        return unroll(layer.direction(k), src, st, lengths, compiled_steps(layer, k, 1), chunk)

    return stack_layers(layer, cell, x, hx, lengths)


def compiled_steps(layer, k: int, steps: int) -> CompiledSteps:
    """Cell ``k``'s compiled function over ``steps`` steps, made on first use and kept in
    the layer's ``_compiled_steps`` (which neither pickles nor deep-copies: a copy
    compiles its own)."""
    made = layer._compiled_steps
    if (k, steps) not in made:
        made[k, steps] = CompiledSteps(layer.direction(k), steps)
    return made[k, steps]


class CompiledSteps:
    """Steps of ``cell`` through ``torch.compile``. ``steps == 1``: the cell's ``step``
    compiled alone (masking for lengths stays outside), run over any number of steps;
    ``steps > 1``: exactly ``steps`` steps unrolled into one graph (:func:`run_steps`).
    Called as ``(xp, state, valid)`` on projected inputs ``(T, B, G)``; returns
    ``(outputs (T, B, H), state)``. On a compilation failure: one warning and the eager
    steps from then on (an error the eager steps raise too is the cell's own and
    propagates)."""

    def __init__(self, cell: RecurrentCell, steps: int):
        self.cell, self.steps = cell, steps
        self.fn: Callable[..., tuple[Tensor, State]]
        if steps == 1:
            self.fn = torch.compile(cell.step, dynamic=False)
        else:  # weights used at every step get their gradient as one GEMM over the K steps
            from .batched_weight_grads import BatchedWeightGrads  # imports inductor: ~1 s, only here

            self.fn = torch.compile(self._run, dynamic=False,
                                    options={"post_grad_custom_post_pass": BatchedWeightGrads()})
        self.failed: str | None = None

    def _run(self, xp: Tensor, state: State, valid: Tensor | None) -> tuple[Tensor, State]:
        return run_steps(self.cell.step, xp, state, valid)

    def _compiled(self, eager, *args):
        if self.failed is None:
            try:
                return self.fn(*args)
            except Exception as e:  # noqa: BLE001 - decided below by running the eager steps
                result = eager(*args)
                self.failed = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                warnings.warn(f"backend='compiled': torch.compile failed for {type(self.cell).__name__} "
                              f"({self.failed}); running the reference steps instead", RuntimeWarning, stacklevel=3)
                return result
        return eager(*args)

    def __call__(self, xp: Tensor, state: State, valid: Tensor | None = None) -> tuple[Tensor, State]:
        if self.steps == 1:
            return run_steps(lambda xp_t, st: self._compiled(self.cell.step, xp_t, st), xp, state, valid)
        return self._compiled(self._run, xp, state, valid)
