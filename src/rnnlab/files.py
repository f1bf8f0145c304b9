"""Files written whole or not at all, and JSON read with clear errors: generic I/O every
layer may use (data readers, reports, training, apps).

Every write goes to a temporary file in the same folder and is renamed over the target,
so a killed process leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from .errors import InputError

__all__ = ["atomic_write", "write_json", "read_json"]


def atomic_write(path: str | Path, write: Callable[[str], None] | bytes | str) -> None:
    """Write ``path`` atomically; ``write`` is the content or a function given a temp path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if callable(write):
            os.close(fd)
            write(tmp)
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(write.encode() if isinstance(write, str) else write)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)  # JSON has no NaN/inf; keep them readable
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "tolist") and hasattr(obj, "shape"):  # tensors and arrays (no torch import needed)
        size = obj.numel() if hasattr(obj, "numel") else obj.size
        return obj.item() if size == 1 else obj.tolist()
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return obj.item()
    return obj


def write_json(path: str | Path, data: Any) -> None:
    atomic_write(path, json.dumps(_jsonable(data), indent=2, sort_keys=False) + "\n")


def read_json(path: str | Path, what: str = "file") -> Any:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {what} not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not valid JSON ({e}); the {what} is damaged — rerun the training") from None
