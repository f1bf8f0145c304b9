"""A run is a directory: ``config.json`` (enough to rebuild the model), ``model.safetensors``,
``checkpoint/`` (resumable state), ``metrics.csv``, ``metrics.json``, plots, ``report.html``."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..files import read_json, write_json
from ..version import __version__
from .distributed import world_size

__all__ = ["new_run_dir", "write_run_config", "read_run_config", "write_metrics", "DEFAULT_ROOT"]

DEFAULT_ROOT = Path("runs")
#: the top level of a run's config.json (the app's own keys are inside "config")
RUN_CONFIG_KEYS = ("app", "rnnlab_version", "processes", "config", "data")


def new_run_dir(out: str | Path | None, app: str) -> Path:
    """Create a fresh run directory (``runs/<app>-<time>`` unless ``out`` is given).
    Refuses one that already holds a run, so nothing is overwritten by accident."""
    if out is None:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = DEFAULT_ROOT / f"{app}-{stamp}"
    path = Path(out)
    if (path / "config.json").exists():
        raise InputError(f"{path}: already holds a run; pass --resume {path} to continue it, or another --out")
    if path.exists() and not path.is_dir():
        raise InputError(f"{path}: exists and is not a directory; choose another --out")
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_run_config(run_dir: Path, app: str, config: dict, data: dict | None = None) -> None:
    # processes: how many data-parallel processes trained it (torchrun), for reproducing it
    write_json(run_dir / "config.json", {"app": app, "rnnlab_version": __version__, "processes": world_size(),
                                         "config": config, "data": data or {}})


def read_run_config(run_dir: str | Path, app: str | None = None) -> dict[str, Any]:
    """Read and check ``config.json``; ``app`` must match when given."""
    path = Path(run_dir)
    if not path.is_dir():
        raise InputError(f"{path}: no such run directory")
    cfg = read_json(path / "config.json", "run configuration (config.json)")
    if not isinstance(cfg, dict) or "app" not in cfg or "config" not in cfg:
        raise InputError(f"{path / 'config.json'}: not an rnnlab run configuration (keys 'app' and 'config' missing)")
    unknown = sorted(set(cfg) - set(RUN_CONFIG_KEYS))
    if unknown:  # a hand edit or a typo: refused, as --set refuses an unknown key, never silently ignored
        raise InputError(f"{path / 'config.json'}: unknown top-level key(s) {', '.join(map(repr, unknown))}; "
                         f"known: {', '.join(RUN_CONFIG_KEYS)} (the app's settings go inside 'config')")
    if app is not None and cfg["app"] != app:
        raise InputError(f"{path}: this run was made by 'rnnlab {cfg['app']}', not 'rnnlab {app}'; "
                         f"use 'rnnlab {cfg['app']} ...' with it")
    return cfg


def write_metrics(run_dir: Path, metrics: dict[str, float]) -> None:
    """``metrics.json``: a flat object of the final held-out metrics (numbers only)."""
    flat = {}
    for k, v in metrics.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"metrics.json: value of '{k}' must be a number, got {v!r}")
        flat[k] = float(v) if isinstance(v, float) else v
    write_json(run_dir / "metrics.json", flat)
