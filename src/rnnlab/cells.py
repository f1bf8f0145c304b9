"""Recurrent cells: one time step each, written from their equations.

A cell maps an input ``x_t`` of shape ``(B, input_size)`` and a state (a tuple of
tensors, each ``(B, size)`` for ``size`` in ``cell.state_size``) to the step's output
``h_t`` of shape ``(B, hidden_size)`` and the new state. :class:`rnnlab.Recurrent`
unrolls any cell over time (Keras' cell/unroll split).

The step is split in two so that the input projection — the half of the work that
does not depend on the previous state — can be done for all time steps in one GEMM:

- :meth:`RecurrentCell.project_input` maps ``(..., input_size)`` to the cell's
  projected input (identity by default);
- :meth:`RecurrentCell.step` runs one step from a projected input.

``forward(x, state) == step(project_input(x), state)``. A custom cell only has to
implement ``forward`` (and ``state_size``); overriding the pair makes it faster.

The weight layout of the three standard cells is torch.nn's (``weight_ih``,
``weight_hh``, ``bias_ih``, ``bias_hh``; gate order LSTM ``i f g o``, GRU ``r z n``),
so weights map one to one with ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

State = tuple[Tensor, ...]

__all__ = ["RecurrentCell", "ElmanCell", "LSTMCell", "GRUCell", "make_cell", "CELLS", "register", "cell_names",
           "add_torch_equations", "computes_torch_equations"]


class RecurrentCell(nn.Module):
    """Base class of every cell; subclass it to write your own.

    A subclass sets ``input_size``, ``hidden_size`` and ``state_size`` (a tuple with
    the width of each state tensor; by convention the first one is ``h``) and
    implements ``forward(x_t, state) -> (h_t, new_state)``.

    Example — a minimal custom cell::

        class LeakyCell(RecurrentCell):
            def __init__(self, input_size, hidden_size, leak=0.5):
                super().__init__(input_size, hidden_size, state_size=(hidden_size,))
                self.lin = nn.Linear(input_size + hidden_size, hidden_size)
                self.leak = leak
            def forward(self, x, state):
                (h,) = state
                h = self.leak * h + (1 - self.leak) * torch.tanh(self.lin(torch.cat([x, h], -1)))
                return h, (h,)
    """

    def __init__(self, input_size: int, hidden_size: int, state_size: tuple[int, ...]):
        super().__init__()
        if int(input_size) <= 0 or int(hidden_size) <= 0:
            raise ValueError(
                f"input_size and hidden_size must be positive, got input_size={input_size}, "
                f"hidden_size={hidden_size}"
            )
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.state_size = tuple(int(s) for s in state_size)

    def init_state(
        self, batch_size: int, device: torch.device | None = None, dtype: torch.dtype | None = None
    ) -> State:
        """Zero state: a tuple of ``(batch_size, size)`` tensors."""
        p = next(self.parameters(), None)
        device = device if device is not None else (p.device if p is not None else None)
        dtype = dtype if dtype is not None else (p.dtype if p is not None else torch.float32)
        return tuple(torch.zeros(batch_size, s, device=device, dtype=dtype) for s in self.state_size)

    def project_input(self, x: Tensor) -> Tensor:
        """Part of the step that depends only on the input: ``(..., input_size) -> (..., P)``.

        The default is the identity; :meth:`step` then receives ``x_t`` itself.
        """
        return x

    def step(self, xp: Tensor, state: State) -> tuple[Tensor, State]:
        """One step from a projected input (see :meth:`project_input`)."""
        return self.forward(xp, state)

    def forward(self, x: Tensor, state: State) -> tuple[Tensor, State]:  # pragma: no cover - abstract
        raise NotImplementedError("a RecurrentCell subclass must implement forward(x, state)")

    #: Name of the torch fused kernel that computes exactly this cell, or None.
    def fused_mode(self) -> str | None:
        """``"LSTM"``, ``"GRU"``, ``"RNN_TANH"``, ``"RNN_RELU"`` when torch's own kernel
        computes this cell's function with its parameters as they are; else ``None``."""
        return None

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, hidden_size={self.hidden_size}"


class _StandardCell(RecurrentCell):
    """Shared parameters of the three torch-compatible cells: ``gates`` blocks of size H."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, state_size: tuple[int, ...], bias: bool):
        super().__init__(input_size, hidden_size, state_size)
        G = self.gates * self.hidden_size
        self.bias = bool(bias)
        self.weight_ih = nn.Parameter(torch.empty(G, self.input_size))
        self.weight_hh = nn.Parameter(torch.empty(G, self.hidden_size))
        if self.bias:
            self.bias_ih = nn.Parameter(torch.empty(G))
            self.bias_hh = nn.Parameter(torch.empty(G))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # torch.nn's initialisation, so a fresh rnnlab layer behaves like a fresh nn one.
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def flat_weights(self) -> list[Tensor]:
        """Parameters in the order torch's fused kernels take them."""
        ws: list[Tensor] = [self.weight_ih, self.weight_hh]
        if self.bias:
            ws += [self.bias_ih, self.bias_hh]
        return ws

    def project_input(self, x: Tensor) -> Tensor:
        return nn.functional.linear(x, self.weight_ih, self.bias_ih)

    def _project_hidden(self, h: Tensor) -> Tensor:
        return nn.functional.linear(h, self.weight_hh, self.bias_hh)

    def forward(  # type: ignore[override]  # also a bare tensor state, given back bare, as torch's cells do
        self, x: Tensor, state: State | Tensor | None = None
    ) -> tuple[Tensor, State | Tensor]:
        """One step: ``x`` (B, input_size), ``state`` a tuple of (B, size) tensors — or, for
        one-part states (Elman, GRU), a bare ``h`` tensor, which gives a bare tensor back;
        None starts from zeros. When torch has a fused one-step kernel for this exact cell
        it runs that (what streaming at batch 1 needs); :meth:`step` is the equation
        itself, which the reference backend runs and the tests compare."""
        mode = self.fused_mode()
        if mode is not None and state is not None:
            # Streaming calls this once per step at batch 1, where Python overhead is the
            # whole cost: go straight to torch's kernel, which checks shapes itself, and
            # only when it refuses run our checks, whose messages name the argument.
            try:
                return self._fused_call(mode, x, state)
            except (RuntimeError, TypeError, ValueError, IndexError):
                self._check(x, state)
                raise
        bare = isinstance(state, Tensor)
        state = self._check(x, state)
        if mode is not None:
            h, new = self.fused_step(x, state)
        else:
            h, new = self.step(self.project_input(x), state)
        return h, (new[0] if bare else new)

    def _check(self, x: Tensor, state: State | Tensor | None) -> State:
        """``state`` as a tuple (zeros for None); a ValueError naming the argument whose
        shape is wrong."""
        shape = x.shape
        if len(shape) != 2 or shape[1] != self.input_size:
            raise ValueError(f"x: expected (batch, input_size={self.input_size}), got {tuple(shape)}")
        if state is None:
            return self.init_state(shape[0], x.device, x.dtype)
        if isinstance(state, Tensor):
            state = (state,)
        elif not isinstance(state, tuple):
            state = tuple(state)
        if len(state) != len(self.state_size):
            raise ValueError(f"state: expected {len(self.state_size)} tensor(s) of widths {self.state_size}, "
                             f"got {len(state)}")
        for k, (t, size) in enumerate(zip(state, self.state_size)):
            if t.shape != (shape[0], size):
                raise ValueError(f"state[{k}]: expected shape ({shape[0]}, {size}), got {tuple(t.shape)}")
        return state

    def _fused_call(self, mode: str, x: Tensor, state: State | Tensor) -> tuple[Tensor, State | Tensor]:
        """:meth:`forward` on torch's one-step kernel, the state in the form it was given."""
        w = self._parameters  # one dict, not four trips through Module.__getattr__
        weights: list[Tensor | None]
        try:
            weights = [w["weight_ih"], w["weight_hh"], w["bias_ih"], w["bias_hh"]]
        except KeyError:  # a parametrization (e.g. weight_norm) computes them: ask the module
            weights = [self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh]
        if mode != "LSTM" and isinstance(state, Tensor):
            return (h := _ONE_STEP[mode](x, state, *weights)), h  # type: ignore[arg-type]  # biases may be None
        if mode != "LSTM":
            (_,) = state  # a ValueError (then our message) unless exactly one tensor
        # an LSTM given a bare tensor fails inside torch's kernel, as torch's own cell does
        return fused_cell_step(mode, x, state, weights)  # type: ignore[arg-type]

    def fused_step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        mode = self.fused_mode()
        assert mode is not None, "fused_step is called only for cells with a fused kernel"
        return self._fused_call(mode, x, state)  # type: ignore[return-value]  # a tuple state gives a tuple back


_ONE_STEP = {"GRU": torch.gru_cell, "RNN_TANH": torch.rnn_tanh_cell, "RNN_RELU": torch.rnn_relu_cell}


def fused_cell_step(mode: str, x: Tensor, state: State, weights: list[Tensor | None]) -> tuple[Tensor, State]:
    """One step of torch's one-step kernel for ``mode`` from ``x`` ``(B, I)`` and a state
    tuple; ``weights`` are ``[W_ih, W_hh, b_ih, b_hh]`` (biases may be None)."""
    # torch's stubs type the biases as Tensor; the kernels take None (a cell without biases)
    if mode == "LSTM":
        h, c = torch.lstm_cell(x, state, *weights)  # type: ignore[arg-type]
        return h, (h, c)
    h = _ONE_STEP[mode](x, state[0], *weights)  # type: ignore[arg-type]
    return h, (h,)


def standard_step(mode: str, xp: Tensor, state: State, w_hh: Tensor, b_hh: Tensor | None = None,
                  w_hr: Tensor | None = None) -> tuple[Tensor, State]:
    """The equations of torch's standard cells for one step from a projected input
    ``xp = x W_ih^T + b_ih`` (what the reference backend runs and the tests compare).
    ``mode`` is ``"RNN_TANH"``, ``"RNN_RELU"``, ``"LSTM"`` or ``"GRU"`` (gate orders
    ``i f g o`` and ``r z n``); ``w_hr`` is an LSTM's projection (``proj_size``, Sak et
    al. 2014), which maps ``o * tanh(c)`` to the output and recurrent state ``h``."""
    if mode == "LSTM":
        h, c = state
        i, f, g, o = (xp + nn.functional.linear(h, w_hh, b_hh)).chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        if w_hr is not None:
            h = nn.functional.linear(h, w_hr)
        return h, (h, c)
    if mode == "GRU":
        (h,) = state
        xr, xz, xn = xp.chunk(3, dim=-1)
        hr, hz, hn = nn.functional.linear(h, w_hh, b_hh).chunk(3, dim=-1)
        r = torch.sigmoid(xr + hr)
        z = torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        h = n + z * (h - n)  # = (1 - z) * n + z * h, one op fewer
        return h, (h,)
    pre = xp + nn.functional.linear(state[0], w_hh, b_hh)
    h = torch.tanh(pre) if mode == "RNN_TANH" else torch.relu(pre)
    return h, (h,)


class ElmanCell(_StandardCell):
    r"""Elman (simple) RNN cell.

    .. math::  h_t = \phi(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}),
               \quad \phi \in \{\tanh, \mathrm{relu}\}

    State: ``(h,)``. Same parameters as ``nn.RNNCell``.
    """

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "tanh", bias: bool = True):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, (hidden_size,), bias)

    def step(self, xp: Tensor, state: State) -> tuple[Tensor, State]:
        return standard_step(self.fused_mode(), xp, state, self.weight_hh, self.bias_hh)

    def fused_mode(self) -> str:
        return "RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU"

    def extra_repr(self) -> str:
        return super().extra_repr() + f", nonlinearity={self.nonlinearity!r}"


class LSTMCell(_StandardCell):
    r"""Long short-term memory cell (Hochreiter & Schmidhuber 1997, with forget gate).

    .. math::
        i_t &= \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi} + p_i \odot c_{t-1}) \\
        f_t &= \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf} + p_f \odot c_{t-1}) \\
        g_t &= \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg}) \\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t \\
        o_t &= \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho} + p_o \odot c_t) \\
        h_t &= o_t \odot \tanh(c_t)

    The peephole terms ``p ⊙ c`` (Gers & Schmidhuber 2000) exist only with
    ``peepholes=True``. State: ``(h, c)``. Gate order in the weights is torch's
    ``i, f, g, o``.

    Args:
        forget_bias: initial forget-gate bias (split as ``b_if = forget_bias``,
            ``b_hf = 0``). 1.0 by default (Gers et al. 2000; Jozefowicz et al. 2015):
            the cell starts out remembering. ``None`` keeps torch's uniform init.
        chrono_max_timescale: if set, chrono initialisation (Tallec & Ollivier 2018):
            ``b_f ~ log(U(1, T_max - 1))``, ``b_i = -b_f``, so the forget gates start with
            characteristic memory times spread up to ``T_max`` steps. Overrides
            ``forget_bias``.
        peepholes: add the diagonal peephole weights ``p_i, p_f, p_o`` (then no fused kernel
            computes this cell).
    """

    gates = 4

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        forget_bias: float | None = 1.0,
        chrono_max_timescale: float | None = None,
        peepholes: bool = False,
    ):
        self.forget_bias = forget_bias
        self.chrono_max_timescale = chrono_max_timescale
        self.peepholes = bool(peepholes)
        if chrono_max_timescale is not None and chrono_max_timescale <= 2:
            raise ValueError(f"chrono_max_timescale must be > 2, got {chrono_max_timescale}")
        super().__init__(input_size, hidden_size, (hidden_size, hidden_size), bias)
        if self.peepholes:
            self.peephole_i = nn.Parameter(torch.zeros(hidden_size))
            self.peephole_f = nn.Parameter(torch.zeros(hidden_size))
            self.peephole_o = nn.Parameter(torch.zeros(hidden_size))

    def reset_parameters(self) -> None:
        super().reset_parameters()
        H = self.hidden_size
        if not self.bias:
            return
        with torch.no_grad():
            if self.chrono_max_timescale is not None:
                bf = torch.log(torch.empty(H).uniform_(1.0, float(self.chrono_max_timescale) - 1.0))
                self.bias_ih[H : 2 * H] = bf
                self.bias_hh[H : 2 * H] = 0.0
                self.bias_ih[0:H] = -bf
                self.bias_hh[0:H] = 0.0
            elif self.forget_bias is not None:
                self.bias_ih[H : 2 * H] = float(self.forget_bias)
                self.bias_hh[H : 2 * H] = 0.0

    def step(self, xp: Tensor, state: State) -> tuple[Tensor, State]:
        if not self.peepholes:
            return standard_step("LSTM", xp, state, self.weight_hh, self.bias_hh)
        h, c = state
        gates = xp + self._project_hidden(h)
        i, f, g, o = gates.chunk(4, dim=-1)
        i = torch.sigmoid(i + self.peephole_i * c)
        f = torch.sigmoid(f + self.peephole_f * c)
        c = f * c + i * torch.tanh(g)
        h = torch.sigmoid(o + self.peephole_o * c) * torch.tanh(c)
        return h, (h, c)

    def fused_mode(self) -> str | None:
        return None if self.peepholes else "LSTM"

    def extra_repr(self) -> str:
        s = super().extra_repr()
        if self.chrono_max_timescale is not None:
            s += f", chrono_max_timescale={self.chrono_max_timescale}"
        if self.peepholes:
            s += ", peepholes=True"
        return s


class GRUCell(_StandardCell):
    r"""Gated recurrent unit (Cho et al. 2014), torch's formulation.

    .. math::
        r_t &= \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}) \\
        z_t &= \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}) \\
        n_t &= \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn})) \\
        h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}

    State: ``(h,)``. Gate order in the weights is torch's ``r, z, n``.
    """

    gates = 3

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__(input_size, hidden_size, (hidden_size,), bias)

    def step(self, xp: Tensor, state: State) -> tuple[Tensor, State]:
        return standard_step("GRU", xp, state, self.weight_hh, self.bias_hh)

    def fused_mode(self) -> str | None:
        return "GRU"


_PROTOCOL = ("state_size", "project_input", "step", "fused_mode")

# The classes whose ``step`` is exactly torch's cell equations, so that torch's fused
# kernels may compute a layer of them in their place: rnnlab's three and, added by
# rnnlab.recurrent.dropins where they are defined, torch's cells with the protocol. A
# subclass is not one of them (it may have changed the equations) until it is added.
_TORCH_EQUATIONS: set[type] = {ElmanCell, LSTMCell, GRUCell}


def add_torch_equations(*classes: type) -> None:
    """Declare that instances of ``classes`` compute torch's cell equations exactly (so a
    layer of them may run on torch's fused kernels), e.g. a subclass that only adds a method."""
    _TORCH_EQUATIONS.update(classes)


def computes_torch_equations(cell: object) -> bool:
    """Whether ``cell``'s class is one declared by :func:`add_torch_equations` (not a subclass)."""
    return type(cell) in _TORCH_EQUATIONS

#: The cells by name: what :func:`make_cell`, the layers, the apps' ``cell`` keys and the
#: command line's ``--set cell=...`` accept. :func:`register` adds one; a package adds its
#: own through the ``rnnlab.cells`` entry-point group (name = "module:factory"), loaded
#: the first time a name is not found here.
CELLS: dict[str, Callable[..., "RecurrentCell"]] = {}


def register(name: str, factory: Callable[..., "RecurrentCell"]) -> Callable[..., "RecurrentCell"]:
    """Make ``factory`` (a :class:`RecurrentCell` subclass or ``f(input_size, hidden_size,
    **kwargs)``) available by ``name`` everywhere a cell name is read; returns it, so it
    also works as a decorator argument: ``register("mgu", MGUCell)``."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"register: a cell name must be a non-empty string, got {name!r}")
    if not callable(factory):
        raise ValueError(f"register: {factory!r} is not a RecurrentCell subclass or a factory")
    CELLS[name.strip().lower()] = factory
    return factory


def _load_entry_points() -> None:
    from importlib.metadata import entry_points

    for ep in entry_points(group="rnnlab.cells"):
        if ep.name.lower() not in CELLS:
            try:
                register(ep.name, ep.load())
            except Exception as e:  # a broken plugin must not break rnnlab
                import warnings

                warnings.warn(f"rnnlab.cells entry point {ep.name!r} ({ep.value}) failed to load: {e}", stacklevel=2)


def cell_names() -> tuple[str, ...]:
    """Every registered cell name (plugins included), for configs' checks and messages."""
    _load_entry_points()
    return tuple(CELLS)


for _name, _factory in (("rnn", ElmanCell), ("rnn_tanh", ElmanCell), ("elman", ElmanCell),
                        ("rnn_relu", functools.partial(ElmanCell, nonlinearity="relu")),
                        ("lstm", LSTMCell), ("gru", GRUCell)):
    register(_name, _factory)


def make_cell(cell: str | type | object, input_size: int, hidden_size: int, **kwargs) -> RecurrentCell:
    """Build a cell from a registered name (``"rnn"``/``"elman"``, ``"rnn_relu"``,
    ``"lstm"``, ``"gru"``, or one added with :func:`register`), a :class:`RecurrentCell`
    subclass, or a factory
    ``f(input_size, hidden_size, **kwargs) -> RecurrentCell``."""
    if isinstance(cell, str):
        name = cell.lower()
        if name not in CELLS:
            _load_entry_points()
        if name not in CELLS:
            raise ValueError(f"cell: unknown cell name {cell!r}; expected one of {', '.join(CELLS)} "
                             "(rnnlab.cells.register adds one)")
        cell = CELLS[name]
    if callable(cell):
        made = cell(input_size, hidden_size, **kwargs)
        # rnnlab's cells, or torch's cells with the protocol added (rnnlab.nn.LSTMCell ...)
        if not isinstance(made, RecurrentCell) and not all(hasattr(made, a) for a in _PROTOCOL):
            raise ValueError(
                f"cell: the factory {cell!r} returned {type(made).__name__}, expected a RecurrentCell"
            )
        return made
    raise ValueError(f"cell: expected a name, a RecurrentCell subclass or a factory, got {cell!r}")
