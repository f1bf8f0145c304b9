"""Layers and directions: the loop every backend but torch's whole-layer kernel shares."""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from ..cells import State
from .lengths import reverse_padded

__all__ = ["stack_layers"]

RunCell = Callable[[int, Tensor, State], tuple[Tensor, State]]


def stack_layers(layer, run: RunCell, x: Tensor, hx: State, lengths: Tensor | None) -> tuple[Tensor, State]:
    """``layer``'s layers and directions over ``x`` (in the layer's layout; the output in
    it too): ``run(k, src, state) -> (out, final)`` computes cell ``k`` (layer-major,
    forward direction first) over time-major ``src`` from its ``(B, S)`` state parts; the
    backward direction reads each sequence reversed within its length. Dropout between
    layers as torch.nn."""
    D = layer.num_directions
    finals: list[list[Tensor]] = [[] for _ in hx]
    inp = x.transpose(0, 1) if layer.batch_first else x
    for index in range(layer.num_layers):
        outs = []
        for d in range(D):
            k = index * D + d
            src = inp if d == 0 else reverse_padded(inp, lengths)
            o, st = run(k, src, tuple(h[k] for h in hx))
            outs.append(o if d == 0 else reverse_padded(o, lengths))
            for part, s_ in zip(finals, st):
                part.append(s_)
        inp = outs[0] if D == 1 else torch.cat(outs, -1)
        if layer.dropout > 0 and layer.training and index < layer.num_layers - 1:
            inp = nn.functional.dropout(inp, layer.dropout, training=True)
    return (inp.transpose(0, 1) if layer.batch_first else inp), tuple(torch.stack(part, 0) for part in finals)
