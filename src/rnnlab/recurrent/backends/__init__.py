"""The backends that compute a recurrent layer, as one table.

Each row is a name and a :class:`Backend`: why it cannot compute a given layer (``None``
when it can) and how it computes it. The layer's constructor checks a requested backend
against the table, ``auto`` (:func:`pick`) chooses from it, and :func:`use_backend`
overrides the choice for a block of code (ONNX export runs every layer on ``fused`` this
way). Adding a backend is one module here with ``unavailable(layer)`` and
``run(layer, x, state, lengths)``, and one row in :data:`TABLE`.

A backend's ``run`` gets a :class:`~rnnlab.recurrent.dispatch.BackendDispatch` layer (its
sizes, and ``layer.direction(k)``: layer-direction ``k``'s cell and weights), ``x`` 3-D in
the layer's layout, ``state`` a tuple of ``(L*D, B, S)`` parts and ``lengths`` from
:func:`~rnnlab.recurrent.lengths.check_lengths`; it returns ``(output, state tuple)``.
"""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
from torch import Tensor

from ...cells import State
from . import compiled, fused, hoisted, reference, scan
from .tracing import in_functorch, tracing

__all__ = ["Backend", "TABLE", "BACKENDS", "check_backend_args", "check_available", "pick", "use_backend",
           "forced_backend", "tracing", "in_functorch"]


@dataclass(frozen=True)
class Backend:
    """One way of computing a layer.

    unavailable: ``unavailable(layer)`` -> why this backend cannot compute ``layer``, or None.
    run: ``run(layer, x, state, lengths)`` -> ``(output, final state parts)``.
    reads_padding: whether it feeds padded steps to a kernel (then padding is always zeroed
        first; see :func:`zero_padding`).
    """

    unavailable: Callable[[object], str | None]
    run: Callable[[object, Tensor, State, Tensor | None], tuple[Tensor, State]]
    reads_padding: bool = False


TABLE: dict[str, Backend] = {
    "reference": Backend(reference.unavailable, reference.run),
    "fused": Backend(fused.unavailable, fused.run, reads_padding=True),
    "hoisted": Backend(hoisted.unavailable, hoisted.run),
    "compiled": Backend(compiled.unavailable, compiled.run),
    "scan": Backend(scan.unavailable, scan.run),
}

BACKENDS: tuple[str, ...] = ("auto", *TABLE)
"""Every value of a layer's ``backend`` argument."""

_FORCED: contextvars.ContextVar[str | None] = contextvars.ContextVar("rnnlab_forced_backend", default=None)


def check_backend_args(backend: str, compile_steps: int) -> None:
    """The checks of ``backend`` and ``compile_steps`` every recurrent layer makes."""
    if not isinstance(compile_steps, int) or isinstance(compile_steps, bool) or compile_steps < 1:
        raise ValueError(f"compile_steps must be an integer >= 1, got {compile_steps!r}")
    if backend != "auto" and backend not in TABLE:  # the table, not BACKENDS: a row added later counts
        raise ValueError(f"backend: unknown backend {backend!r}; expected one of {', '.join(['auto', *TABLE])}")


def check_available(layer, backend: str) -> None:
    """A ValueError naming what can compute ``layer`` when ``backend`` cannot."""
    if backend == "auto":
        return
    reason = TABLE[backend].unavailable(layer)
    if reason is not None:
        usable = ["auto", *(name for name, b in TABLE.items() if b.unavailable(layer) is None)]
        raise ValueError(f"backend={backend!r} cannot compute this layer: {reason}; "
                         f"use {', '.join(repr(u) for u in usable[:-1])} or {usable[-1]!r}")


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Every recurrent layer called inside the block runs on backend ``name`` whatever its
    own ``backend`` says (a layer that backend cannot compute raises). The override is a
    context variable: it ends with the block and is local to the thread / task."""
    check_backend_args(name, 1)
    token = _FORCED.set(None if name == "auto" else name)
    try:
        yield
    finally:
        _FORCED.reset(token)


def forced_backend() -> str | None:
    """The backend :func:`use_backend` imposes here, or None."""
    return _FORCED.get()


def pick(layer, x: Tensor | None = None, steps: int | None = None) -> str:
    """The backend for this call: :func:`use_backend`'s, else the layer's own, else
    ``auto``'s choice, by measurement (benchmarks/results/speed/speed.md, 2 CPU cores):
    for cells linear in their state the scan over whole sequences and their own step one
    step at a time (benchmarks/results/parallel_recurrence/); reference for other cells no
    kernel computes; for training on CPU, hoisted for GRU and Elman
    layers (0.79-1.10x torch.nn's time); fused otherwise (oneDNN's LSTM is the fastest,
    inference needs no backward, single steps run torch's one-step cell kernels, and
    variable-length batches cost no more than equal-length ones), and always inside
    torch.compile, export and jit tracing; inside torch.func transforms (per-sample
    gradients with vmap) the reference steps, plain operations that every transform
    supports."""
    forced = _FORCED.get()
    if forced is not None:
        check_available(layer, forced)
        return forced
    if layer.backend != "auto":
        return layer.backend
    if steps is None:
        steps = x.shape[1 if layer.batch_first else 0] if x is not None else 0
    if scan.unavailable(layer) is None:
        # whole sequences (training, scoring, a prompt) scan; one step at a time (generation,
        # streaming) is the cell's own step on its O(1) state; graphs and transforms trace
        # the plain steps
        return "scan" if steps > 1 and not tracing() and not in_functorch() else "reference"
    if fused.unavailable(layer) is not None:
        return "reference"
    if tracing():
        return "fused"
    if in_functorch():
        return "reference"
    training = (x is not None and x.device.type == "cpu" and torch.is_grad_enabled()
                and (x.requires_grad or any(p.requires_grad for p in layer.parameters())))
    # one step (decoders, streaming): torch's one-step cell kernels are the fastest
    if training and steps > 1 and layer._fused_mode() != "LSTM" and hoisted.unavailable(layer) is None:
        return "hoisted"
    return "fused"


def zero_padding(x: Tensor, backend: str) -> bool:
    """Whether ``x``'s padding must be zeroed before ``backend`` reads it.

    Padding may hold anything (UCR files pad with NaN). The input projection is computed
    over every step at once, and 0 * NaN would reach the weight gradients. The fused
    backend also feeds the padding of a sequence that ends inside a stretch to torch's
    kernel, where a large value could overcome the gates that freeze its cell state.
    Elsewhere finite padding is never read but through a zero gradient (0 × finite), so
    on CPU one sum decides — finite only if every term is, or it overflowed and we zero
    anyway — for less than zeroing costs (a copy forward and another backward). On a GPU
    the check would wait for the device, so padding is always zeroed there."""
    return (TABLE[backend].reads_padding or x.device.type != "cpu"
            or not bool(torch.isfinite(x.detach().sum())))
