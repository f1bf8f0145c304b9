"""A classifier of raw series: the input encoding as tensor operations in front of the
network, the graph ``rnnlab classify export`` writes."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["RawSeriesClassifier"]


class RawSeriesClassifier(nn.Module):
    mean: Tensor  # buffers (register_buffer in __init__)
    std: Tensor
    picks: Tensor

    """``series (B, T, channels) -> class probabilities (B, K)``: ``enc`` (the classify
    app's :class:`~rnnlab.apps.classify.Encoding`: ``mean``, ``std``, ``frame``, ``deltas``)
    (Δ features, standardisation, frame stacking) as tensor operations in front of the
    network, for equal-length batches — the graph ``rnnlab classify export`` writes, which
    needs nothing but the raw values."""

    def __init__(self, enc, model: nn.Module):
        super().__init__()
        self.model, self.frame, self.deltas = model, enc.frame, enc.deltas
        self.register_buffer("mean", torch.tensor(enc.mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(enc.std, dtype=torch.float32))
        F = len(enc.mean)
        # frame stacking as a strided convolution whose kernel copies step j of a frame to
        # slots j*F .. j*F+F-1: no reshape whose size depends on the (dynamic) length
        picks = torch.zeros(self.frame * F, F, self.frame)
        for j in range(self.frame):
            picks[j * F: (j + 1) * F, :, j] = torch.eye(F)
        self.register_buffer("picks", picks)

    def forward(self, series: Tensor) -> Tensor:
        x = series
        if self.deltas:  # with_deltas: edges repeated twice, d_t = (x_{t+1} - x_{t-1} + 2 (x_{t+2} - x_{t-2})) / 10
            p = torch.cat([x[:, :1], x[:, :1], x, x[:, -1:], x[:, -1:]], 1)
            x = torch.cat([x, (p[:, 3:-1] - p[:, 1:-3] + 2 * (p[:, 4:] - p[:, :-4])) / 10], -1)
        x = (x - self.mean) / self.std
        if self.frame > 1:  # zeros (the training mean) complete the last frame, as to_tensors does
            x = nn.functional.pad(x.transpose(1, 2), (0, self.frame - 1))
            x = nn.functional.conv1d(x, self.picks, stride=self.frame).transpose(1, 2)
        return self.model(x).softmax(-1)
