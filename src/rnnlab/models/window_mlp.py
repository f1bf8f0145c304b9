"""The non-recurrent comparison for per-step labelling: an MLP on a fixed window of steps
around each one (the chords app's DNN and DNN-HMM baselines)."""

from __future__ import annotations

from torch import nn

__all__ = ["WindowMLP"]


class WindowMLP(nn.Sequential):
    """Two hidden ReLU layers with dropout on a window's flattened features, then
    ``n_out`` logits. A ``Sequential`` (parameters ``0.weight`` ... ``6.bias``)."""

    def __init__(self, n_in: int, hidden: int, n_out: int, dropout: float = 0.3):
        super().__init__(nn.Linear(n_in, hidden), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(hidden, n_out))
