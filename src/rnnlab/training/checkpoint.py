"""The resumable state of a training run, stored without pickle.

``DIR/checkpoint/`` holds ``model.safetensors``, ``optimizer.safetensors`` (optimizer
tensors, the RNG states and any carried recurrent state) and ``trainer.json`` (the loop's
counters, the optimizer's and scheduler's plain settings, the history). Each file is
written atomically and stamped with the global step; ``trainer.json`` is written last,
and loading checks that the stamps agree, so a run killed between two writes is caught.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import InputError
from .io import (
    load_tensors,
    load_weights,
    read_json,
    save_tensors,
    save_weights,
    write_json,
)

__all__ = ["save_checkpoint", "load_checkpoint", "CHECKPOINT_DIR"]

CHECKPOINT_DIR = "checkpoint"


def _optimizer_split(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors, plain = {}, {}
    for idx, st in sd["state"].items():
        for key, value in st.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{idx}.{key}"] = value
            else:
                plain.setdefault(str(idx), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "plain_state": plain}


def _optimizer_join(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], info: dict) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, t in tensors.items():
        if name.startswith("optim."):
            _, idx, key = name.split(".", 2)
            state.setdefault(int(idx), {})[key] = t
    for idx, st in info.get("plain_state", {}).items():
        state.setdefault(int(idx), {}).update(st)
    opt.load_state_dict({"state": state, "param_groups": info["param_groups"]})


def _rng_capture() -> tuple[dict[str, torch.Tensor], dict]:
    np_state = np.random.get_state()
    tensors = {"rng.torch": torch.get_rng_state(), "rng.numpy": torch.from_numpy(np_state[1].astype(np.int64))}
    py_version, py_state, py_gauss = random.getstate()
    return tensors, {"numpy": [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])],
                     "python": [py_version, list(py_state), py_gauss]}


def _rng_restore(tensors: dict[str, torch.Tensor], info: dict) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    name, pos, has_gauss, cached = info["numpy"]
    np.random.set_state((name, tensors["rng.numpy"].numpy().astype(np.uint32), pos, has_gauss, cached))
    version, state, gauss = info["python"]
    random.setstate((version, tuple(state), gauss))


def save_checkpoint(run_dir: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: Any, trainer_state: dict, carry: tuple[torch.Tensor, ...] | None) -> None:
    ckpt = Path(run_dir) / CHECKPOINT_DIR
    stamp = {"step": str(trainer_state["global_step"])}
    save_weights(ckpt / "model.safetensors", model, stamp)
    tensors, opt_info = _optimizer_split(optimizer)
    rng_tensors, rng_info = _rng_capture()
    tensors.update(rng_tensors)
    for i, c in enumerate(carry or ()):
        tensors[f"carry.{i}"] = c
    save_tensors(ckpt / "optimizer.safetensors", tensors, stamp)
    write_json(ckpt / "trainer.json", {
        **trainer_state,
        "optimizer": opt_info,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": rng_info,
        "carry_parts": len(carry or ()),
    })


def load_checkpoint(run_dir: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: Any) -> tuple[dict, tuple[torch.Tensor, ...] | None]:
    """Restore model, optimizer, scheduler and RNGs; return (trainer state, carried state)."""
    ckpt = Path(run_dir) / CHECKPOINT_DIR
    if not (ckpt / "trainer.json").is_file():
        raise InputError(f"{ckpt}: no checkpoint to resume from (trainer.json missing); start a new run instead")
    state = read_json(ckpt / "trainer.json", "checkpoint")
    meta = load_weights(ckpt / "model.safetensors", model)
    tensors, meta2 = load_tensors(ckpt / "optimizer.safetensors", "optimizer state")
    step = str(state.get("global_step"))
    if meta.get("step") != step or meta2.get("step") != step:
        raise InputError(f"{ckpt}: the checkpoint files are from different steps (the run was killed while saving); "
                         "delete the folder and start again, or resume from a copy")
    try:
        _optimizer_join(optimizer, tensors, state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        _rng_restore(tensors, state["rng"])
    except (KeyError, ValueError, RuntimeError) as e:
        raise InputError(f"{ckpt}: the optimizer state does not match this model or optimizer ({e})") from None
    parts = tuple(tensors[f"carry.{i}"] for i in range(state.get("carry_parts", 0)))
    return state, (parts[0] if len(parts) == 1 else parts or None)
