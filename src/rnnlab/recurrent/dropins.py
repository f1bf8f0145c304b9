"""Drop-ins for torch.nn's recurrent modules: ``rnnlab.nn.RNN / LSTM / GRU`` (also
``rnnlab.RNN / LSTM / GRU``) and ``rnnlab.nn.RNNCell / LSTMCell / GRUCell``, defined here
in the recurrent core and imported from :mod:`rnnlab.nn`, their public name.

Each is a subclass of the torch.nn class it replaces, so everything torch's class has is
here unchanged: the constructor and its argument checks, ``device=`` / ``dtype=``,
parameter names and order (``weight_ih_l0``, ``weight_hh_l0_reverse``, ``weight_hr_l0``
...), state dicts, ``proj_size``, ``flatten_parameters()``, ``all_weights``,
``_flat_weights``, pickling, ``weight_norm`` / parametrizations, ``functional_call``,
the errors torch raises for bad shapes, and ``isinstance(m, torch.nn.LSTM)``. A torch
checkpoint loads as it is, strictly.

To run a model you do not own on them, swap them in by assignment before it is built
(``torch.nn.LSTM = rnnlab.LSTM``), or for a block with :func:`patch_torch`. Nothing here
looks torch's classes up through ``torch.nn`` after import, so the swap cannot turn a
drop-in into a call of itself.

What the layers add is rnnlab's backends (``backend=``, :mod:`rnnlab.recurrent`) and a
``lengths=`` argument:

- ``forward(input, hx=None, lengths=None)``: ``lengths`` ``(B,)`` marks a padded batch
  (instead of packing it); outputs past each length are zero, and the final state is
  each sequence's state after its own last step.
- ``backend="auto"`` runs torch's own ``forward`` wherever that is the fastest
  (inference, LSTM training, GPUs, inside torch.compile / export / jit tracing /
  torch.func), the one-step cell kernels for a single step, and the hoisted backend for
  GRU and Elman training on CPU; ``"reference"`` runs the cells' equations in Python,
  ``"hoisted"`` and ``"fused"`` as in :class:`rnnlab.Recurrent`. Every backend gives
  torch's values and gradients of every order.
- ``last_backend`` says which backend the last call used; ``to_torch()`` /
  ``from_torch()`` convert (weights copied).

The cells are torch's cells (``forward`` returns ``h``, or ``(h, c)`` for the LSTM,
with unbatched input accepted), with rnnlab's cell protocol added (``state_size``,
``project_input``, ``step``, ``fused_mode``, ``flat_weights``), so a cell used step by
step can also be unrolled by :class:`rnnlab.Recurrent`, on torch's fused kernels:
``rnnlab.Recurrent(rnnlab.nn.GRUCell, 8, 32)``. :class:`rnnlab.cells.LSTMCell` and its
siblings are the other kind: rnnlab's own cells, whose ``forward(x, state)`` returns
``(h, new_state)`` and which take rnnlab's options (peepholes, chrono initialisation).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import torch
from torch import Tensor, nn
from torch.nn.modules import rnn as _torch_rnn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from ..cells import State, add_torch_equations, fused_cell_step, standard_step
from .backends import check_available, check_backend_args, tracing
from .dispatch import BackendDispatch
from .lengths import check_lengths

DROP_INS = ("RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell")  # the torch.nn names this module replaces
__all__ = [*DROP_INS, "DROP_INS", "patch_torch", "torch_class"]


def torch_class(name: str) -> type[nn.Module]:
    """torch's own ``torch.nn.<name>`` for a name of :data:`DROP_INS`, whatever
    ``torch.nn.<name>`` is now; the drop-ins hold these, so that nothing here looks
    torch's classes up through ``torch.nn`` after import.

    Users swap a drop-in in by assignment (``torch.nn.LSTM = rnnlab.LSTM``) so that code
    they do not own builds ours; from then on ``nn.LSTM`` is our class, and calling
    ``nn.LSTM.__init__`` from inside it would recurse forever. The class is found by where
    torch defined it (``torch.nn.modules.rnn``), walking the MRO, so that even a module
    attribute already swapped (say, rnnlab reloaded after a swap) gives torch's class."""
    for cls in getattr(_torch_rnn, name).__mro__:
        if cls.__module__ == _torch_rnn.__name__ and cls.__name__ == name:
            return cls
    raise ImportError(f"torch.nn.modules.rnn.{name}: torch's own class is not in its MRO; restore the attribute "
                      f"to torch's class before importing rnnlab")


if TYPE_CHECKING:  # the type checker sees torch's classes by name; at run time torch_class finds them
    from torch.nn import GRU as _TorchGRU
    from torch.nn import LSTM as _TorchLSTM
    from torch.nn import RNN as _TorchRNN
    from torch.nn import GRUCell as _TorchGRUCell
    from torch.nn import LSTMCell as _TorchLSTMCell
    from torch.nn import RNNCell as _TorchRNNCell

    # the mixins below run before torch's classes in the MRO and use their attributes
    _LayerBase: TypeAlias = nn.RNNBase
    _CellBase: TypeAlias = nn.RNNCellBase
else:
    _TorchRNN, _TorchLSTM, _TorchGRU = torch_class("RNN"), torch_class("LSTM"), torch_class("GRU")
    _TorchRNNCell, _TorchLSTMCell, _TorchGRUCell = (torch_class("RNNCell"), torch_class("LSTMCell"),
                                                     torch_class("GRUCell"))
    _LayerBase = _CellBase = object


@contextlib.contextmanager
def patch_torch(names: Iterable[str] = DROP_INS) -> Iterator[None]:
    """Within the block, ``torch.nn.<name>`` is rnnlab's drop-in (also under
    ``torch.nn.modules`` and ``torch.nn.modules.rnn``, where code may import it from), so
    a model you do not own builds rnnlab's layers; torch's classes are back afterwards,
    also on error. The same as assigning ``torch.nn.LSTM = rnnlab.LSTM`` by hand, which
    works too; the modules built keep rnnlab's class after the block.

    ``names``: which of :data:`DROP_INS` to swap, e.g. ``("LSTM",)``; an unknown name is
    a ValueError listing them."""
    names = tuple(names)
    unknown = sorted(set(names) - set(DROP_INS))
    if unknown:
        raise ValueError(f"names: {unknown} are not drop-ins; choose from {list(DROP_INS)}")
    places = (nn, nn.modules, _torch_rnn)
    saved = [(place, name, getattr(place, name)) for place in places for name in names]
    try:
        for place, name, _ in saved:
            setattr(place, name, globals()[name])
        yield
    finally:
        for place, name, original in saved:
            setattr(place, name, original)


def _check_types(**args) -> None:
    """What torch.nn accepts silently but means nothing: ``bidirectional='False'`` (a
    true string), ``num_layers=2.0``; a TypeError naming the argument, as torch's own
    checks do for ``bias``, ``batch_first``, ``input_size`` and ``hidden_size``."""
    for name, value in args.items():
        want = bool if name in ("bidirectional", "bias", "batch_first") else int
        if not isinstance(value, want) or (want is int and isinstance(value, bool)):
            raise TypeError(f"{name} should be of type {want.__name__}, got: {type(value).__name__}")


class _LayerDirection:
    """Layer-direction ``k`` of a drop-in layer as the backends see a cell
    (:class:`~rnnlab.recurrent.dispatch.LayerDirection`): the standard equations
    (:func:`rnnlab.cells.standard_step`) and torch's kernels on the layer's own parameters,
    read at each call (so parametrizations and ``functional_call`` see their own values)."""

    def __init__(self, layer: "_DropInLayer", k: int):
        self.layer, self.k = layer, k
        self.bias = layer.bias
        real = layer.proj_size if getattr(layer, "proj_size", 0) else layer.hidden_size
        self.state_size = (real, layer.hidden_size) if layer.mode == "LSTM" else (real,)

    def fused_mode(self) -> str:
        return self.layer.mode

    def flat_weights(self) -> list[Tensor]:
        return [getattr(self.layer, name) for name in self.layer._all_weights[self.k]]

    def _weights(self) -> dict[str, Tensor | None]:
        names = self.layer._all_weights[self.k]
        w = {n.rsplit("_l", 1)[0]: getattr(self.layer, n) for n in names}
        return {key: w.get(key) for key in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")}

    def project_input(self, x: Tensor) -> Tensor:
        w = self._weights()
        return nn.functional.linear(x, cast(Tensor, w["weight_ih"]), w["bias_ih"])

    def step(self, xp: Tensor, state: State) -> tuple[Tensor, State]:
        w = self._weights()
        return standard_step(self.layer.mode, xp, state, cast(Tensor, w["weight_hh"]), w["bias_hh"], w["weight_hr"])

    def fused_step(self, x: Tensor, state: State) -> tuple[Tensor, State] | None:
        if getattr(self.layer, "proj_size", 0):
            return None  # torch has no one-step kernel with projections
        w: list[Tensor | None] = list(self.flat_weights())
        return fused_cell_step(self.layer.mode, x, state, w if self.bias else [*w, None, None])


class _DropInLayer(BackendDispatch, _LayerBase):
    """What the three drop-in layers share (mixed in before the torch.nn class)."""

    _torch_class: type[nn.RNNBase]

    def _setup(self, backend: str, compile_steps: int) -> None:
        check_backend_args(backend, compile_steps)
        self.backend = backend
        self.compile_steps = compile_steps
        self.last_backend: str | None = None
        self._compiled_steps: dict = {}
        check_available(self, backend)

    # what BackendDispatch asks of a layer: torch's parameters, by torch's names
    @property
    def fused_reason(self) -> str | None:
        return None  # torch's own kernel computes every configuration of torch's classes

    @property
    def hoisted_reason(self) -> str | None:
        if getattr(self, "proj_size", 0):
            return "an LSTM with projections (proj_size > 0) has no hoisted kernel"
        return None

    def direction(self, k: int) -> _LayerDirection:
        return _LayerDirection(self, k)

    # forward ----------------------------------------------------------------
    def forward(self, input: Tensor | PackedSequence, hx: Tensor | State | None = None,
                lengths: Tensor | list[int] | None = None):
        """As torch.nn's ``forward(input, hx)``: ``(output, h_n)`` (LSTM: ``(output,
        (h_n, c_n))``), a PackedSequence out for a PackedSequence in (with the input's
        packing), unbatched 2-D input accepted. ``lengths`` ``(B,)``: a padded batch's
        sequence lengths (rnnlab's addition)."""
        packed = isinstance(input, PackedSequence)
        data = input.data if isinstance(input, PackedSequence) else input
        if isinstance(input, PackedSequence):
            steps = len(input.batch_sizes)
        elif isinstance(input, Tensor) and input.dim() == 3:
            steps = input.shape[1 if self.batch_first else 0]
        else:
            steps = input.shape[0] if isinstance(input, Tensor) and input.dim() == 2 else 0
        backend = self._pick_backend(data, lengths, steps=steps)
        single = (not packed and isinstance(input, Tensor) and input.dim() == 3 and steps == 1
                  and not getattr(self, "proj_size", 0) and not tracing())
        if steps == 0 or (backend == "fused" and lengths is None and not single):
            if not tracing():
                self.last_backend = "fused"
            return self._torch_forward(input, hx)  # torch's own forward, as it is
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx, lengths, backend)
        return self._forward_padded(input, hx, lengths, backend)

    def _torch_forward(self, input, hx):
        return self._torch_class.forward(self, input, hx)

    def _forward_padded(self, input: Tensor, hx, lengths, backend: str):
        name = self._torch_class.__name__
        if not isinstance(input, Tensor) or input.dim() not in (2, 3):
            got = f"{input.dim()}D" if isinstance(input, Tensor) else type(input).__name__
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {got} instead")
        batched = input.dim() == 3
        parts = self._hx_parts(hx, 3 if batched else 2)
        if not batched:
            if lengths is not None:
                raise ValueError("lengths: an unbatched (2-D) input is one sequence, which has no lengths; "
                                 "add a batch axis to pass lengths")
            input = input.unsqueeze(0 if self.batch_first else 1)
            parts = None if parts is None else tuple(p.unsqueeze(1) for p in parts)
        B, T = (input.shape[0], input.shape[1]) if self.batch_first else (input.shape[1], input.shape[0])
        parts = self._zero_state(input, B) if parts is None else parts
        self.check_forward_args(input, self._torch_hidden(parts), None)  # type: ignore[arg-type]  # LSTM: a tuple
        out, final = self._run(input, parts, check_lengths(lengths, B, T), backend)
        if not batched:
            out = out.squeeze(0 if self.batch_first else 1)
            final = tuple(p.squeeze(1) for p in final)
        return out, self._torch_hidden(final)

    def _forward_packed(self, input: PackedSequence, hx, lengths, backend: str):
        """A PackedSequence as a padded batch with lengths; the output is packed back
        exactly as the input was (``batch_sizes``, ``sorted_indices``), so that rows of
        its ``.data`` line up with the input's."""
        if lengths is not None:
            raise ValueError("lengths: a PackedSequence carries its lengths; pass either one, not both")
        padded, lens = pad_packed_sequence(input, batch_first=self.batch_first)  # caller's order
        B = len(lens)
        parts = self._hx_parts(hx, 3)
        parts = self._zero_state(padded, B) if parts is None else parts
        self.check_forward_args(input.data, self._torch_hidden(parts),  # type: ignore[arg-type]  # LSTM: a tuple
                                input.batch_sizes)
        out, final = self._run(padded, parts, check_lengths(lens, B, padded.shape[1 if self.batch_first else 0]),
                               backend)
        if input.sorted_indices is not None:  # pack in the input's order: its sorted order, ties included
            out = out.index_select(0 if self.batch_first else 1, input.sorted_indices.to(out.device))
            lens = lens[input.sorted_indices.cpu()]
        data = pack_padded_sequence(out, lens, batch_first=self.batch_first, enforce_sorted=True).data
        return (PackedSequence(data, input.batch_sizes, input.sorted_indices, input.unsorted_indices),
                self._torch_hidden(final))

    def _hx_parts(self, hx, dims: int) -> State | None:
        """``hx`` as a tuple of parts, with torch's RuntimeError when their rank does not
        match the input's."""
        if hx is None:
            return None
        parts = (hx,) if isinstance(hx, Tensor) else tuple(hx)
        if any(p.dim() != dims for p in parts):
            ranks = ", ".join(f"{p.dim()}-D" for p in parts)
            kind = "batched 3-D" if dims == 3 else "unbatched 2-D"
            which = "hx and cx" if self.mode == "LSTM" else "hx"
            raise RuntimeError(f"For {kind} input, {which} should also be {dims}-D but got ({ranks}) tensors")
        return parts

    def _zero_state(self, x: Tensor, batch: int) -> State:
        LD = self.num_layers * self.num_directions
        real = getattr(self, "proj_size", 0) or self.hidden_size
        widths = (real, self.hidden_size) if self.mode == "LSTM" else (real,)
        return tuple(x.new_zeros(LD, batch, w) for w in widths)

    def _torch_hidden(self, parts: State) -> Tensor | State:
        return tuple(parts) if self.mode == "LSTM" else parts[0]

    # conversions ------------------------------------------------------------
    @classmethod
    def _torch_config(cls, module: nn.RNNBase) -> dict:
        """The constructor arguments of torch's class that rebuild ``module`` (a drop-in or
        torch's own): the shared ones and the class's own (:meth:`_own_config`)."""
        return dict(input_size=module.input_size, hidden_size=module.hidden_size, num_layers=module.num_layers,
                    bias=module.bias, batch_first=module.batch_first, dropout=module.dropout,
                    bidirectional=module.bidirectional, **cls._own_config(module))

    def to_torch(self) -> nn.RNNBase:
        """The plain torch.nn module with the same configuration and (copied) weights."""
        p = next(self.parameters())
        module = self._torch_class(**self._torch_config(self), device=p.device, dtype=p.dtype)
        module.load_state_dict(self.state_dict())
        return module

    @classmethod
    def from_torch(cls, module: nn.RNNBase, backend: str = "auto", **kwargs):
        """The rnnlab drop-in equivalent of a torch.nn.RNN/LSTM/GRU, with its weights
        copied (``kwargs``: rnnlab's other arguments, e.g. ``compile_steps``)."""
        if not isinstance(module, cls._torch_class):
            raise ValueError(f"module: expected torch.nn.{cls._torch_class.__name__}, got {type(module).__name__}")
        p = next(module.parameters())
        layer = cls(**cls._torch_config(module), backend=backend,  # type: ignore[call-arg]  # each subclass's own
                    device=p.device, dtype=p.dtype, **kwargs)
        layer.load_state_dict(module.state_dict())
        layer.train(module.training)
        return layer

    @staticmethod
    def _own_config(module: Any) -> dict:  # each class's own torch module (nn.RNN, nn.LSTM, nn.GRU)
        return {}

    def extra_repr(self) -> str:
        s = self._torch_class.extra_repr(self)
        return s if self.backend == "auto" else f"{s}, backend={self.backend!r}"


class RNN(_DropInLayer, _TorchRNN):
    """Drop-in for ``torch.nn.RNN`` (Elman network): a subclass with the same arguments,
    parameters and results, plus ``lengths=`` and rnnlab's backends (:mod:`rnnlab.nn`)."""

    _torch_class = _TorchRNN

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None, *, backend: str = "auto", compile_steps: int = 1, **torch_kwargs):
        # torch_kwargs: what torch's own __init__ judges, so its errors are torch's (e.g. ``proj_size``:
        # "ValueError: proj_size argument is only supported for LSTM, not RNN or GRU")
        _check_types(num_layers=num_layers, bidirectional=bidirectional)
        _TorchRNN.__init__(self, input_size, hidden_size, num_layers=num_layers, nonlinearity=nonlinearity, bias=bias,
                           batch_first=batch_first, dropout=dropout, bidirectional=bidirectional, device=device,
                           dtype=dtype, **torch_kwargs)
        self._setup(backend, compile_steps)

    @staticmethod
    def _own_config(module: _TorchRNN) -> dict:
        return {"nonlinearity": module.nonlinearity}


class LSTM(_DropInLayer, _TorchLSTM):
    """Drop-in for ``torch.nn.LSTM``: a subclass with the same arguments (``proj_size``
    included), parameters and results, plus ``lengths=`` and rnnlab's backends
    (:mod:`rnnlab.nn`).

    ``forget_bias`` (rnnlab's, keyword only): if set, each layer's forget-gate bias starts
    at this value (``b_if = forget_bias``, ``b_hf = 0``; Gers et al. 2000, Jozefowicz et
    al. 2015) instead of torch's uniform initialisation. Peepholes and chrono
    initialisation: :class:`rnnlab.Recurrent` with ``rnnlab.cells.LSTMCell``.
    """

    _torch_class = _TorchLSTM

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device=None, dtype=None, *, backend: str = "auto", compile_steps: int = 1,
                 forget_bias: float | None = None):
        _check_types(num_layers=num_layers, bidirectional=bidirectional, proj_size=proj_size)
        self.__dict__["forget_bias"] = forget_bias  # read by reset_parameters, which torch's __init__ calls
        _TorchLSTM.__init__(self, input_size, hidden_size, num_layers=num_layers, bias=bias, batch_first=batch_first,
                            dropout=dropout, bidirectional=bidirectional, proj_size=proj_size, device=device,
                            dtype=dtype)
        self._setup(backend, compile_steps)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        fb = self.__dict__.get("forget_bias")
        if fb is None or not self.bias:
            return
        H = self.hidden_size
        with torch.no_grad():
            for names in self._all_weights:
                for name in names:
                    if name.startswith("bias_ih"):
                        getattr(self, name)[H:2 * H] = float(fb)
                    elif name.startswith("bias_hh"):
                        getattr(self, name)[H:2 * H] = 0.0

    @staticmethod
    def _own_config(module: _TorchLSTM) -> dict:
        return {"proj_size": module.proj_size}


class GRU(_DropInLayer, _TorchGRU):
    """Drop-in for ``torch.nn.GRU``: a subclass with the same arguments, parameters and
    results, plus ``lengths=`` and rnnlab's backends (:mod:`rnnlab.nn`)."""

    _torch_class = _TorchGRU

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None, *, backend: str = "auto", compile_steps: int = 1, **torch_kwargs):
        # torch_kwargs: judged by torch's own __init__ (``proj_size`` is its ValueError), as for RNN
        _check_types(num_layers=num_layers, bidirectional=bidirectional)
        _TorchGRU.__init__(self, input_size, hidden_size, num_layers=num_layers, bias=bias, batch_first=batch_first,
                           dropout=dropout, bidirectional=bidirectional, device=device, dtype=dtype, **torch_kwargs)
        self._setup(backend, compile_steps)


# ---------------------------------------------------------------------- cells
class _DropInCell(_CellBase):
    """rnnlab's cell protocol on torch's cells (mixed in before the torch.nn class), so
    :class:`rnnlab.Recurrent` can unroll them; ``forward`` stays torch's."""

    @property
    def mode(self) -> str:
        """torch's kernel name for the cell (``"LSTM"``, ``"GRU"``, ``"RNN_TANH"``, ``"RNN_RELU"``)."""
        raise NotImplementedError

    def _check(self, input_size, hidden_size) -> None:
        # (not ``bias``: torch's own cell tests build GRUCell(10, 20, 'relu'), a true bias)
        _check_types(input_size=input_size, hidden_size=hidden_size)

    @property
    def state_size(self) -> tuple[int, ...]:
        return (self.hidden_size, self.hidden_size) if self.mode == "LSTM" else (self.hidden_size,)

    def fused_mode(self) -> str:
        return self.mode

    def flat_weights(self) -> list[Tensor]:
        ws = [self.weight_ih, self.weight_hh]
        return ws + [self.bias_ih, self.bias_hh] if self.bias else ws

    def project_input(self, x: Tensor) -> Tensor:
        return nn.functional.linear(x, self.weight_ih, self.bias_ih)

    def step(self, xp: Tensor, state: State) -> tuple[Tensor, State]:
        """rnnlab's step: from a projected input and a state tuple to ``(h, new state)``."""
        return standard_step(self.mode, xp, state, self.weight_hh, self.bias_hh)

    def fused_step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        return fused_cell_step(self.mode, x, state, [self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh])

    def init_state(self, batch_size: int, device=None, dtype=None) -> State:
        p = self.weight_ih
        return tuple(torch.zeros(batch_size, s, device=device or p.device, dtype=dtype or p.dtype)
                     for s in self.state_size)


class RNNCell(_DropInCell, _TorchRNNCell):
    """Drop-in for ``torch.nn.RNNCell``: ``forward(input, hx=None) -> h`` as torch's
    (it is torch's), plus rnnlab's cell protocol (:mod:`rnnlab.nn`)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device=None, dtype=None):
        self._check(input_size, hidden_size)
        _TorchRNNCell.__init__(self, input_size, hidden_size, bias=bias, nonlinearity=nonlinearity, device=device,
                               dtype=dtype)

    @property
    def mode(self) -> str:
        return "RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU"


class LSTMCell(_DropInCell, _TorchLSTMCell):
    """Drop-in for ``torch.nn.LSTMCell``: ``forward(input, hx=None) -> (h, c)`` as torch's
    (it is torch's), plus rnnlab's cell protocol (:mod:`rnnlab.nn`)."""

    @property
    def mode(self) -> str:
        return "LSTM"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        self._check(input_size, hidden_size)
        _TorchLSTMCell.__init__(self, input_size, hidden_size, bias=bias, device=device, dtype=dtype)


class GRUCell(_DropInCell, _TorchGRUCell):
    """Drop-in for ``torch.nn.GRUCell``: ``forward(input, hx=None) -> h`` as torch's (it is
    torch's), plus rnnlab's cell protocol (:mod:`rnnlab.nn`)."""

    @property
    def mode(self) -> str:
        return "GRU"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        self._check(input_size, hidden_size)
        _TorchGRUCell.__init__(self, input_size, hidden_size, bias=bias, device=device, dtype=dtype)


add_torch_equations(RNNCell, LSTMCell, GRUCell)  # a Recurrent layer of them runs on torch's kernels
