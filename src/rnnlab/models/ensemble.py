"""Independently trained classifiers whose class probabilities are averaged."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["Ensemble"]


class Ensemble(nn.Module):
    """Independently trained classifiers; ``forward`` passes its inputs to every member
    (``(x, lengths)`` for sequences, ``(ids, word_lengths, sentence_counts)`` for a
    hierarchical attention network) and returns the log of their mean class
    probabilities (usable as logits: argmax and cross-entropy read them as such)."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, *inputs: Tensor | None) -> Tensor:
        logp = torch.stack([m(*inputs).log_softmax(-1) for m in self.members])
        return logp.logsumexp(0) - math.log(len(self.members))
