"""Image captioning networks: a convolutional encoder and a recurrent decoder."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .encoder_decoder import EncoderDecoder
from .image_encoder import ImageEncoder
from .vec_to_seq import VecToSeq

__all__ = ["ImageCaptioner"]


class ImageCaptioner(nn.Module):
    """Image captioning (Show and Tell; with ``attention``, Show, Attend and Tell):
    :class:`ImageEncoder` + a decoder: ``forward(images, tgt_in) -> logits (B, T, V)``;
    ``generate(images, max_len, beam_size)`` -> :class:`~rnnlab.decoding.Decoded` (with
    attention, its ``extras`` are the weights over the feature map, ``(B, L, h·w)``)."""

    def __init__(self, vocab_size: int, channels: list[int], vector_size: int, image_size: int, pooling: str,
                 attention: str | None, embed_size: int, hidden_size: int, cell: str = "lstm", num_layers: int = 1,
                 dropout: float = 0.0, pad_id: int = 0, bos_id: int = 1, eos_id: int = 2):
        super().__init__()
        self.bos_id, self.eos_id = bos_id, eos_id
        self.encoder = ImageEncoder(channels, vector_size, image_size, pooling)
        self.attend = attention is not None
        self.decoder: EncoderDecoder | VecToSeq
        if self.attend:
            self.decoder = EncoderDecoder(None, vocab_size, embed_size, hidden_size, cell, num_layers,
                                          attention=attention, dropout=dropout, pad_id=pad_id, bos_id=bos_id,
                                          eos_id=eos_id, memory_size=self.encoder.map_channels + 2)
        else:
            self.decoder = VecToSeq(vector_size, vocab_size, hidden_size, cell, num_layers=num_layers,
                                    dropout=dropout, init_from_vector=True, feed_vector=True,
                                    num_embeddings=vocab_size, embed_size=embed_size)

    def memory(self, images: Tensor) -> Tensor:
        """The feature map as ``(B, h·w, C + 2)`` positions, row by row, each with its
        x and y in [-1, 1]."""
        maps = self.encoder.feature_map(images)
        B, C, h, w = maps.shape
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        where = torch.stack([xs, ys]).to(maps).expand(B, 2, h, w)
        return torch.cat([maps, where], 1).flatten(2).transpose(1, 2)

    def forward(self, images: Tensor, tgt_in: Tensor) -> Tensor:
        if isinstance(self.decoder, EncoderDecoder):  # with attention (self.attend)
            return self.decoder.decode(self.decoder.start(self.memory(images)), tgt_in)[0]
        return self.decoder(self.encoder(images), tgt_in)

    @torch.no_grad()
    def generate(self, images: Tensor, max_len: int, beam_size: int = 1):
        if isinstance(self.decoder, EncoderDecoder):  # with attention (self.attend)
            return self.decoder.generate_from(self.decoder.start(self.memory(images)), max_len, beam_size)
        v = self.encoder(images)
        if beam_size == 1:
            return self.decoder.generate(v, max_len, self.bos_id, self.eos_id, strategy="greedy")
        return self.decoder.generate(v, max_len, self.bos_id, self.eos_id, strategy="beam", beam_size=beam_size)
