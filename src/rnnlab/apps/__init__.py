"""The applications. Each module defines ``APP`` (an :class:`~rnnlab.apps.base.App`);
apps whose optional dependencies are missing are listed with the extra to install."""

from __future__ import annotations

import importlib

from .base import App

__all__ = ["App", "APP_MODULES", "load_apps"]

#: module name -> the pip extra its dependencies come from
APP_MODULES: dict[str, str | None] = {
    "forecast": "forecast",
    "classify": "classify",
    "textgen": None,
    "translate": "translate",
    "chords": "chords",
    "handwriting": None,
    "caption": "caption",
    "docs": "docs",
    "lab": None,
}


def load_apps() -> tuple[dict[str, App], dict[str, str]]:
    """``(apps by name, {name: why it is unavailable})``."""
    apps, missing = {}, {}
    for mod, extra in APP_MODULES.items():
        try:
            module = importlib.import_module(f"{__name__}.{mod}")
        except ModuleNotFoundError as e:
            missing[mod] = f"needs {e.name}: pip install 'rnnlab[{extra or 'all'}]'"
            continue
        apps[module.APP.name] = module.APP
    return apps, missing
