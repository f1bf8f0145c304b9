"""How a recurrent layer reaches a backend: :class:`BackendDispatch`, the mixin that the
two kinds of layer share — :class:`~rnnlab.recurrent.layer.Recurrent` (any cell; its
cells are submodules, ``cells.0.weight_ih``) and the torch.nn drop-ins of
:mod:`rnnlab.recurrent.dropins` (torch's parameter names on the module itself).

A layer says one thing about itself, :meth:`BackendDispatch.direction`: its
layer-direction ``k`` as an object with the cell protocol that the backends read
(:class:`LayerDirection`). Everything else — which backend runs a call, zeroing padding,
logging, the call itself — is written here once."""

from __future__ import annotations

import logging
from typing import Protocol

from torch import Tensor

from ..cells import State
from . import backends
from .lengths import sequence_mask

__all__ = ["BackendDispatch", "LayerDirection"]

log = logging.getLogger(__name__)


class LayerDirection(Protocol):
    """Layer-direction ``k`` of a layer (layer ``k // D``, direction ``k % D``, ``D`` = 2
    if bidirectional else 1) as the backends see it: rnnlab's cells and torch's are this
    already; the drop-in layers make one over their own parameters."""

    bias: bool
    """Whether :meth:`flat_weights` holds the two biases."""

    def fused_mode(self) -> str | None:
        """torch's kernel name (``"LSTM"``, ``"GRU"``, ``"RNN_TANH"``, ``"RNN_RELU"``), or None."""

    def flat_weights(self) -> list[Tensor]:
        """The weights in the order torch's kernels take them (``w_ih, w_hh[, b_ih, b_hh][, w_hr]``)."""

    def project_input(self, x: Tensor) -> Tensor:
        """The input's share of the pre-activations, for every step at once."""

    def step(self, xp: Tensor, state: State) -> tuple[Tensor, State]:
        """One step from a projected input: ``(h, new state)``, the reference backend's definition."""

    def fused_step(self, x: Tensor, state: State) -> tuple[Tensor, State] | None:
        """One step of torch's one-step kernel on the raw input, or None where torch has none."""


class BackendDispatch:
    """Dispatch to the backends of :data:`rnnlab.recurrent.backends.TABLE`.

    A class using it has ``num_layers``, ``bidirectional``, ``dropout``, ``batch_first``,
    ``training``, ``backend``, ``compile_steps``, ``last_backend`` and ``fused_reason``,
    and implements :meth:`direction`. :meth:`_run` then computes the layer on a checked
    ``(x, state tuple, lengths)`` with the backend ``auto`` or the user picked."""

    # what the class using it has (its __init__ and nn.Module set them)
    num_layers: int
    bidirectional: bool
    dropout: float
    batch_first: bool
    training: bool
    backend: str
    compile_steps: int
    last_backend: str | None

    @property
    def fused_reason(self) -> str | None:
        """Why torch's fused kernel cannot compute this layer, or None if it can."""
        raise NotImplementedError

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def direction(self, k: int) -> LayerDirection:
        """Layer-direction ``k`` (``0 <= k < num_layers * num_directions``) as a cell."""
        raise NotImplementedError

    def _fused_mode(self) -> str | None:
        """torch's kernel name for the layer's cells (they agree when ``fused_reason`` is None)."""
        return self.direction(0).fused_mode()

    @property
    def hoisted_reason(self) -> str | None:
        """Why the hoisted backend cannot compute this layer, or None if it can."""
        return self.fused_reason

    def _pick_backend(self, x: Tensor | None = None, lengths: Tensor | list[int] | None = None,
                      steps: int | None = None) -> str:
        """The backend for this call (:func:`rnnlab.recurrent.backends.pick`)."""
        return backends.pick(self, x, steps)

    def _run(self, x: Tensor, hx: State, lengths: Tensor | None, backend: str) -> tuple[Tensor, State]:
        """The layer over checked inputs: ``x`` 3-D in the layer's layout, ``hx`` a tuple
        of ``(L*D, B, S)`` parts, ``lengths`` from :func:`~.lengths.check_lengths`, on the
        row ``backend`` of :data:`rnnlab.recurrent.backends.TABLE`."""
        T = x.shape[1 if self.batch_first else 0]
        if lengths is not None and backends.zero_padding(x, backend):
            valid = sequence_mask(lengths, T).to(x.device)
            x = x.masked_fill(~(valid if self.batch_first else valid.t()).unsqueeze(-1), 0.0)
        if self.last_backend != backend and not backends.tracing():
            log.debug("%s: %s backend (%s)", type(self).__name__, backend,
                      self.fused_reason or "fused kernel available")
        self.last_backend = backend
        return backends.TABLE[backend].run(self, x, hx, lengths)

    # the compiled backend's cache of compiled steps: an attribute of the layer (made in
    # __init__), dropped when pickled or deep-copied (compiled functions do neither; a
    # copy compiles its own)
    def __getstate__(self) -> dict:
        state = dict(super().__getstate__())  # type: ignore[misc, call-overload]  # nn.Module's (next in the MRO)
        state["_compiled_steps"] = {}
        return state
