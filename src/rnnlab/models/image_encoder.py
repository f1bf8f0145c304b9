"""A small convolutional network that turns an image into the vector a decoder starts from.

``ImageEncoder(channels=(32, 64, 128), vector_size=256, image_size=32)``: blocks of 3×3
convolution, batch normalisation, ReLU and 2×2 max-pooling, then a linear layer on the
flattened last feature map: ``(B, 3, S, S) -> (B, vector_size)``. Flattening keeps
*where* each feature fired, which a caption saying "left of" or "above" needs; global
average pooling (``pooling="average"``, any image size) throws that away — on the
generated shapes it got most relations wrong. It is the "vector" side of the
vector→sequence topology (Vinyals et al. 2015's Show and Tell, with a CNN trained from
scratch instead of an ImageNet one, which no machine here can download).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

__all__ = ["ImageEncoder"]


class ImageEncoder(nn.Module):
    def __init__(self, channels: Sequence[int] = (32, 64, 128), vector_size: int = 256, image_size: int = 32,
                 pooling: str = "flatten", in_channels: int = 3):
        super().__init__()
        if not channels or any(int(c) < 1 for c in channels):
            raise ValueError(f"channels: expected a non-empty list of positive widths, got {list(channels)}")
        if pooling not in ("flatten", "average"):
            raise ValueError(f"pooling: expected 'flatten' or 'average', got {pooling!r}")
        side = image_size // 2 ** len(channels)
        if pooling == "flatten" and side < 1:
            raise ValueError(f"image_size: {image_size} is too small for {len(channels)} pooling blocks")
        blocks, prev = [], in_channels
        for c in channels:
            blocks += [nn.Conv2d(prev, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2)]
            prev = c
        self.features = nn.Sequential(*blocks)
        self.proj = nn.Linear(prev * side * side if pooling == "flatten" else prev, vector_size)
        self.in_channels, self.vector_size = in_channels, vector_size
        self.image_size, self.pooling = image_size, pooling
        self.map_channels = prev  # channels of feature_map

    def feature_map(self, images: Tensor) -> Tensor:
        """The last convolutional block's output ``(B, C, S / 2^k, S / 2^k)``: what an
        attending decoder reads, one position at a time."""
        self._check(images)
        return self.features(images)

    def _check(self, images: Tensor) -> None:
        expected = (self.image_size, self.image_size) if self.pooling == "flatten" else None
        if images.dim() != 4 or images.shape[1] != self.in_channels or (expected and images.shape[2:] != expected):
            size = f"{self.image_size}, {self.image_size}" if expected else "height, width"
            raise ValueError(f"images: expected (B, {self.in_channels}, {size}), got {tuple(images.shape)}")

    def forward(self, images: Tensor) -> Tensor:
        maps = self.feature_map(images)
        return self.proj(maps.flatten(1) if self.pooling == "flatten" else maps.mean((2, 3)))
