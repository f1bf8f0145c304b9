"""A small convolutional network that turns an image into the vector a decoder starts from.

``ImageEncoder(channels=(32, 64, 128), vector_size=256)``: blocks of 3×3 convolution,
batch normalisation, ReLU and 2×2 max-pooling, then global average pooling and a linear
layer: ``(B, 3, S, S) -> (B, vector_size)``. It is the "vector" side of the
vector→sequence topology (Vinyals et al. 2015's Show and Tell, with a CNN trained from
scratch instead of an ImageNet one, which no machine here can download).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

__all__ = ["ImageEncoder"]


class ImageEncoder(nn.Module):
    def __init__(self, channels: Sequence[int] = (32, 64, 128), vector_size: int = 256, in_channels: int = 3):
        super().__init__()
        if not channels or any(int(c) < 1 for c in channels):
            raise ValueError(f"channels: expected a non-empty list of positive widths, got {list(channels)}")
        blocks, prev = [], in_channels
        for c in channels:
            blocks += [nn.Conv2d(prev, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2)]
            prev = c
        self.features = nn.Sequential(*blocks)
        self.proj = nn.Linear(prev, vector_size)
        self.in_channels, self.vector_size = in_channels, vector_size

    def forward(self, images: Tensor) -> Tensor:
        if images.dim() != 4 or images.shape[1] != self.in_channels:
            raise ValueError(f"images: expected (B, {self.in_channels}, height, width), got {tuple(images.shape)}")
        return self.proj(self.features(images).mean((2, 3)))
