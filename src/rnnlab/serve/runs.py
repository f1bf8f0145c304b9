"""The runs ``rnnlab serve`` shows: found once at start from the paths on its command line,
each with its app, data, key metrics and the files it may hand out.

A run is named in requests by its ``id`` (a short slug made here) and its files by their
names in the listing made here; a request's strings are only ever looked up in these
tables, never joined to a path. Models are loaded on first use with the app's own
``load`` (weights checked on the meta device, no pickle) and kept.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..files import read_json
from ..training import read_run_config

__all__ = ["ServedRun", "find_runs", "FILE_KINDS"]

#: what a run's files are shown as, by suffix; any other file is not served
FILE_KINDS = {".png": "image", ".csv": "table", ".tsv": "table", ".md": "markdown", ".json": "json",
              ".html": "html"}
#: files that are the run's machinery, not results
HIDDEN = {"config.json", "checkpoint.json", "vocab.json", "src_vocab.json", "tgt_vocab.json", "report.html"}
MAX_FILE = 5 << 20  # larger result files are listed but not served


@dataclass
class ServedRun:
    """One run directory as the server knows it."""

    id: str
    path: Path
    app_name: str
    app: Any  # the App, None when its extra is not installed
    data: str
    metrics: dict[str, Any]
    files: dict[str, Path]
    config: dict[str, Any] = field(default_factory=dict)  # the run's config.json "config" (shown; defaults)
    unavailable: str = ""  # why the app cannot load here (a missing extra), shown in the page
    lock: threading.Lock = field(default_factory=threading.Lock)  # one request at a time per model
    _loaded: Any = None
    _load_lock: threading.Lock = field(default_factory=threading.Lock)

    def loaded(self) -> Any:
        """The app's ``LoadedRun`` for this run, loaded on first use and kept."""
        with self._load_lock:
            if self._loaded is None:
                if self.app is None:
                    raise InputError(f"{self.app_name}: {self.unavailable}")
                self._loaded = self.app.load(self.path)
            return self._loaded

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "app": self.app_name, "path": str(self.path), "data": self.data,
                "metrics": self.metrics, "config": self.config, "unavailable": self.unavailable,
                "files": [{"name": n, "kind": FILE_KINDS[p.suffix.lower()]} for n, p in self.files.items()]}


def _slug(path: Path, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", "-".join(path.parts[-2:])).strip("-").lower() or "run"
    slug, k = base, 2
    while slug in taken:
        slug, k = f"{base}-{k}", k + 1
    taken.add(slug)
    return slug


def _result_files(run_dir: Path) -> dict[str, Path]:
    files = {}
    for p in sorted(run_dir.iterdir()):
        if (p.is_file() and not p.is_symlink() and p.suffix.lower() in FILE_KINDS and p.name not in HIDDEN
                and p.stat().st_size <= MAX_FILE):
            files[p.name] = p
    return files


def _run_dirs(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if not path.exists():
            raise InputError(f"{path}: no such run directory or folder")
        if (path / "config.json").is_file():
            found.append(path)
        elif path.is_dir():
            found.extend(sorted(p.parent for p in path.glob("**/config.json") if "checkpoints" not in p.parts))
        else:
            raise InputError(f"{path}: not a run directory (no config.json) nor a folder of runs")
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        raise InputError(f"no runs under {', '.join(map(str, paths))}: train one first (e.g. 'rnnlab demo')")
    return unique


def find_runs(paths: list[Path], apps: dict[str, Any], missing: dict[str, str]) -> dict[str, ServedRun]:
    """Every run directory named or found under ``paths``, by id. A folder that is not a
    run, or a run of an app this rnnlab does not know, is an ``InputError`` naming it."""
    runs: dict[str, ServedRun] = {}
    taken: set[str] = set()
    for run_dir in _run_dirs(paths):
        raw = read_run_config(run_dir)
        app_name, config = raw["app"], raw["config"]
        if app_name not in apps and app_name not in missing:
            raise InputError(f"{run_dir / 'config.json'}: app {app_name!r} is not one of rnnlab's "
                             f"({', '.join(sorted(apps))})")
        metrics: Any = {}  # an unfinished run has none yet: listed all the same
        if (run_dir / "metrics.json").is_file():
            try:
                metrics = read_json(run_dir / "metrics.json", "metrics")
            except InputError:  # a damaged file: the run is still shown, with the reason
                metrics = {"error": "metrics.json is not valid JSON"}
        data = config.get("data") if isinstance(config, dict) else None
        run = ServedRun(_slug(run_dir, taken), run_dir, app_name, apps.get(app_name), str(data or ""),
                        metrics if isinstance(metrics, dict) else {}, _result_files(run_dir),
                        config if isinstance(config, dict) else {}, unavailable=missing.get(app_name, ""))
        runs[run.id] = run
    return runs
