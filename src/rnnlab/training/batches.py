"""Mini-batches whose order depends only on (seed, epoch), so a resumed run replays
exactly the batches an uninterrupted run would have seen."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = ["TensorBatches", "bucketed_by_length", "stream_batches", "StreamBatches"]


class TensorBatches:
    """Batches of aligned tensors (same first axis), reshuffled every epoch.

    ``TensorBatches(x, y, batch_size=32, seed=0)(epoch)`` -> list of ``(x_b, y_b)`` tuples.
    """

    def __init__(self, *tensors: Tensor, batch_size: int = 32, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False):
        if not tensors:
            raise ValueError("TensorBatches: needs at least one tensor")
        n = tensors[0].shape[0]
        for i, t in enumerate(tensors):
            if t.shape[0] != n:
                raise ValueError(f"TensorBatches: tensor {i} has {t.shape[0]} items, tensor 0 has {n}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.tensors, self.n = tensors, n
        self.batch_size, self.shuffle, self.seed, self.drop_last = batch_size, shuffle, seed, drop_last

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else math.ceil(self.n / self.batch_size)

    def __call__(self, epoch: int) -> list[tuple[Tensor, ...]]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
            order = torch.randperm(self.n, generator=g)
        else:
            order = torch.arange(self.n)
        out = []
        for i in range(len(self)):
            idx = order[i * self.batch_size:(i + 1) * self.batch_size]
            out.append(tuple(t[idx] for t in self.tensors))
        return out


def stream_batches(ids: Tensor, batch_size: int, steps: int) -> tuple[Tensor, Tensor]:
    """Cut one long token stream into ``batch_size`` parallel streams for stateful training.

    Returns ``(inputs, targets)`` of shape ``(batch_size, L)`` where row b is the b-th
    contiguous slice of the stream and targets are inputs shifted by one. Splitting them
    along time into chunks of ``steps`` gives consecutive batches that continue each
    other (char-rnn's layout).
    """
    n = (ids.numel() - 1) // batch_size
    if n < 2:
        raise ValueError(f"stream: {ids.numel()} tokens are too few for {batch_size} parallel streams")
    x = ids[: n * batch_size].view(batch_size, n)
    y = ids[1: n * batch_size + 1].view(batch_size, n)
    return x, y


class StreamBatches:
    """:func:`stream_batches`'s layout read lazily from a token store: batch ``k`` of an
    epoch is ``(x[:, s:s + steps], y[:, s:s + steps])`` with ``s = k * steps``, gathered
    from ``ids`` (anything with ``len`` and ``gather(int64 index array) -> int64 array``,
    e.g. :class:`rnnlab.data.token_store.TokenArray`, or a 1-D tensor) when it is used,
    so the corpus never has to fit in memory.

    With data parallelism (``rank`` of ``world``) each process reads only its own rows
    (``tensor_split`` of the streams, as :func:`~rnnlab.training.trainer.shard_batch`
    would cut them), so ranks read disjoint parts of the corpus; ``pre_sharded`` tells
    the Trainer not to cut again."""

    pre_sharded = True

    def __init__(self, ids, batch_size: int, steps: int, rank: int = 0, world: int = 1):
        total = len(ids) if not isinstance(ids, Tensor) else ids.numel()
        n = (total - 1) // batch_size
        if n < 2:
            raise ValueError(f"stream: {total} tokens are too few for {batch_size} parallel streams")
        if batch_size < world:
            raise ValueError(f"batch: {batch_size} streams cannot be shared by {world} processes; use a larger "
                             "batch size")
        self.ids, self.steps, self.n = ids, steps, n
        rows = np.array_split(np.arange(batch_size), world)[rank]
        self.row_starts = rows.astype(np.int64) * n
        self.starts = list(range(0, n - 1, steps))

    def _gather(self, index: np.ndarray) -> Tensor:
        if isinstance(self.ids, Tensor):
            return self.ids[torch.from_numpy(index)]
        return torch.from_numpy(self.ids.gather(index))

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, k: int) -> tuple[Tensor, Tensor]:
        s = self.starts[k]
        width = min(self.steps, self.n - s)
        index = self.row_starts[:, None] + s + np.arange(width + 1)
        xy = self._gather(index.reshape(-1)).view(len(self.row_starts), width + 1)
        return xy[:, :-1], xy[:, 1:]

    def __iter__(self):
        return (self[k] for k in range(len(self)))

    def __call__(self, epoch: int) -> Sequence[tuple[Tensor, Tensor]]:
        return self  # the same streams every epoch (char-rnn's order)


def bucketed_by_length(lengths: list[int], batch_size: int, seed: int, epoch: int,
                       pool_batches: int) -> list[list[int]]:
    """Shuffled batches of indices of items of similar length: items are shuffled, sorted
    by length inside pools of ``pool_batches`` batches (so a batch wastes little on
    padding), cut into batches (each listed longest first), and the batches shuffled. The order depends only on
    (seed, epoch), so a resumed run replays it."""
    rng = random.Random(seed * 7919 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool, batches = batch_size * pool_batches, []
    for p in range(0, len(order), pool):
        chunk = sorted(order[p:p + pool], key=lambda i: lengths[i])
        # each batch longest first: a length-sorted batch needs no permutation in the hoisted backend
        batches += [chunk[i:i + batch_size][::-1] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches
