"""Typed configuration dataclasses that round-trip to JSON, with checked loading.

Loading names the source and the key at fault: an unknown key, a value of the wrong
type, or an unparsable ``--set key=value`` override is an :class:`~rnnlab.errors.InputError`.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, TypeVar

from ..errors import InputError

T = TypeVar("T")

__all__ = ["to_dict", "from_dict", "apply_overrides", "check_value", "check_choices"]


def to_dict(cfg: Any) -> dict:
    """A JSON-ready dict of a config dataclass."""
    return dataclasses.asdict(cfg)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def check_value(value: Any, tp: Any, where: str) -> Any:
    """Return ``value`` converted to type ``tp`` or raise InputError naming ``where``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return check_value(value, a, where)
            except InputError as e:
                errors.append(e)
        raise InputError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise InputError(f"{where}: expected one of {list(typing.get_args(tp))}, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise InputError(f"{where}: expected a list, got {value!r}")
        (item,) = typing.get_args(tp)[:1] or (Any,)
        items = [check_value(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise InputError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise InputError(f"{where}: expected a string, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise InputError(f"{where}: expected an object, got {value!r}")
        return from_dict(tp, value, where)
    return value


def from_dict(cls: type[T], data: dict, source: str = "config") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types raise InputError."""
    if not isinstance(data, dict):
        raise InputError(f"{source}: expected a JSON object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise InputError(f"{source}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(fields)}")
    kwargs = {k: check_value(v, hints[k], f"{source}: key '{k}'") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise InputError(f"{source}: {e}") from None


def apply_overrides(cfg: T, overrides: list[str] | None, source: str = "--set") -> T:
    """Apply ``key=value`` strings (values parsed as JSON, else taken as strings)."""
    if not overrides:
        return cfg
    values = {}
    for item in overrides:
        if "=" not in item:
            raise InputError(f"{source} {item!r}: expected key=value, e.g. --set hidden_size=128")
        key, raw = item.split("=", 1)
        try:
            values[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            values[key.strip()] = raw
    return set_fields(cfg, values, source)


def set_fields(cfg: T, values: dict[str, Any], source: str = "--set") -> T:
    """A copy of ``cfg`` with ``values`` set, keys as ``--set`` takes them (``"train.lr"``
    sets a nested field), checked as a config file is."""
    data = to_dict(cfg)
    for key, value in values.items():
        *parents, leaf = key.split(".")
        target = data
        for p in parents:
            if not isinstance(target.get(p), dict):
                raise InputError(f"{source} {key}={json.dumps(value)}: '{p}' is not a section of this configuration")
            target = target[p]
        target[leaf] = value
    return from_dict(type(cfg), data, source)


def check_positive(cfg: Any, *names: str) -> None:
    """In a config's ``__post_init__``: every named field (a count or a size) must be
    >= 1; raises ValueError naming the first that is not."""
    for name in names:
        if getattr(cfg, name) < 1:
            raise ValueError(f"{name}: must be >= 1, got {getattr(cfg, name)}")


def check_choices(cfg: Any, **allowed: tuple) -> None:
    """In a config's ``__post_init__``: every named field must hold one of its allowed
    values (``None`` counts only if listed); raises ValueError naming the field."""
    for key, options in allowed.items():
        value = getattr(cfg, key)
        if value not in options:
            shown = ", ".join("null" if o is None else str(o) for o in options)
            raise ValueError(f"{key}: expected one of {shown}, got {value!r}")
