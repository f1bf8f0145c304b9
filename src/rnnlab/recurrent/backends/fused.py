"""The "fused" backend: torch's own RNN kernels (oneDNN / cuDNN) on the layer's
parameters. With variable lengths it calls them on the padded batch in a few stretches of
time, dropping finished sequences at each cut and freezing those that finish inside a
stretch (:func:`plan_cuts`, :func:`frozen_layer`), rather than on packed sequences (which
CPU kernels run several times slower). A single step runs torch's one-step cell kernels."""

from __future__ import annotations

import bisect
import sys
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ...cells import State
from ..stack import stack_layers
from .tracing import tracing

__all__ = ["FUSED_CALL_COST", "plan_cuts", "frozen_layer", "run", "unavailable"]

FUSED_FN: dict[str, Callable[..., tuple[Tensor, ...]]] = {"LSTM": torch.lstm, "GRU": torch.gru,
                                                          "RNN_TANH": torch.rnn_tanh, "RNN_RELU": torch.rnn_relu}

FUSED_CALL_COST = 128
"""What one more fused call costs, in row-steps (one sequence through one step), when
:func:`plan_cuts` splits a variable-length batch: oneDNN's per-call set-up (weight
re-layout, forward and backward) against the padded steps a cut saves. Costs from 64 to
600 timed alike on LSTM layers (T=100, B=64, H=256 and 512, lengths uniform in [50, 100],
in [1, 100] and exponential); 1500 was slower (``benchmarks/speed.py`` reports the
resulting overhead). The knob users tune is ``rnnlab.recurrent.FUSED_CALL_COST``."""

_MAX_CUT_CANDIDATES = 64  # keeps plan_cuts' O(K^2) search cheap for large batches


def unavailable(layer) -> str | None:
    """Why torch's kernels cannot compute ``layer`` (a custom cell, peepholes), or None."""
    return layer.fused_reason


def _call_cost() -> float:
    # read from the package at call time, so that setting rnnlab.recurrent.FUSED_CALL_COST
    # (the documented knob) takes effect
    package = sys.modules.get("rnnlab.recurrent")
    return getattr(package, "FUSED_CALL_COST", FUSED_CALL_COST)


def run(layer, x: Tensor, hx: State, lengths: Tensor | None) -> tuple[Tensor, State]:
    """``layer`` over ``x`` in its own layout through torch's kernels."""
    mode = layer._fused_mode()
    T = x.shape[1 if layer.batch_first else 0]
    if T == 1 and lengths is None and not tracing():
        single = _single_step(layer, x, hx)
        if single is not None:
            return single
    bias = layer.direction(0).bias
    if lengths is None:
        weights = [w for k in range(layer.num_layers * layer.num_directions)
                   for w in layer.direction(k).flat_weights()]
        args = (weights, bias, layer.num_layers, float(layer.dropout), layer.training, layer.bidirectional,
                layer.batch_first)
        result = FUSED_FN[mode](x, list(hx) if mode == "LSTM" else hx[0], *args)
        return result[0], tuple(result[1:])
    # Variable lengths. torch's packed-sequence kernels are not oneDNN's and run 3-6x
    # slower on CPU, so instead each layer and direction runs the padded batch in a few
    # stretches of time (plan_cuts), each over the sequences still running at its
    # start; those that end inside a stretch ride along with their state frozen (see
    # frozen_layer) and are dropped at the next cut.
    order = torch.argsort(lengths, descending=True, stable=True)
    bounds = plan_cuts(lengths.tolist(), _call_cost())

    def cell(k: int, src: Tensor, st: State) -> tuple[Tensor, State]:
        weights = layer.direction(k).flat_weights()
        return frozen_layer(mode, src, st, lengths, order, bounds, weights, bias, layer.training)

    return stack_layers(layer, cell, x, hx, lengths)


class _NoOneStepKernel(Exception):
    """A cell of the layer has no one-step kernel (an LSTM with projections)."""


def _single_step(layer, x: Tensor, hx: State) -> tuple[Tensor, State] | None:
    """T = 1 (streaming, autoregressive decoding): torch's one-step cell kernels skip
    the sequence kernel's set-up, which dominates a single step (~330 vs ~55 µs).
    None when the layer's cells have no one-step kernel (an LSTM with projections)."""
    def cell(k: int, src: Tensor, st: State) -> tuple[Tensor, State]:
        step = layer.direction(k).fused_step(src[0], st)
        if step is None:
            raise _NoOneStepKernel
        return step[0].unsqueeze(0), step[1]

    try:
        return stack_layers(layer, cell, x, hx, None)
    except _NoOneStepKernel:
        return None


def plan_cuts(lengths: list[int], call_cost: float = FUSED_CALL_COST) -> list[int]:
    """Stretch boundaries ``[0, c1, ..., max(lengths)]`` for running a variable-length
    batch through the fused kernel. Each stretch runs the sequences still live at its
    start (those ending inside it are computed to its end, frozen); a cut drops the
    finished ones. Dynamic programming over cuts at sequence ends minimises
    ``call_cost`` per stretch plus the row-steps computed."""
    if not lengths:
        return [0]
    top = max(lengths)
    ends = sorted(set(lengths) - {top})
    if len(ends) > _MAX_CUT_CANDIDATES:  # an even subset of the candidate cuts
        ends = [ends[round(i * (len(ends) - 1) / (_MAX_CUT_CANDIDATES - 1))] for i in range(_MAX_CUT_CANDIDATES)]
    points = [0, *ends, top]
    ascending = sorted(lengths)
    live = [len(ascending) - bisect.bisect_right(ascending, p) for p in points]  # sequences longer than p
    best: list[tuple[float, int]] = [(0.0, -1)]  # (cost up to point j, previous point)
    for j in range(1, len(points)):
        best.append(min((best[i][0] + call_cost + (points[j] - points[i]) * live[i], i) for i in range(j)))
    bounds, j = [], len(points) - 1
    while j >= 0:
        bounds.append(points[j])
        j = best[j][1]
    return bounds[::-1]


_FREEZE = 1e4
"""Gate pre-activation that saturates sigmoid to exactly 0 or 1 in float32/16: with the
input gate at 0 and the forget gate at 1 an LSTM's cell state passes a step unchanged."""
def frozen_layer(mode: str, x: Tensor, state: State, lengths: Tensor, order: Tensor, bounds: list[int],
                  weights: list[Tensor], bias: bool, train: bool) -> tuple[Tensor, State]:
    """One layer and direction of the fused kernel over time-major ``x`` ``(T, B, I)``
    with variable ``lengths`` (CPU), from ``(B, S)`` state parts, in the stretches
    ``bounds`` (:func:`plan_cuts`); ``order`` sorts the batch by descending length.

    The first stretch runs the whole batch in its own order; later ones the live prefix
    of ``order``. Inside a stretch a finished sequence keeps being computed and its
    outputs there are zeroed. Its final ``h`` is read from the output at its last step;
    an LSTM's final ``c`` is not in the output, so past its end the sequence gets one
    extra input feature (1) whose weights drive the input gate to 0 and the forget gate
    to 1 (``_FREEZE``): ``c`` reaches the stretch's end unchanged, and since saturated
    gates pass no gradient, the padding adds nothing to any gradient."""
    T, B = x.shape[0], x.shape[1]
    device = x.device
    pieces, finals, rows_of_finals = [], [], []
    rows = None  # original indices of the stretch's rows (None: all, in batch order)
    for start, end in zip(bounds[:-1], bounds[1:]):
        lens = lengths if rows is None else lengths[rows]
        src = x[start:end] if rows is None else x[start:end].index_select(1, rows.to(device))
        w = weights
        dead = None
        if int(lens.min()) < end:  # some sequence ends inside the stretch
            steps = torch.arange(start, end).unsqueeze(1)
            dead = (steps >= lens.unsqueeze(0)).unsqueeze(-1).to(device)  # (n, k, 1)
            if mode == "LSTM":
                hidden = weights[0].shape[0] // 4  # (weights[1] is (4H, proj_size) with projections)
                freeze = weights[0].new_zeros(4 * hidden, 1)
                freeze[:hidden] = -_FREEZE  # input gate (torch's gate order: i, f, g, o)
                freeze[hidden:2 * hidden] = _FREEZE  # forget gate
                src = torch.cat([src, dead.to(src.dtype)], -1)  # padding is zero (forward zeroed it)
                w = [torch.cat([weights[0], freeze], 1), *weights[1:]]
        res = FUSED_FN[mode](src, [s.unsqueeze(0) for s in state] if mode == "LSTM" else state[0].unsqueeze(0),
                              w, bias, 1, 0.0, train, False, False)
        seg, new = res[0], tuple(s[0] for s in res[1:])
        # the sequences whose last step is in this stretch: their final state
        ending = torch.nonzero(lens <= end).squeeze(1)
        at = (lens[ending] - 1 - start).to(device)
        ending_d = ending.to(device)
        finals.append((seg[at, ending_d], *(s.index_select(0, ending_d) for s in new[1:])))
        rows_of_finals.append(ending if rows is None else rows[ending])
        if dead is not None:
            seg = seg.masked_fill(dead, 0.0)
        if rows is not None:
            seg = seg.new_zeros(end - start, B, seg.shape[-1]).index_copy(1, rows.to(device), seg)
        pieces.append(seg)
        # carry the state of the sequences that go on (a prefix of ``order``)
        live = int((lens > end).sum())
        if live:
            keep = order[:live]
            state = (tuple(s.index_select(0, keep.to(device)) for s in new) if rows is None
                     else tuple(s[:live] for s in new))
            rows = keep
    out = torch.cat(pieces, 0)
    if bounds[-1] < T:  # steps past the longest sequence
        out = nn.functional.pad(out, (0, 0, 0, 0, 0, T - bounds[-1]))
    undo = torch.argsort(torch.cat(rows_of_finals)).to(device)
    final = tuple(torch.cat(parts, 0).index_select(0, undo) for parts in zip(*finals))
    return out, final
