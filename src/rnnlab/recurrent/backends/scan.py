"""The "scan" backend: layers of cells linear in their state, with the time loop reduced
to a scan of ``s_t = a_t ⊙ s_{t-1} + b_t``.

For a :class:`~rnnlab.linear_cells.LinearRecurrentCell` (minGRU, minLSTM, LRU) the
coefficients ``a_t, b_t`` of every step come from the input alone: one projection and a
few elementwise operations over the whole ``(T, B, ·)`` tensor, then the scan, then the
readout. Three ways to scan (``method``), all exact but for rounding, for real and
complex coefficients alike:

- ``"loop"``: :class:`LinearScan`, a custom autograd Function whose forward is one fused
  multiply-add per step on preallocated memory and whose backward is the same scan run
  backwards in time (``g_t = G_t + conj(a_{t+1}) g_{t+1}``) — so second derivatives come
  from autograd differentiating the backward, no second hand-written pass. Work O(T·B·N)
  with ~2T tiny kernel calls: the fastest on a CPU, where the calls cost microseconds.
- ``"associative"``: the Hillis–Steele doubling scan in whole-tensor operations
  (``⌈log2 T⌉`` rounds of ``(a, b) ∘ (a', b') = (a a', a' b + b')``), O(T log T) work but
  only ``log T`` sequential steps: the one for a GPU, where a per-step loop is launch-bound.
- ``"log"``: Heinsen (2023), ``log s = a* + logcumsumexp(log b − a*)`` with
  ``a* = cumsum(log a)``, for cells whose coefficients are positive (``cell.positive``) —
  the minGRU paper's form (:class:`LogScan`; its backward is the loop's reverse scan).
  Over long sequences ``a*`` grows like T and the difference of two large logs loses
  float32's digits; it runs in chunks of ``LOG_CHUNK`` steps (carrying the state between
  chunks) so the error stays bounded — still ~1e-4 relative with gates near 1, against
  ~1e-7 for the others — and it is the slowest on a CPU
  (``benchmarks/parallel_recurrence.py``), so ``auto`` never takes it.

``"auto"`` takes ``loop`` on CPU and ``associative`` elsewhere (the layer's
``scan_method``). Variable lengths: past a sequence's length its ``a = 1`` and ``b = 0``
(its state frozen, so the final state is the state at its own length) and its outputs are
zero. Layers, directions and dropout are :func:`~rnnlab.recurrent.stack.stack_layers`'s.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ...cells import State
from ..lengths import sequence_mask
from ..stack import stack_layers

__all__ = ["METHODS", "CHUNK", "LOG_CHUNK", "LinearScan", "LogScan", "linear_scan", "scan_cell", "run", "unavailable"]

METHODS = ("auto", "loop", "associative", "log")
CHUNK = 128
"""Steps per chunk of :func:`scan_cell` (a chunk's tensors, B x 128 x N, stay in cache)."""
LOG_CHUNK = 64
"""Steps per chunk of the log-space scan: ``|a*|`` within a chunk is at most 64 times a
step's ``|log a|``, so float32 keeps ~5 significant digits of the state even with gates
near 0 (``benchmarks/parallel_recurrence.py --accuracy``)."""


def unavailable(layer) -> str | None:
    """Why the scan cannot compute ``layer``: a cell that does not say it is linear in its state."""
    for k in range(layer.num_layers * layer.num_directions):
        cell = layer.direction(k)
        if not callable(getattr(cell, "coefficients", None)):
            return (f"{type(cell).__name__} is not linear in its state (the scan needs a LinearRecurrentCell: "
                    "minGRU, minLSTM, LRU or your own)")
    method = getattr(layer, "scan_method", "auto")
    if method == "log" and not all(getattr(layer.direction(k), "positive", False)
                                   for k in range(layer.num_layers * layer.num_directions)):
        return "scan_method='log' needs positive coefficients (minGRU / minLSTM with candidate='g')"
    return None


def run(layer, x: Tensor, hx: State, lengths: Tensor | None) -> tuple[Tensor, State]:
    """``layer`` over ``x`` in its own layout, each layer-direction through :func:`scan_cell`."""
    method = getattr(layer, "scan_method", "auto")
    return stack_layers(layer, lambda k, src, st: scan_cell(layer.direction(k), src, st, lengths, method),
                        x, hx, lengths)


def scan_cell(cell, x: Tensor, state: State, lengths: Tensor | None = None,
              method: str = "auto") -> tuple[Tensor, State]:
    """A linear recurrent cell over time-major ``x`` ``(T, B, I)`` from ``state``:
    ``(outputs (T, B, H), final state)``.

    The work goes in chunks of :data:`CHUNK` steps — projection, coefficients, scan and
    readout of one chunk before the next, the state carried between them — so that each
    elementwise pass reads and writes memory that is still in cache: on 2 CPU cores this
    is 1.8x faster than one pass of each over the whole sequence (minGRU, T = 2048,
    ``benchmarks/parallel_recurrence.py --chunks``)."""
    valid = None
    if lengths is not None:
        valid = sequence_mask(lengths, x.shape[0]).t().unsqueeze(-1).to(x.device)  # (T, B, 1)
    s = cell.scan_state(state)
    outs = []
    for start in range(0, x.shape[0], CHUNK):
        xp = cell.project_input(x[start:start + CHUNK])
        a, b = cell.coefficients(xp)
        v = None if valid is None else valid[start:start + CHUNK]
        states = linear_scan(a, b, s, v, method)
        y = cell.readout(states, xp)
        outs.append(y if v is None else y.masked_fill(~v, 0.0))
        s = states[-1]
    return (outs[0] if len(outs) == 1 else torch.cat(outs, 0)), cell.state_from_scan(s)


def linear_scan(a: Tensor, b: Tensor, s0: Tensor, valid: Tensor | None = None, method: str = "auto") -> Tensor:
    """Every state of ``s_t = a_t ⊙ s_{t-1} + b_t``, ``s_{-1} = s0``: ``(T, B, N)``.

    ``b`` is ``(T, B, N)``; ``a`` broadcasts to it (``(N,)``, ``(1, B, N)``, ...); ``s0`` is
    ``(B, N)``; ``valid`` ``(T, B, 1)`` bool freezes each sequence's state past its length.
    Differentiable to any order in ``a``, ``b`` and ``s0``."""
    if method not in METHODS:
        raise ValueError(f"scan method: expected one of {', '.join(METHODS)}, got {method!r}")
    if method == "auto":
        method = "loop" if b.device.type == "cpu" else "associative"
    a = a.reshape((1,) * (3 - a.dim()) + tuple(a.shape))
    if valid is not None:
        a = torch.where(valid, a, torch.ones((), dtype=a.dtype, device=a.device))
        b = b.masked_fill(~valid, 0.0)
    if method == "associative":
        return _associative_scan(a, b, s0)
    return (LogScan if method == "log" else LinearScan).apply(a, b.contiguous(), s0)


class LinearScan(torch.autograd.Function):
    """``s_t = a_t ⊙ s_{t-1} + b_t`` stepped in place; the backward is the same scan
    backwards in time, through this Function, so it is differentiable again."""

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, s0: Tensor) -> Tensor:
        out = torch.empty(b.shape, dtype=torch.promote_types(a.dtype, b.dtype), device=b.device)
        s = s0
        per_step = a.shape[0] != 1
        for t in range(b.shape[0]):
            s = torch.addcmul(b[t], a[t if per_step else 0], s, out=out[t])
        ctx.save_for_backward(a, out, s0)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        a, out, s0 = ctx.saved_tensors
        ac = a.conj() if a.is_complex() else a  # torch's convention: grad_in = grad_out * conj(∂out/∂in)
        # reversed time: step r = T-1-t carries conj(a_{t+1}); at r = 0 the state is 0, so the
        # coefficient there is never used (a_0, rolled round, stands in)
        a_rev = (ac.roll(-1, 0) if ac.shape[0] != 1 else ac).flip(0)
        g = LinearScan.apply(a_rev, grad.flip(0).contiguous(), torch.zeros_like(s0)).flip(0)
        prev = torch.cat([s0.unsqueeze(0), out[:-1]], 0)
        grad_a = g * (prev.conj() if prev.is_complex() else prev)
        for dim in (0, 1):
            if a.shape[dim] == 1 and grad_a.shape[dim] != 1:
                grad_a = grad_a.sum(dim, keepdim=True)
        return grad_a, g, g[0] * ac[0]


def _associative_scan(a: Tensor, b: Tensor, s0: Tensor) -> Tensor:
    """Hillis–Steele: after the round with offset ``d``, ``(a_t, b_t)`` composes steps
    ``t-2d+1 .. t``; ``s0`` enters as part of step 0's ``b``."""
    T = b.shape[0]
    a = a.expand(b.shape)
    b = torch.cat([b[:1] + a[:1] * s0, b[1:]], 0)
    d = 1
    while d < T:
        b = torch.cat([b[:d], torch.addcmul(b[d:], a[d:], b[:-d])], 0)
        a = torch.cat([a[:d], a[d:] * a[:-d]], 0)
        d *= 2
    return b


class LogScan(torch.autograd.Function):
    """The states of ``s_t = a_t s_{t-1} + b_t`` (``a > 0``, ``b >= 0``) computed in log
    space, Heinsen's way, in chunks of :data:`LOG_CHUNK` steps; ``s0`` enters in linear
    space (``exp(a*) s0``), so it may have any sign. The derivative of the states does not
    depend on how they were computed: the backward is :class:`LinearScan`'s reverse scan
    (exact, and differentiable again — torch's own ``logcumsumexp`` gives NaN second
    derivatives wherever an upstream gradient is exactly 0, as padding's are)."""

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, s0: Tensor) -> Tensor:
        log_a, log_b = torch.log(a).expand(b.shape), torch.log(b)
        pieces, s = [], s0
        for start in range(0, b.shape[0], LOG_CHUNK):
            a_star = torch.cumsum(log_a[start:start + LOG_CHUNK], 0)
            chunk = torch.exp(a_star + torch.logcumsumexp(log_b[start:start + LOG_CHUNK] - a_star, 0)) + \
                torch.exp(a_star) * s
            pieces.append(chunk)
            s = chunk[-1]
        out = pieces[0] if len(pieces) == 1 else torch.cat(pieces, 0)
        ctx.save_for_backward(a, out, s0)
        return out

    backward = LinearScan.backward
