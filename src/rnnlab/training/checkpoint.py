"""The resumable state of a training run, stored without pickle, crash-consistent.

``RUN/checkpoints/step-00000042/`` holds ``model.safetensors``, ``optimizer.safetensors``
(optimizer tensors, the RNG states and any carried recurrent state), ``trainer.json``
(the loop's counters, the optimizer's and scheduler's plain settings, the history) and
``manifest.json`` (each file's size). A checkpoint is written whole into a temporary
``.partial-*`` directory beside the others, every file flushed to disk, the manifest
last, and only then renamed into place (one atomic rename), after which the oldest
beyond ``keep`` are removed. So at every instant the run directory holds at least one
complete checkpoint, whenever the process is killed; :func:`load_checkpoint` takes the
newest complete one and says which step it is. A write that fails (disk full, read-only
directory) leaves the previous checkpoints as they were and raises :class:`RunWriteError`.

Runs written before this layout kept one ``RUN/checkpoint/``; it is still read.
"""

from __future__ import annotations

import errno
import os
import random
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import InputError, RunWriteError
from ..files import read_json, write_json
from .io import load_tensors, load_weights, save_tensors, save_weights

__all__ = ["save_checkpoint", "load_checkpoint", "latest_checkpoint", "has_checkpoint", "CHECKPOINT_DIR"]

CHECKPOINT_DIR = "checkpoints"
_LEGACY_DIR = "checkpoint"  # the single checkpoint of runs made before CHECKPOINT_DIR
_STEP_DIR = re.compile(r"^step-(\d+)$")
_FILES = ("model.safetensors", "optimizer.safetensors", "trainer.json")


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


def _fsync(path: Path) -> None:
    """Flush a file (or a directory's entries) to disk; a no-op where the OS cannot."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _step_dirs(run_dir: Path) -> list[tuple[int, Path]]:
    """The run's checkpoint directories, newest first (complete or not)."""
    root = run_dir / CHECKPOINT_DIR
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _STEP_DIR.match(p.name)) and p.is_dir()] \
        if root.is_dir() else []
    return sorted(found, reverse=True)


def save_checkpoint(run_dir: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: Any, trainer_state: dict, carry: tuple[torch.Tensor, ...] | None,
                    keep: int = 2) -> Path:
    """Write a complete checkpoint for ``trainer_state['global_step']`` beside the
    others, then keep the newest ``keep``; return its directory."""
    run_dir = Path(run_dir)
    root = run_dir / CHECKPOINT_DIR
    step = int(trainer_state["global_step"])
    final = root / f"step-{step:08d}"
    tmp = root / f".partial-step-{step:08d}-{os.getpid()}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        for leftover in root.glob(".partial-*"):  # from a killed writer (the run lock allows one)
            shutil.rmtree(leftover, ignore_errors=True)
        tmp.mkdir()
        stamp = {"step": str(step)}
        save_weights(tmp / "model.safetensors", model, stamp)
        tensors, opt_info = _optimizer_split(optimizer)
        rng_tensors, rng_info = _rng_capture()
        tensors.update(rng_tensors)
        for i, c in enumerate(carry or ()):
            tensors[f"carry.{i}"] = c
        save_tensors(tmp / "optimizer.safetensors", tensors, stamp)
        write_json(tmp / "trainer.json", {
            **trainer_state,
            "optimizer": opt_info,
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "rng": rng_info,
            "carry_parts": len(carry or ()),
        })
        for name in _FILES:
            _fsync(tmp / name)
        write_json(tmp / "manifest.json", {"step": step, "files": {n: (tmp / n).stat().st_size for n in _FILES}})
        _fsync(tmp / "manifest.json")
        _fsync(tmp)
        stale = None
        if final.exists():  # the same step saved again (e.g. at the end of an epoch): replace it
            stale = root / f".partial-stale-{step:08d}-{os.getpid()}"
            os.rename(final, stale)
        os.rename(tmp, final)
        _fsync(root)
        if stale is not None:
            shutil.rmtree(stale, ignore_errors=True)
        for _, old in _step_dirs(run_dir)[max(int(keep), 1):]:
            shutil.rmtree(old, ignore_errors=True)
        legacy = run_dir / _LEGACY_DIR
        if legacy.is_dir():  # a resumed old-layout run: its checkpoint is superseded
            shutil.rmtree(legacy, ignore_errors=True)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if e.errno in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT):
            kept = _step_dirs(run_dir)
            last = f"the last complete checkpoint (step {kept[0][0]}) is intact" if kept else "no checkpoint was kept"
            raise RunWriteError(f"{run_dir}: cannot write the checkpoint of step {step}: "
                                f"{os.strerror(e.errno)}; {last}. Free some space or make the directory "
                                f"writable, then continue with --resume {run_dir}") from None
        raise
    return final


def _complete(path: Path) -> str | None:
    """Why the checkpoint directory ``path`` is not complete, or None if it is."""
    manifest = path / "manifest.json"
    if not manifest.is_file():
        return "no manifest.json (written last)"
    try:
        files = read_json(manifest, "checkpoint manifest")["files"]
        for name in _FILES:
            if (path / name).stat().st_size != int(files[name]):
                return f"{name} has another size than its manifest says"
    except (InputError, KeyError, TypeError, ValueError, OSError) as e:
        return f"unreadable ({e})"
    return None


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint directory of a run (incomplete ones are skipped
    with a note on stderr), the legacy ``checkpoint/`` of older runs, or None."""
    run_dir = Path(run_dir)
    for _step, path in _step_dirs(run_dir):
        why = _complete(path)
        if why is None:
            return path
        print(f"note: {path}: skipped, incomplete: {why}", file=sys.stderr)
    legacy = run_dir / _LEGACY_DIR
    return legacy if (legacy / "trainer.json").is_file() else None


def has_checkpoint(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` holds a checkpoint to resume from (complete or not)."""
    run_dir = Path(run_dir)
    return bool(_step_dirs(run_dir)) or (run_dir / _LEGACY_DIR / "trainer.json").is_file()


def load_checkpoint(run_dir: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: Any) -> tuple[dict, tuple[torch.Tensor, ...] | None]:
    """Restore model, optimizer, scheduler and RNGs from the newest complete checkpoint;
    return (trainer state, carried state). The state's ``checkpoint`` key names the
    directory it came from."""
    ckpt = latest_checkpoint(run_dir)
    if ckpt is None:
        raise InputError(f"{Path(run_dir) / CHECKPOINT_DIR}: no complete checkpoint to resume from; "
                         "start a new run instead")
    state = read_json(ckpt / "trainer.json", "checkpoint")
    if not isinstance(state, dict) or not isinstance(state.get("global_step"), int):
        raise InputError(f"{ckpt / 'trainer.json'}: not an rnnlab checkpoint (no integer 'global_step')")
    meta = load_weights(ckpt / "model.safetensors", model)
    tensors, meta2 = load_tensors(ckpt / "optimizer.safetensors", "optimizer state")
    step = str(state.get("global_step"))
    if meta.get("step") != step or meta2.get("step") != step:
        raise InputError(f"{ckpt}: the checkpoint files are from different steps; it was copied or edited by "
                         "hand: delete it to resume from the one before")
    try:
        _optimizer_join(optimizer, tensors, state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        _rng_restore(tensors, state["rng"])
    except (KeyError, ValueError, RuntimeError, TypeError) as e:
        raise InputError(f"{ckpt}: the optimizer state does not match this model or optimizer ({e})") from None
    parts = tuple(tensors[f"carry.{i}"] for i in range(state.get("carry_parts", 0)))
    state["checkpoint"] = str(ckpt)
    return state, (parts[0] if len(parts) == 1 else parts or None)
