"""ONNX export: a model with rnnlab's recurrent layers as an ONNX graph, checked against
onnxruntime before the file is kept.

Every :class:`~rnnlab.recurrent.Recurrent` layer inside the module is exported through
its fused path, which torch's exporter turns into ONNX's own ``LSTM`` / ``GRU`` / ``RNN``
operators: one node per layer, any batch size and any number of steps. A layer that
only the reference backend computes (peepholes, a custom cell) would be unrolled into a
graph of one fixed length, so it is refused. Lengths are not part of the graph: export
equal-length inputs (token streams, fixed windows).

The file is written next to its destination and renamed into place only after
onnxruntime has run it on the example inputs and on a second batch of other sizes and
matched PyTorch (``atol``); a graph that does not match is never left behind.

Needs the ``export`` extra: ``pip install 'rnnlab[export]'`` (onnx, onnxruntime).
"""

from __future__ import annotations

import contextlib
import inspect
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from .errors import InputError
from .recurrent import BackendDispatch, Recurrent, use_backend

__all__ = ["to_onnx", "OnnxReport", "StatefulStep", "export_token_model"]


@dataclass
class OnnxReport:
    """What :func:`to_onnx` wrote and checked: ``max_abs_diff`` is the largest difference
    between onnxruntime's and PyTorch's outputs over both checks."""

    path: Path
    opset: int
    inputs: list[str]
    outputs: list[str]
    max_abs_diff: float

    def summary(self) -> str:
        return (f"{self.path}: inputs {', '.join(self.inputs)} -> outputs {', '.join(self.outputs)} "
                f"(opset {self.opset}); onnxruntime matches PyTorch to {self.max_abs_diff:.1e}")


@contextlib.contextmanager
def _fused_layers(module: nn.Module) -> Iterator[None]:
    """Every recurrent layer (Recurrent, the torch.nn drop-ins) on its fused backend for
    the duration (:func:`rnnlab.recurrent.use_backend`; the layers are not modified)."""
    for layer in module.modules():
        if isinstance(layer, BackendDispatch) and layer.fused_reason is not None:
            raise InputError(f"ONNX export: {layer.extra_repr().split(',')[0]} cannot be exported: "
                             f"{layer.fused_reason}, so it would be unrolled over one fixed length; ONNX's "
                             "LSTM/GRU/RNN operators compute the standard cells only")
    with use_backend("fused"):
        yield


def _flat(outputs) -> list[Tensor]:
    if isinstance(outputs, Tensor):
        return [outputs]
    return [t for o in outputs for t in _flat(o)]


def to_onnx(module: nn.Module, example: Sequence[Tensor], path: str | Path, input_names: Sequence[str],
            output_names: Sequence[str], dynamic_axes: dict[str, dict[int, str]],
            check: Sequence[Tensor] | None = None, opset: int = 17, atol: float = 1e-4) -> OnnxReport:
    """Export ``module(*example)`` to ``path`` and check it with onnxruntime.

    Args:
        module: called as ``module(*inputs)``; its outputs (a tensor, or nested tuples of
            tensors) become the graph's outputs, flattened in order.
        example: the inputs to trace with. Give more than one step, so that the layers'
            one-step shortcut is not the path traced.
        input_names / output_names: one name per input / flattened output.
        dynamic_axes: ``{name: {axis: label}}`` for the axes that may vary (batch, time).
        check: a second set of inputs, of other sizes along the dynamic axes; the graph
            must match PyTorch on it as well as on ``example``.
        opset: the ONNX opset.
        atol: the largest difference accepted.

    Raises:
        InputError: a layer ONNX cannot compute, a missing ``export`` extra, or outputs
            that do not match.
    """
    try:
        import onnxruntime as ort
    except ImportError:
        raise InputError("ONNX export needs onnx and onnxruntime: pip install 'rnnlab[export]'") from None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = module.training
    module.eval()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with _fused_layers(module), torch.no_grad(), warnings.catch_warnings():
            # the legacy exporter warns that it is deprecated, and about shape checks on
            # Python ints that it records as constants; the check below is what counts
            warnings.simplefilter("ignore")
            # the TorchScript-based exporter: it keeps the axes in dynamic_axes free; the
            # newer torch.export one (the default from torch 2.9) needs onnxscript, and in a
            # trial it recorded the traced length as the output's time axis. Before 2.5
            # there was no choice to make.
            legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
            torch.onnx.export(module, tuple(example), str(tmp), input_names=list(input_names),
                              output_names=list(output_names), dynamic_axes=dynamic_axes, opset_version=opset,
                              **legacy)
            session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
            worst = 0.0
            for inputs in (example, check) if check is not None else (example,):
                want = [t.numpy() for t in _flat(module(*inputs))]
                got = session.run(None, {n: t.numpy() for n, t in zip(input_names, inputs)})
                if len(got) != len(want):
                    raise InputError(f"ONNX export: the graph has {len(got)} outputs, PyTorch gives {len(want)}")
                for name, g, w in zip(output_names, got, want):
                    if g.shape != w.shape:
                        raise InputError(f"ONNX export: output {name!r} has shape {g.shape} in onnxruntime, "
                                         f"{w.shape} in PyTorch (inputs of shapes {[tuple(t.shape) for t in inputs]})")
                    worst = max(worst, float(np.abs(g - w).max()) if g.size else 0.0)
            if worst > atol:
                raise InputError(f"ONNX export: onnxruntime differs from PyTorch by {worst:.3g} (> {atol:g}); "
                                 "the graph was not kept")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        module.train(was_training)
    return OnnxReport(path, opset, list(input_names), list(output_names), worst)


class StatefulStep(nn.Module):
    """``(ids (B, T), *state) -> (logits (B, T, V), *state)`` for a token model whose
    forward is ``model(ids, state) -> (logits, state)`` (``state``: a tensor, or LSTM's
    ``(h, c)``): the graph a streaming generator calls, feeding each call's state to the
    next."""

    def __init__(self, model: nn.Module, parts: int):
        super().__init__()
        self.model, self.parts = model, parts

    def forward(self, ids: Tensor, *state: Tensor):
        logits, new = self.model(ids, state[0] if self.parts == 1 else tuple(state))
        return (logits, new) if self.parts == 1 else (logits, *new)


def export_token_model(model: nn.Module, layer: Recurrent, path: str | Path, vocab_size: int) -> OnnxReport:
    """Export a token-in, logits-out recurrent model with its state as inputs and outputs
    (``ids``, ``h0`` [, ``c0``] → ``logits``, ``h`` [, ``c``]); batch and time dynamic."""
    parts = len(layer.state_size)
    LD = layer.num_layers * layer.num_directions
    names = ["h0", "c0"][:parts]
    outs = ["h", "c"][:parts]

    def inputs(B: int, T: int, seed: int) -> list[Tensor]:
        g = torch.Generator().manual_seed(seed)
        ids = torch.randint(0, vocab_size, (B, T), generator=g)
        return [ids, *(0.5 * torch.randn(LD, B, s, generator=g) for s in layer.state_size)]

    dyn = {"ids": {0: "batch", 1: "time"}, "logits": {0: "batch", 1: "time"},
           **{n: {1: "batch"} for n in names + outs}}
    return to_onnx(StatefulStep(model, parts), inputs(2, 7, 0), path, ["ids", *names], ["logits", *outs], dyn,
                   check=inputs(3, 11, 1))
