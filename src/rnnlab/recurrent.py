"""The ``Recurrent`` layer: unrolls any cell over time, stacked and bidirectional.

Shapes (``D`` = 2 if bidirectional else 1, ``L`` = num_layers, ``S`` = a state width):

- input ``x``: ``(B, T, input_size)`` if ``batch_first`` else ``(T, B, input_size)``
- ``lengths``: ``(B,)`` integers in ``[1, T]`` (optional; variable-length batches)
- ``state``: for a cell with one state tensor (Elman, GRU) a tensor ``(L*D, B, H)``;
  otherwise a tuple with one ``(L*D, B, S)`` tensor per state part (LSTM: ``(h, c)``) —
  torch.nn's convention, layer-major, forward direction first.
- output: ``(B, T, D*H)`` (or time-major), zero past each sequence's length; the final
  state of each sequence is its state after its own last step.

Three backends compute the layer: ``"reference"`` steps the cells in Python (any cell,
readable, the definition), ``"fused"`` calls torch's own RNN kernels (oneDNN / cuDNN)
on the same parameters; with variable lengths it calls them on the padded batch in a
few stretches of time, dropping finished sequences at each cut and freezing those that
finish inside a stretch (:func:`plan_cuts`, :func:`_frozen_layer`), rather than on packed
sequences (which CPU kernels run several times slower). ``"hoisted"`` (:mod:`rnnlab.hoisted`)
runs the same cells as custom autograd Functions whose backward computes the weight
gradients as one GEMM over all steps and whose variable-length steps work on the
running prefix of a length-sorted batch. ``"auto"`` takes the reference backend only
for cells no kernel computes; for training on CPU hoisted for GRU and Elman layers;
fused otherwise. ``"compiled"`` (opt-in, any cell) is the reference loop with each cell's
``step`` compiled by ``torch.compile`` — its pointwise work fused into a few kernels,
forward and backward; with ``compile_steps=K > 1`` each run of K consecutive steps is
compiled as one graph (the rest of a sequence step by step), which removes the per-step
call overhead, computes the gradient of each weight used at every step as one GEMM over
the K steps (:mod:`rnnlab.batched_weight_grads`) and runs custom cells much closer to
torch's kernels, at about a second of compilation per step in the graph (the first time:
inductor caches the result on disk for later processes). So it pays off on long trainings of custom cells; where
compilation fails (e.g. no C++ compiler) it warns and runs the plain reference loop.
``layer.last_backend`` says which one the last call used and ``layer.fused_reason``
why fused is unavailable (``None`` when it is available).

The backends live in :class:`RecurrentBackends`, which two kinds of layer share:
:class:`Recurrent` (any cell; its cells are submodules, ``cells.0.weight_ih``) and the
torch.nn drop-ins of :mod:`rnnlab.nn` (subclasses of ``nn.RNN/LSTM/GRU`` with torch's
parameter names). Each says how to reach its weights; the computation is the same.
"""

from __future__ import annotations

import bisect
import logging
import warnings
from functools import partial

import torch
from torch import Tensor, nn

from .cells import ElmanCell, GRUCell, LSTMCell, RecurrentCell, State, make_cell
from .hoisted import hoisted_layer, live_counts

__all__ = ["Recurrent", "RecurrentBackends", "BACKENDS", "reverse_padded", "check_lengths", "sequence_mask", "unroll"]

log = logging.getLogger(__name__)

BACKENDS = ("auto", "reference", "fused", "hoisted", "compiled")
_FUSED_FN = {"LSTM": torch.lstm, "GRU": torch.gru, "RNN_TANH": torch.rnn_tanh, "RNN_RELU": torch.rnn_relu}
_STANDARD_CELLS = (ElmanCell, LSTMCell, GRUCell)


def check_lengths(lengths: Tensor | list[int] | None, batch: int, steps: int) -> Tensor | None:
    """Validate ``lengths`` against a ``(B, T)`` batch; return an int64 CPU tensor, or
    ``None`` when every sequence fills the time axis (nothing to mask)."""
    if lengths is None:
        return None
    lengths = torch.as_tensor(lengths).detach().to("cpu")
    if lengths.dim() != 1 or lengths.numel() != batch:
        raise ValueError(f"lengths: expected shape ({batch},) (one length per sequence), got {tuple(lengths.shape)}")
    if lengths.is_floating_point() or lengths.dtype == torch.bool:
        raise ValueError(f"lengths: expected integers, got dtype {lengths.dtype}")
    lengths = lengths.long()
    if batch and int(lengths.min()) < 1:
        raise ValueError(f"lengths: every length must be >= 1, got min {int(lengths.min())}")
    if batch and int(lengths.max()) > steps:
        raise ValueError(
            f"lengths: a length of {int(lengths.max())} is longer than the time axis ({steps} steps)"
        )
    return None if batch and bool((lengths == steps).all()) else lengths


def sequence_mask(lengths: Tensor | None, steps: int, batch: int | None = None,
                  device: torch.device | None = None) -> Tensor:
    """``(B, T)`` bool mask, True at the valid steps of each sequence (all True if
    ``lengths`` is None, then ``batch`` is required)."""
    if lengths is None:
        return torch.ones(batch, steps, dtype=torch.bool, device=device)
    lengths = torch.as_tensor(lengths, device=device)
    return torch.arange(steps, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def reverse_padded(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence of time-major ``x`` ``(T, B, ...)`` within its own length;
    padding stays in place."""
    if lengths is None:
        return x.flip(0)
    T, B = x.shape[0], x.shape[1]
    t = torch.arange(T).unsqueeze(1)  # (T, 1)
    L = torch.as_tensor(lengths).cpu().unsqueeze(0)  # (1, B); a list of lengths will do
    src = torch.where(t < L, L - 1 - t, t)  # (T, B): the step each entry comes from
    # as a permutation of the T*B rows: whole rows are copied rather than gathered element
    # by element, and the reversal is its own inverse, so the backward pass is the same
    # copy (no zero-fill and scatter-add)
    rows = (src * B + torch.arange(B)).reshape(-1).to(x.device)
    return _permute_batch(x.reshape(T * B, *x.shape[2:]), rows, rows, 0).view(x.shape)


def check_backend_args(backend: str, compile_steps: int) -> None:
    """The checks of ``backend`` and ``compile_steps`` every recurrent layer makes."""
    if not isinstance(compile_steps, int) or isinstance(compile_steps, bool) or compile_steps < 1:
        raise ValueError(f"compile_steps must be an integer >= 1, got {compile_steps!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend: unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")


def _tracing() -> bool:
    """Inside torch.compile / torch.export / jit tracing: there torch's own kernels are
    traced as one operator each (a custom autograd Function that writes into buffers in
    place, or a Python loop over steps, is not what those tools expect)."""
    compiler = getattr(torch, "compiler", None)
    return bool(
        torch.jit.is_tracing() or torch.jit.is_scripting()
        or (compiler is not None and compiler.is_compiling())
        or (compiler is not None and hasattr(compiler, "is_exporting") and compiler.is_exporting())
    )


def _in_functorch() -> bool:
    """Inside a torch.func transform (vmap, grad, jacrev, ...): torch's RNN kernels have no
    vmap rule and the hoisted Functions none either, so only plain operations work."""
    return bool(torch._C._are_functorch_transforms_active())


class RecurrentBackends:
    """The backends, shared by :class:`Recurrent` (cells as submodules) and the torch.nn
    drop-ins of :mod:`rnnlab.nn` (torch's parameter names on the module itself).

    A class using it has ``num_layers``, ``bidirectional``, ``dropout``, ``batch_first``,
    ``training``, ``backend``, ``compile_steps`` and ``last_backend``, and says how to
    reach its weights: :meth:`_fused_mode`, :meth:`_layer_weights`, :meth:`_ref_cell`,
    :meth:`_one_step`, ``fused_reason`` and ``hoisted_reason``. :meth:`_run` then
    computes the layer on a checked ``(x, state tuple, lengths)`` with the backend
    ``auto`` or the user picked."""

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    # hooks ------------------------------------------------------------------
    def _fused_mode(self) -> str:
        """torch's kernel name for the layer's cells (when ``fused_reason`` is None)."""
        raise NotImplementedError

    def _layer_weights(self, k: int) -> list[Tensor]:
        """Layer-direction ``k``'s weights in the order torch's kernels take them."""
        raise NotImplementedError

    def _has_bias(self) -> bool:
        """Whether the weights of :meth:`_layer_weights` include the two biases."""
        raise NotImplementedError

    def _ref_cell(self, k: int):
        """Layer-direction ``k`` as a cell (``project_input``, ``step``) for the reference loop."""
        raise NotImplementedError

    def _one_step(self, k: int, x: Tensor, state: State) -> tuple[Tensor, State]:
        """One step of torch's one-step kernel for layer-direction ``k``, or None when it has none."""
        raise NotImplementedError

    @property
    def hoisted_reason(self) -> str | None:
        """Why the hoisted backend cannot compute this layer, or None if it can."""
        return self.fused_reason

    # dispatch ---------------------------------------------------------------
    def _pick_backend(self, x: Tensor | None = None, lengths: Tensor | None = None, steps: int | None = None) -> str:
        """``auto``, by measurement (benchmarks/results/speed/speed.md, 2 CPU cores):
        reference for cells no kernel computes; for training on CPU, hoisted for GRU and
        Elman layers (0.79-1.10x torch.nn's time); fused otherwise (oneDNN's LSTM is the
        fastest, inference needs no backward, single steps run torch's one-step cell
        kernels, and variable-length batches cost no more than equal-length ones), and
        always inside torch.compile, export and jit tracing; inside torch.func transforms
        (per-sample gradients with vmap) the reference steps, plain operations that every
        transform supports."""
        if self.backend != "auto":
            return self.backend
        if self.fused_reason is not None:
            return "reference"
        if _tracing():
            return "fused"
        if _in_functorch():
            return "reference"
        training = (x is not None and x.device.type == "cpu" and torch.is_grad_enabled()
                    and (x.requires_grad or any(p.requires_grad for p in self.parameters())))
        if steps is None:
            steps = x.shape[1 if self.batch_first else 0] if x is not None else 0
        # one step (decoders, streaming): torch's one-step cell kernels are the fastest
        if training and steps > 1 and self._fused_mode() != "LSTM" and self.hoisted_reason is None:
            return "hoisted"
        return "fused"

    def _run(self, x: Tensor, hx: State, lengths: Tensor | None, backend: str) -> tuple[Tensor, State]:
        """The layer over checked inputs: ``x`` 3-D in the layer's layout, ``hx`` a tuple
        of ``(L*D, B, S)`` parts, ``lengths`` from :func:`check_lengths`."""
        T = x.shape[1 if self.batch_first else 0]
        if lengths is not None and self._zero_padding(x, backend):
            valid = sequence_mask(lengths, T).to(x.device)
            x = x.masked_fill(~(valid if self.batch_first else valid.t()).unsqueeze(-1), 0.0)
        if self.last_backend != backend and not _tracing():
            log.debug("%s: %s backend (%s)", type(self).__name__, backend,
                      self.fused_reason or "fused kernel available")
        self.last_backend = backend
        if backend == "fused":
            return self._forward_fused(x, hx, lengths, T)
        if backend == "hoisted":
            return self._forward_hoisted(x, hx, lengths)
        return self._forward_reference(x, hx, lengths, compiled=backend == "compiled")

    @staticmethod
    def _zero_padding(x: Tensor, backend: str) -> bool:
        """Whether ``x``'s padding must be zeroed before ``backend`` reads it.

        Padding may hold anything (UCR files pad with NaN). The input projection is
        computed over every step at once, and 0 * NaN would reach the weight gradients.
        The fused backend also feeds the padding of a sequence that ends inside a stretch
        to torch's kernel, where a large value could overcome the gates that freeze its
        cell state. Elsewhere finite padding is never read but through a zero gradient
        (0 × finite), so on CPU one sum decides — finite only if every term is, or it
        overflowed and we zero anyway — for less than zeroing costs (a copy forward and
        another backward). On a GPU the check would wait for the device, so padding is
        always zeroed there."""
        return backend == "fused" or x.device.type != "cpu" or not bool(torch.isfinite(x.detach().sum()))

    # backends ---------------------------------------------------------------
    def _forward_fused(self, x: Tensor, hx: State, lengths: Tensor | None, T: int) -> tuple[Tensor, State]:
        mode = self._fused_mode()
        if T == 1 and lengths is None and not _tracing():
            single = self._fused_single_step(x, hx)
            if single is not None:
                return single
        bias = self._has_bias()
        if lengths is None:
            weights = [w for k in range(self.num_layers * self.num_directions) for w in self._layer_weights(k)]
            args = (weights, bias, self.num_layers, float(self.dropout), self.training, self.bidirectional,
                    self.batch_first)
            result = _FUSED_FN[mode](x, list(hx) if mode == "LSTM" else hx[0], *args)
            return result[0], tuple(result[1:])
        # Variable lengths. torch's packed-sequence kernels are not oneDNN's and run 3-6x
        # slower on CPU, so instead each layer and direction runs the padded batch in a few
        # stretches of time (plan_cuts), each over the sequences still running at its
        # start; those that end inside a stretch ride along with their state frozen (see
        # _frozen_layer) and are dropped at the next cut.
        xt = x.transpose(0, 1) if self.batch_first else x
        order = torch.argsort(lengths, descending=True, stable=True)
        bounds = plan_cuts(lengths.tolist(), FUSED_CALL_COST)

        def run(k: int, src: Tensor, st: State) -> tuple[Tensor, State]:
            return _frozen_layer(mode, src, st, lengths, order, bounds, self._layer_weights(k), bias, self.training)

        out, final = self._stack(run, xt, hx, lengths)
        return (out.transpose(0, 1) if self.batch_first else out), final

    def _forward_hoisted(self, x: Tensor, hx: State, lengths: Tensor | None) -> tuple[Tensor, State]:
        """Each layer and direction through :func:`rnnlab.hoisted.hoisted_layer` (weight
        gradients as one GEMM over all steps). With lengths the batch is sorted by
        length so that the running sequences at each step are a prefix of it."""
        mode = self._fused_mode()
        lens = order = inverse = None
        if lengths is not None and bool((lengths[1:] <= lengths[:-1]).all()):
            lens = lengths  # already sorted (as pack_padded_sequence's enforce_sorted wants): nothing to permute
        elif lengths is not None:
            x, hx, lens, order, inverse = _sort_by_length(x, hx, lengths, 0 if self.batch_first else 1)
        xt = x.transpose(0, 1) if self.batch_first else x
        ks = live_counts(lens, xt.shape[0], xt.shape[1])
        out, final = self._stack(lambda k, src, st: hoisted_layer(mode, src, st, self._layer_weights(k), ks),
                                 xt, hx, lens)
        out = out.transpose(0, 1) if self.batch_first else out
        if inverse is not None:  # back to the caller's order (batch-first: whole sequences)
            out = _permute_batch(out, inverse, order, 0 if self.batch_first else 1)
            final = tuple(_permute_batch(h, inverse, order) for h in final)
        return out, final

    def _fused_single_step(self, x: Tensor, hx: State) -> tuple[Tensor, State] | None:
        """T = 1 (streaming, autoregressive decoding): torch's one-step cell kernels skip
        the sequence kernel's set-up, which dominates a single step (~330 vs ~55 µs).
        None when the layer's cells have no one-step kernel (an LSTM with projections)."""
        D = self.num_directions
        inp = x[:, 0] if self.batch_first else x[0]
        finals: list[list[Tensor]] = [[] for _ in hx]
        for layer in range(self.num_layers):
            outs = []
            for d in range(D):
                k = layer * D + d
                step = self._one_step(k, inp, tuple(s_[k] for s_ in hx))
                if step is None:
                    return None
                h, st = step
                outs.append(h)
                for part, s_ in zip(finals, st):
                    part.append(s_)
            inp = outs[0] if D == 1 else torch.cat(outs, -1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                inp = nn.functional.dropout(inp, self.dropout, training=True)
        out = inp.unsqueeze(1) if self.batch_first else inp.unsqueeze(0)
        return out, tuple(torch.stack(part, 0) for part in finals)

    def _forward_reference(self, x: Tensor, hx: State, lengths: Tensor | None,
                           compiled: bool = False) -> tuple[Tensor, State]:
        def run(k: int, src: Tensor, st: State) -> tuple[Tensor, State]:
            if not compiled:
                return unroll(self._ref_cell(k), src, st, lengths)
            chunk = self._compiled(k, self.compile_steps) if self.compile_steps > 1 else None
            return unroll(self._ref_cell(k), src, st, lengths, self._compiled(k, 1), chunk)

        out, final = self._stack(run, x.transpose(0, 1) if self.batch_first else x, hx, lengths)
        return (out.transpose(0, 1) if self.batch_first else out), final

    def _stack(self, run, x: Tensor, hx: State, lengths: Tensor | None) -> tuple[Tensor, State]:
        """Layers and directions over time-major ``x``: ``run(k, src, state) -> (out,
        final)`` computes cell ``k`` (layer-major, forward direction first) over ``src``
        from its ``(B, S)`` state parts; the backward direction reads each sequence
        reversed within its length. Dropout between layers as torch.nn."""
        D = self.num_directions
        finals: list[list[Tensor]] = [[] for _ in hx]
        inp = x
        for layer in range(self.num_layers):
            outs = []
            for d in range(D):
                k = layer * D + d
                src = inp if d == 0 else reverse_padded(inp, lengths)
                o, st = run(k, src, tuple(h[k] for h in hx))
                outs.append(o if d == 0 else reverse_padded(o, lengths))
                for part, s_ in zip(finals, st):
                    part.append(s_)
            inp = outs[0] if D == 1 else torch.cat(outs, -1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                inp = nn.functional.dropout(inp, self.dropout, training=True)
        return inp, tuple(torch.stack(part, 0) for part in finals)

    def _compiled(self, k: int, steps: int) -> "CompiledSteps":
        """Cell ``k``'s compiled function over ``steps`` steps (made on first use)."""
        made = self.__dict__.setdefault("_compiled_steps", {})
        if (k, steps) not in made:
            made[k, steps] = CompiledSteps(self._ref_cell(k), steps)
        return made[k, steps]

    def __getstate__(self) -> dict:
        # compiled functions neither pickle nor deep-copy; a copy compiles its own
        state = dict(super().__getstate__())
        state.pop("_compiled_steps", None)
        return state


class Recurrent(RecurrentBackends, nn.Module):
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
        backend: ``"auto"`` | ``"reference"`` | ``"fused"`` | ``"hoisted"`` | ``"compiled"``
            (see the module docstring).
        compile_steps: with ``backend="compiled"``, steps per compiled graph (1: each
            step alone, compiles in seconds; the training window, e.g. 100: a custom LSTM
            cell at 1.0-1.2x torch.nn's time on CPU, against ~1.5x step by step, for about
            a minute of compilation the first time and seconds once inductor's disk cache
            holds the graphs — ``benchmarks/speed.py``).
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
        **cell_kwargs,
    ):
        super().__init__()
        check_backend_args(backend, compile_steps)
        self.compile_steps = compile_steps
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
        self.state_size: tuple[int, ...] = self.cells[0].state_size
        self.last_backend: str | None = None
        if backend in ("fused", "hoisted") and self.fused_reason is not None:
            raise ValueError(f"backend={backend!r} cannot compute this layer: {self.fused_reason}; "
                             "use 'auto' or 'reference'")

    # ------------------------------------------------------------------ backends
    @property
    def fused_reason(self) -> str | None:
        """Why torch's fused kernel cannot compute this layer, or None if it can."""
        from .nn import GRUCell as TorchGRUCell, LSTMCell as TorchLSTMCell, RNNCell as TorchRNNCell

        standard = (*_STANDARD_CELLS, TorchRNNCell, TorchLSTMCell, TorchGRUCell)
        first = self.cells[0]
        for c in self.cells:
            if type(c) not in standard:  # a subclass may have changed the equations
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
            raise ValueError(f"x: expected a 3-D tensor {layout}, got shape {shape} (for one sequence use x.unsqueeze(0))")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"x: expected input_size={self.input_size} features on the last axis, got {x.shape[-1]}")
        B, T = (x.shape[0], x.shape[1]) if self.batch_first else (x.shape[1], x.shape[0])
        if T == 0:
            raise ValueError("x: the time axis is empty (0 steps)")
        lengths = check_lengths(lengths, B, T)
        hx = self._check_state(state, B, x)
        out, final = self._run(x, hx, lengths, self._pick_backend(x, lengths))
        return out, (final[0] if len(final) == 1 else final)

    # hooks of RecurrentBackends: the cells hold the weights
    def _fused_mode(self) -> str:
        return self.cells[0].fused_mode()

    def _layer_weights(self, k: int) -> list[Tensor]:
        return self.cells[k].flat_weights()

    def _has_bias(self) -> bool:
        return self.cells[0].bias

    def _ref_cell(self, k: int) -> RecurrentCell:
        return self.cells[k]

    def _one_step(self, k: int, x: Tensor, state: State) -> tuple[Tensor, State]:
        return self.cells[k].fused_step(x, state)

    @classmethod
    def from_torch(cls, module: nn.RNNBase, backend: str = "auto", **kwargs) -> "Recurrent":
        """The general layer, on rnnlab's own cells, with a torch.nn.RNN / LSTM / GRU's
        configuration and (copied) weights: e.g. to run a torch model's layer on the
        reference or compiled backend (``kwargs``: other arguments, e.g. ``compile_steps``).
        For torch's parameter names keep the drop-ins (:mod:`rnnlab.nn`)."""
        if not isinstance(module, nn.RNNBase) or getattr(module, "proj_size", 0):
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
                raise ValueError(f"state[{k}]: expected shape (num_layers*num_directions={LD}, batch={batch}, {s}), got {got}")
        return parts

    def extra_repr(self) -> str:
        return (
            f"{type(self.cells[0]).__name__}, input_size={self.input_size}, hidden_size={self.hidden_size}, "
            f"num_layers={self.num_layers}, bidirectional={self.bidirectional}, dropout={self.dropout}, "
            f"batch_first={self.batch_first}, backend={self.backend!r}"
        )


class _PermuteBatch(torch.autograd.Function):
    """``x.index_select(dim, order)`` for a permutation ``order``, whose backward gathers
    with the inverse permutation (``index_select``'s own backward zero-fills a buffer and
    scatter-adds into it)."""

    @staticmethod
    def forward(ctx, x: Tensor, order: Tensor, inverse: Tensor, dim: int) -> Tensor:
        ctx.save_for_backward(inverse)
        ctx.dim = dim
        return x.index_select(dim, order)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (inverse,) = ctx.saved_tensors
        return grad.index_select(ctx.dim, inverse), None, None, None


def _permute_batch(x: Tensor, order: Tensor, inverse: Tensor, dim: int = 1) -> Tensor:
    """Axis ``dim`` of ``x`` reordered by the permutation ``order`` (``inverse`` undoes it)."""
    return _PermuteBatch.apply(x, order, inverse, dim)


def _sort_by_length(x: Tensor, hx: State, lengths: Tensor, batch_dim: int = 1
                    ) -> tuple[Tensor, State, Tensor, Tensor, Tensor]:
    """``x`` (batch on axis ``batch_dim``) and the ``(L*D, B, S)`` state parts with the
    batch sorted by descending length (stable), the sorted lengths, the order and the
    permutation that undoes it. A batch-first ``x`` is sorted on its own first axis, so
    whole sequences are copied, not strided slices of its transpose."""
    order = torch.argsort(lengths, descending=True, stable=True)
    inverse = torch.argsort(order).to(x.device)
    lens = lengths[order]
    order = order.to(x.device)
    return (_permute_batch(x, order, inverse, batch_dim), tuple(_permute_batch(h, order, inverse) for h in hx), lens,
            order, inverse)


FUSED_CALL_COST = 128
"""What one more fused call costs, in row-steps (one sequence through one step), when
:func:`plan_cuts` splits a variable-length batch: oneDNN's per-call set-up (weight
re-layout, forward and backward) against the padded steps a cut saves. Costs from 64 to
600 timed alike on LSTM layers (T=100, B=64, H=256 and 512, lengths uniform in [50, 100],
in [1, 100] and exponential); 1500 was slower (``benchmarks/speed.py`` reports the
resulting overhead)."""

_MAX_CUT_CANDIDATES = 64  # keeps plan_cuts' O(K^2) search cheap for large batches


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


def _frozen_layer(mode: str, x: Tensor, state: State, lengths: Tensor, order: Tensor, bounds: list[int],
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
        res = _FUSED_FN[mode](src, [s.unsqueeze(0) for s in state] if mode == "LSTM" else state[0].unsqueeze(0),
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
