"""How series become a network's inputs in classification: frames of several steps per
RNN step (chosen so the median series is about 50 steps), HTK's Δ features, and
standardisation with training statistics — :class:`Encoding`, fitted on the training
series and saved with the run, so that evaluate and predict read new series exactly as
training did."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = ["STEPS_PER_SERIES", "auto_frame", "with_deltas", "features", "to_tensors", "Encoding"]


STEPS_PER_SERIES = 50  # the automatic frame aims at about this many RNN steps


def auto_frame(seqs: list[np.ndarray]) -> int:
    """Frame size that brings the median series down to about 50 steps."""
    median = float(np.median([len(s) for s in seqs]))
    return max(1, int(np.ceil(median / STEPS_PER_SERIES)))


def with_deltas(s: np.ndarray) -> np.ndarray:
    """``(T, C) -> (T, 2C)``: the values and their regression deltas
    ``d_t = sum_{k=1,2} k (s_{t+k} - s_{t-k}) / 10`` (edges repeated; HTK's Δ formula)."""
    p = np.pad(s, ((2, 2), (0, 0)), mode="edge")
    d = (p[3:-1] - p[1:-3] + 2 * (p[4:] - p[:-4])) / 10
    return np.concatenate([s, d], 1)


def features(seqs: list[np.ndarray], deltas: bool) -> list[np.ndarray]:
    """What the network reads per step, before standardisation: the series, and their deltas."""
    return [with_deltas(s) for s in seqs] if deltas else list(seqs)


def to_tensors(seqs: list[np.ndarray], mean: np.ndarray, std: np.ndarray, frame: int = 1,
               deltas: bool = False) -> tuple[Tensor, Tensor]:
    """Standardised, zero-padded ``(N, T, frame * features)`` and lengths in frames (a
    last partial frame is padded with zeros, the training mean); ``mean``/``std`` are per
    feature (twice the channels with ``deltas``)."""
    seqs = features(seqs, deltas)
    lengths = torch.tensor([-(-len(s) // frame) for s in seqs])
    C = seqs[0].shape[1]
    x = torch.zeros(len(seqs), int(lengths.max()) * frame, C)
    for i, s in enumerate(seqs):
        x[i, : len(s)] = torch.tensor((s - mean) / std, dtype=torch.float32)
    return x.reshape(len(seqs), -1, frame * C), lengths


@dataclass
class Encoding:
    """How series become network inputs — fitted on the training series, saved in
    classes.json, so that evaluate and predict read new series exactly as training did:
    per-feature ``mean``/``std`` (features: the channels, then their deltas if
    ``deltas``), and ``frame`` steps stacked per RNN step."""

    mean: np.ndarray
    std: np.ndarray
    frame: int = 1
    deltas: bool = False

    @classmethod
    def fit(cls, seqs: list[np.ndarray], frame: int, deltas: bool) -> "Encoding":
        stacked = np.concatenate(features(seqs, deltas))
        return cls(stacked.mean(0), stacked.std(0) + 1e-8, frame, deltas)

    @classmethod
    def from_json(cls, info: dict) -> "Encoding":
        # runs from before frame stacking / deltas existed had neither
        return cls(np.array(info["mean"]), np.array(info["std"]), int(info.get("frame", 1)),
                   bool(info.get("deltas", False)))

    def to_json(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "frame": self.frame, "deltas": self.deltas}

    @property
    def channels(self) -> int:
        """Channels a series must have."""
        return len(self.mean) // (2 if self.deltas else 1)

    @property
    def input_size(self) -> int:
        """Width of one RNN step."""
        return len(self.mean) * self.frame

    def tensors(self, seqs: list[np.ndarray]) -> tuple[Tensor, Tensor]:
        """The series as a padded batch and lengths (:func:`to_tensors`)."""
        return to_tensors(seqs, self.mean, self.std, self.frame, self.deltas)
