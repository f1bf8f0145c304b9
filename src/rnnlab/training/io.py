"""Atomic file writes and safe (never unpickling) loading of tensors and JSON.

Every write goes to a temporary file in the same folder and is renamed over the target,
so a killed process leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file, save_model

from ..errors import InputError
from ..files import atomic_write

__all__ = ["save_tensors", "load_tensors", "save_weights", "load_weights", "check_weights_fit"]


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def load_tensors(path: str | Path, what: str = "tensor file") -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read a safetensors file: ``(tensors, metadata)``. Never executes code."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {what} not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            return {k: f.get_tensor(k) for k in f.keys()}, meta
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise InputError(f"{path}: not a valid safetensors file ({e}); it is damaged or not an rnnlab {what}") from None


def save_weights(path: str | Path, model: torch.nn.Module, metadata: dict[str, str] | None = None) -> None:
    """Save a model's weights (safetensors; tied weights are stored once)."""
    atomic_write(path, lambda tmp: save_model(model, tmp, metadata=metadata))


def load_weights(path: str | Path, model: torch.nn.Module) -> dict[str, str]:
    """Load weights into ``model``, checking every name and shape first; return the metadata."""
    tensors, meta = load_tensors(path, "weights file")
    expected = model.state_dict()
    # Tied parameters (one tensor, several names) are saved under one of their names.
    groups: dict[object, list[str]] = {}
    for name, t in expected.items():
        groups.setdefault(t.data_ptr() if t.numel() else name, []).append(name)
    source: dict[str, str] = {}
    missing = []
    for names in groups.values():
        present = [n for n in names if n in tensors]
        if not present:
            missing += names
        for n in names:
            source[n] = present[0] if present else n
    unexpected = [k for k in tensors if k not in expected]
    if missing or unexpected:
        raise InputError(
            f"{path}: these weights belong to another model (missing: {missing[:5]}, unexpected: {unexpected[:5]}); "
            "use the run directory that holds the matching config.json"
        )
    for k, t in tensors.items():
        if tuple(t.shape) != tuple(expected[k].shape):
            raise InputError(
                f"{path}: weight '{k}' has shape {tuple(t.shape)} but the model built from config.json expects "
                f"{tuple(expected[k].shape)}; the weights and the config do not belong together"
            )
    with torch.no_grad():
        for name, t in expected.items():
            t.copy_(tensors[source[name]])
    return meta


def check_weights_fit(path: str | Path, build: Callable[[], torch.nn.Module]) -> None:
    """Check that the weights in ``path`` fit the model ``build()`` makes, before any of
    it is allocated: the model is built on the ``meta`` device (shapes, no memory) and
    compared with the file's header (names and shapes, no tensor read). A run directory
    from someone else may hold a config whose sizes are absurd (a hidden size of 10^9) or
    a vocabulary that does not match the weights: an InputError naming the file, never an
    out-of-memory."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: weights file not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            stored = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise InputError(f"{path}: not a valid safetensors file ({e}); it is damaged or not an rnnlab weights file"
                         ) from None
    config = path.parent / "config.json"
    try:
        with torch.device("meta"):
            model = build()
    except (RuntimeError, ValueError, TypeError, OverflowError, MemoryError) as e:
        raise InputError(f"{config}: cannot build the model it describes ({e})") from None
    expected = {k: tuple(t.shape) for k, t in model.state_dict().items()}
    unexpected = [k for k in stored if k not in expected]
    wrong = [f"'{k}' {stored[k]} (the config makes {expected[k]})" for k in stored
             if k in expected and stored[k] != expected[k]]
    if unexpected or wrong:
        detail = "; ".join([*wrong[:3], *([f"unexpected weights {unexpected[:5]}"] if unexpected else [])])
        raise InputError(f"{path}: the weights do not fit the model built from {config} and the run's vocabulary "
                         f"files: {detail}; the run directory's files do not belong together")
