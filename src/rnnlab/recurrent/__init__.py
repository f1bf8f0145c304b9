"""The ``Recurrent`` layer: unrolls any cell over time, stacked and bidirectional.

Shapes (``D`` = 2 if bidirectional else 1, ``L`` = num_layers, ``S`` = a state width):

- input ``x``: ``(B, T, input_size)`` if ``batch_first`` else ``(T, B, input_size)``
- ``lengths``: ``(B,)`` integers in ``[1, T]`` (optional; variable-length batches)
- ``state``: for a cell with one state tensor (Elman, GRU) a tensor ``(L*D, B, H)``;
  otherwise a tuple with one ``(L*D, B, S)`` tensor per state part (LSTM: ``(h, c)``) —
  torch.nn's convention, layer-major, forward direction first.
- output: ``(B, T, D*H)`` (or time-major), zero past each sequence's length; the final
  state of each sequence is its state after its own last step.

Five backends compute the layer, and ``"auto"`` chooses among them:

- ``"reference"`` steps the cells in Python (any cell, readable, the definition);
- ``"fused"`` calls torch's own RNN kernels (oneDNN / cuDNN) on the same parameters; with
  variable lengths it calls them on the padded batch in a few stretches of time, dropping
  finished sequences at each cut and freezing those that finish inside a stretch
  (:func:`plan_cuts`, :func:`~.backends.fused.frozen_layer`), rather than on packed
  sequences (which CPU kernels run several times slower);
- ``"hoisted"`` (:mod:`.backends.hoisted`: the input projection and the weight gradients
  hoisted out of the time loop) runs the standard cells as custom autograd Functions whose
  backward computes the weight gradients as one GEMM over all steps and whose
  variable-length steps work on the running prefix of a length-sorted batch;
- ``"compiled"`` (opt-in, any cell) is the reference loop with each cell's ``step``
  compiled by ``torch.compile`` — its pointwise work fused into a few kernels, forward and
  backward; with ``compile_steps=K > 1`` each run of K consecutive steps is compiled as
  one graph (the rest of a sequence step by step), which removes the per-step call
  overhead, computes the gradient of each weight used at every step as one GEMM over the
  K steps (:mod:`.backends.batched_weight_grads`) and runs custom cells much closer to
  torch's kernels, at about a second of compilation per step in the graph (the first
  time: inductor caches the result on disk for later processes). So it pays off on long
  trainings of custom cells; where compilation fails (e.g. no C++ compiler) it warns and
  runs the plain reference loop;
- ``"scan"`` (:mod:`.backends.scan`) computes the cells linear in their state (minGRU,
  minLSTM, LRU: :mod:`rnnlab.linear_cells`) with the time loop reduced to a scan of
  ``s_t = a_t ⊙ s_{t-1} + b_t``, in chunks of time that stay in cache.

``"auto"`` takes the scan for linear cells over more than one step (their own step for
one); the reference backend for other cells no kernel computes; for training on CPU
hoisted for GRU and Elman layers; fused otherwise.
``layer.last_backend`` says which one the last call used and ``layer.fused_reason``
why fused is unavailable (``None`` when it is available).

The package: :mod:`.layer` (the layer and its checks), :mod:`.dispatch` (which backend
runs a call, :class:`BackendDispatch`), :mod:`.dropins` (torch.nn's classes on these
backends, public as :mod:`rnnlab.nn`), :mod:`.lengths`, :mod:`.stack` (layers and
directions), and :mod:`.backends`, one module per backend and a table,
:data:`.backends.TABLE`, that the layer, ``auto`` and export read; :func:`use_backend`
runs every layer of a block of code on one backend.

The dispatch, :class:`BackendDispatch`, is shared by two kinds of layer: :class:`Recurrent`
(any cell; its cells are submodules, ``cells.0.weight_ih``) and the drop-ins (subclasses
of ``nn.RNN/LSTM/GRU`` with torch's parameter names). Each gives its layer-direction
``k`` as a cell (``direction(k)``); the computation is the same.
"""

from __future__ import annotations

from .backends import BACKENDS, TABLE, use_backend
from .backends.fused import FUSED_CALL_COST, plan_cuts
from .backends.reference import run_steps, unroll
from .dispatch import BackendDispatch
from .layer import Recurrent
from .lengths import check_lengths, reverse_padded, sequence_mask

__all__ = ["Recurrent", "BackendDispatch", "BACKENDS", "TABLE", "use_backend", "reverse_padded", "check_lengths",
           "sequence_mask", "unroll", "run_steps", "plan_cuts", "FUSED_CALL_COST"]
