"""The recurrent layer over any cell, :class:`Recurrent`: its checks, its cells (one per
layer and direction, submodules) and, through :class:`~.dispatch.BackendDispatch`, the
backend that computes each call."""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor, nn

from ..cells import RecurrentCell, State, computes_torch_equations, make_cell
from .backends import check_available, check_backend_args
from .backends.scan import METHODS as SCAN_METHODS
from .dispatch import BackendDispatch
from .lengths import check_lengths

__all__ = ["Recurrent"]


class Recurrent(BackendDispatch, nn.Module):
    """A recurrent layer over any cell: stacked, optionally bidirectional.

    Args:
        cell: ``"rnn"``/``"elman"``, ``"rnn_relu"``, ``"lstm"``, ``"gru"``, a
            :class:`~rnnlab.cells.RecurrentCell` subclass or a factory
            ``f(input_size, hidden_size, **cell_kwargs)``.
        input_size: features per step of the input.
        hidden_size: width of each direction's output.
        num_layers: stacked layers; layer ``k > 0`` reads layer ``k-1``'s output.
        bidirectional: add a second pass over each sequence reversed within its length.
        dropout: dropout on the outputs of every layer but the last (as torch.nn).
        batch_first: ``(B, T, F)`` tensors if True, ``(T, B, F)`` if False.
        backend: ``"auto"`` | ``"reference"`` | ``"fused"`` | ``"hoisted"`` | ``"compiled"`` |
            ``"scan"`` (see the module docstring).
        compile_steps: with ``backend="compiled"``, steps per compiled graph (1: each
            step alone, compiles in seconds; the training window, e.g. 100: a custom LSTM
            cell at 1.0-1.2x torch.nn's time on CPU, against ~1.5x step by step, for about
            a minute of compilation the first time and seconds once inductor's disk cache
            holds the graphs — ``benchmarks/speed.py``).
        scan_method: with the scan backend (cells linear in their state: ``"mingru"``,
            ``"minlstm"``, ``"lru"``), ``"loop"``, ``"associative"``, ``"log"`` or ``"auto"``
            (loop on CPU, associative on GPU; :mod:`~rnnlab.recurrent.backends.scan`).
        **cell_kwargs: passed to every cell (e.g. ``chrono_max_timescale=1000``).

    ``forward(x, state=None, lengths=None) -> (outputs, final_state)``.
    """

    def __init__(
        self,
        cell: str | type | object,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        batch_first: bool = True,
        backend: str = "auto",
        compile_steps: int = 1,
        scan_method: str = "auto",
        **cell_kwargs,
    ):
        super().__init__()
        check_backend_args(backend, compile_steps)
        if scan_method not in SCAN_METHODS:
            raise ValueError(f"scan_method: expected one of {', '.join(SCAN_METHODS)}, got {scan_method!r}")
        self.compile_steps = compile_steps
        self.scan_method = scan_method
        if int(num_layers) < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)
        self.bidirectional = bool(bidirectional)
        self.dropout = float(dropout)
        self.batch_first = bool(batch_first)
        self.backend = backend
        D = self.num_directions
        cells = []
        for layer in range(self.num_layers):
            in_size = self.input_size if layer == 0 else D * self.hidden_size
            for _ in range(D):
                cells.append(make_cell(cell, in_size, self.hidden_size, **cell_kwargs))
        self.cells = nn.ModuleList(cells)
        self.state_size: tuple[int, ...] = self.direction(0).state_size
        self.last_backend: str | None = None
        self._compiled_steps: dict = {}
        check_available(self, backend)

    # ------------------------------------------------------------------ backends
    @property
    def fused_reason(self) -> str | None:
        """Why torch's fused kernel cannot compute this layer, or None if it can."""
        first = self.direction(0)
        for c in (self.direction(k) for k in range(len(self.cells))):
            if not computes_torch_equations(c):
                return f"{type(c).__name__} is not one of torch's standard cells"
            if c.fused_mode() is None:
                return f"{type(c).__name__} with these options (e.g. peepholes) has no fused kernel"
            if c.fused_mode() != first.fused_mode() or c.bias != first.bias:
                return "the layer mixes cell kinds or bias settings"
        return None

    def forward(
        self, x: Tensor, state: Tensor | State | None = None, lengths: Tensor | list[int] | None = None
    ) -> tuple[Tensor, Tensor | State]:
        if not isinstance(x, Tensor) or x.dim() != 3:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            layout = "(B, T, input_size)" if self.batch_first else "(T, B, input_size)"
            raise ValueError(f"x: expected a 3-D tensor {layout}, got shape {shape} "
                             "(for one sequence use x.unsqueeze(0))")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"x: expected input_size={self.input_size} features on the last axis, got {x.shape[-1]}")
        B, T = (x.shape[0], x.shape[1]) if self.batch_first else (x.shape[1], x.shape[0])
        if T == 0:
            raise ValueError("x: the time axis is empty (0 steps)")
        lengths = check_lengths(lengths, B, T)
        hx = self._check_state(state, B, x)
        out, final = self._run(x, hx, lengths, self._pick_backend(x, lengths))
        return out, (final[0] if len(final) == 1 else final)

    def direction(self, k: int) -> RecurrentCell:  # type: ignore[override]  # a cell is a LayerDirection
        """Layer-direction ``k``: the cell that holds its weights."""
        return cast(RecurrentCell, self.cells[k])

    @classmethod
    def from_torch(cls, module: nn.RNNBase, backend: str = "auto", **kwargs) -> "Recurrent":
        """The general layer, on rnnlab's own cells, with a torch.nn.RNN / LSTM / GRU's
        configuration and (copied) weights: e.g. to run a torch model's layer on the
        reference or compiled backend (``kwargs``: other arguments, e.g. ``compile_steps``).
        For torch's parameter names keep the drop-ins (:mod:`rnnlab.nn`)."""
        if not isinstance(module, nn.RNNBase) or module.proj_size:
            raise ValueError(f"module: expected a torch.nn.RNN, LSTM or GRU without projections, got {module!r}")
        cell = {"LSTM": "lstm", "GRU": "gru", "RNN_TANH": "rnn", "RNN_RELU": "rnn_relu"}[module.mode]
        p = next(module.parameters())
        layer = cls(cell, module.input_size, module.hidden_size, num_layers=module.num_layers,
                    bidirectional=module.bidirectional, dropout=module.dropout, batch_first=module.batch_first,
                    backend=backend, bias=module.bias, **kwargs).to(device=p.device, dtype=p.dtype)
        with torch.no_grad():
            for k, names in enumerate(module._all_weights):  # [weight_ih_l0, weight_hh_l0, ...] per cell
                for name in names:
                    getattr(layer.cells[k], name.rsplit("_l", 1)[0]).copy_(getattr(module, name))
        return layer

    def _check_state(self, state: Tensor | State | None, batch: int, x: Tensor) -> State:
        LD = self.num_layers * self.num_directions
        if state is None:
            return tuple(x.new_zeros(LD, batch, s) for s in self.state_size)
        parts = (state,) if isinstance(state, Tensor) else tuple(state)
        if len(parts) != len(self.state_size):
            raise ValueError(
                f"state: expected {len(self.state_size)} tensor(s) (this cell's state has parts of widths "
                f"{self.state_size}), got {len(parts)}"
            )
        for k, (p, s) in enumerate(zip(parts, self.state_size)):
            if not isinstance(p, Tensor) or tuple(p.shape) != (LD, batch, s):
                got = tuple(p.shape) if isinstance(p, Tensor) else type(p).__name__
                raise ValueError(f"state[{k}]: expected shape (num_layers*num_directions={LD}, batch={batch}, {s}), "
                                 f"got {got}")
        return parts

    def extra_repr(self) -> str:
        return (
            f"{type(self.cells[0]).__name__}, input_size={self.input_size}, hidden_size={self.hidden_size}, "
            f"num_layers={self.num_layers}, bidirectional={self.bidirectional}, dropout={self.dropout}, "
            f"batch_first={self.batch_first}, backend={self.backend!r}"
        )
