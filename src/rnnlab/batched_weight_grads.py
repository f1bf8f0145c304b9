"""Moved to :mod:`rnnlab.recurrent.backends.batched_weight_grads`; this name stays for
existing imports (importing it imports inductor, about a second)."""

from .recurrent.backends.batched_weight_grads import BatchedWeightGrads

__all__ = ["BatchedWeightGrads"]
