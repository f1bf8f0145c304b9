"""Variable lengths: checking them, masks, reversing each sequence within its length, and
reordering a batch by length (with a backward pass that is a copy, not a scatter)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..cells import State

__all__ = ["check_lengths", "sequence_mask", "reverse_padded", "permute_batch", "sort_by_length"]


def check_lengths(lengths: Tensor | list[int] | None, batch: int, steps: int) -> Tensor | None:
    """Validate ``lengths`` against a ``(B, T)`` batch; return an int64 CPU tensor, or
    ``None`` when every sequence fills the time axis (nothing to mask)."""
    if lengths is None:
        return None
    lengths = torch.as_tensor(lengths).detach().to("cpu")
    if lengths.dim() != 1 or lengths.numel() != batch:
        raise ValueError(f"lengths: expected shape ({batch},) (one length per sequence), got {tuple(lengths.shape)}")
    if lengths.is_floating_point() or lengths.dtype == torch.bool:
        raise ValueError(f"lengths: expected integers, got dtype {lengths.dtype}")
    lengths = lengths.long()
    if batch and int(lengths.min()) < 1:
        raise ValueError(f"lengths: every length must be >= 1, got min {int(lengths.min())}")
    if batch and int(lengths.max()) > steps:
        raise ValueError(
            f"lengths: a length of {int(lengths.max())} is longer than the time axis ({steps} steps)"
        )
    return None if batch and bool((lengths == steps).all()) else lengths


def sequence_mask(lengths: Tensor | None, steps: int, batch: int | None = None,
                  device: torch.device | None = None) -> Tensor:
    """``(B, T)`` bool mask, True at the valid steps of each sequence (all True if
    ``lengths`` is None, then ``batch`` is required)."""
    if lengths is None:
        if batch is None:
            raise ValueError("sequence_mask: batch is required when lengths is None")
        return torch.ones(batch, steps, dtype=torch.bool, device=device)
    lengths = torch.as_tensor(lengths, device=device)
    return torch.arange(steps, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def reverse_padded(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence of time-major ``x`` ``(T, B, ...)`` within its own length;
    padding stays in place."""
    if lengths is None:
        return x.flip(0)
    T, B = x.shape[0], x.shape[1]
    t = torch.arange(T).unsqueeze(1)  # (T, 1)
    L = torch.as_tensor(lengths).cpu().unsqueeze(0)  # (1, B); a list of lengths will do
    src = torch.where(t < L, L - 1 - t, t)  # (T, B): the step each entry comes from
    # as a permutation of the T*B rows: whole rows are copied rather than gathered element
    # by element, and the reversal is its own inverse, so the backward pass is the same
    # copy (no zero-fill and scatter-add)
    rows = (src * B + torch.arange(B)).reshape(-1).to(x.device)
    return permute_batch(x.reshape(T * B, *x.shape[2:]), rows, rows, 0).view(x.shape)


class _PermuteBatch(torch.autograd.Function):
    """``x.index_select(dim, order)`` for a permutation ``order``, whose backward gathers
    with the inverse permutation (``index_select``'s own backward zero-fills a buffer and
    scatter-adds into it)."""

    @staticmethod
    def forward(ctx, x: Tensor, order: Tensor, inverse: Tensor, dim: int) -> Tensor:
        ctx.save_for_backward(inverse)
        ctx.dim = dim
        return x.index_select(dim, order)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (inverse,) = ctx.saved_tensors
        return grad.index_select(ctx.dim, inverse), None, None, None


def permute_batch(x: Tensor, order: Tensor, inverse: Tensor, dim: int = 1) -> Tensor:
    """Axis ``dim`` of ``x`` reordered by the permutation ``order`` (``inverse`` undoes it)."""
    return _PermuteBatch.apply(x, order, inverse, dim)


def sort_by_length(x: Tensor, hx: State, lengths: Tensor, batch_dim: int = 1
                   ) -> tuple[Tensor, State, Tensor, Tensor, Tensor]:
    """``x`` (batch on axis ``batch_dim``) and the ``(L*D, B, S)`` state parts with the
    batch sorted by descending length (stable), the sorted lengths, the order and the
    permutation that undoes it. A batch-first ``x`` is sorted on its own first axis, so
    whole sequences are copied, not strided slices of its transpose."""
    order = torch.argsort(lengths, descending=True, stable=True)
    inverse = torch.argsort(order).to(x.device)
    lens = lengths[order]
    order = order.to(x.device)
    return (permute_batch(x, order, inverse, batch_dim), tuple(permute_batch(h, order, inverse) for h in hx), lens,
            order, inverse)
