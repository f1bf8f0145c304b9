"""Converting a Recurrent layer's state to and from the batch-first dict that
:mod:`rnnlab.decoding` reorders (every tensor with the batch on axis 0)."""

from __future__ import annotations

from torch import Tensor

STATE_KEYS = ("h", "c", "s2", "s3")


def state_to_dict(state: Tensor | tuple[Tensor, ...]) -> dict[str, Tensor]:
    """``(L*D, B, S)`` tensor(s) -> ``{"h": (B, L*D, S), "c": ...}``."""
    parts = (state,) if isinstance(state, Tensor) else tuple(state)
    return {k: p.transpose(0, 1) for k, p in zip(STATE_KEYS, parts)}


def state_from_dict(d: dict[str, Tensor], n_parts: int) -> Tensor | tuple[Tensor, ...]:
    """Inverse of :func:`state_to_dict` for a cell with ``n_parts`` state tensors."""
    parts = tuple(d[k].transpose(0, 1).contiguous() for k in STATE_KEYS[:n_parts])
    return parts[0] if n_parts == 1 else parts
