"""Online handwriting: pen trajectories as sequences of offsets, with their text.

A sample is a text and its strokes (pen-down polylines). As Graves (2013, §4) does for
IAM-OnDB, a trajectory becomes a sequence of points ``(dx, dy, end)``: the offset from
the previous point and 1 on the last point of each stroke (the pen lifts after it), so
the pen-up move to the next stroke is the next point's offset.

Sources (``load_strokes``):

- ``"fonts"`` (embedded default): trajectories traced along glyph outlines of the fonts
  matplotlib ships (DejaVu Sans/Serif, Computer Modern roman and italic, STIX), for
  words of the Zen of Python, each with its own slant, width, rotation and jitter —
  a "writer". Outlines, not the centre lines a pen draws, but the task is the same: learn
  which strokes each character needs and when to move to the next.
- A ``.jsonl`` file, one sample per line: ``{"text": "hello", "strokes": [[[x, y], ...],
  ...]}`` (y up).
- An IAM-OnDB style ``.xml`` file (``StrokeSet/Stroke/Point`` with ``x``/``y``
  attributes, y down, and the text in ``Transcription/TextLine@text``), or a directory
  of such files and/or ``.jsonl`` files.
"""

from __future__ import annotations

import ast
import codecs
import importlib.util
import math
import random
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .text import json_lines

__all__ = ["Handwriting", "load_strokes", "font_handwriting", "to_offsets", "to_strokes", "zen_words"]


@dataclass
class Handwriting:
    """A text and its trajectory: ``points`` ``(N, 3)`` float32 rows ``(dx, dy, end)``."""

    text: str
    points: np.ndarray


def to_offsets(strokes: list[np.ndarray]) -> np.ndarray:
    """Strokes (each ``(n, 2)`` absolute x, y) -> ``(N, 3)`` points ``(dx, dy, end)``;
    the first point's offset is from the origin's first point (so it is 0)."""
    xy = np.concatenate(strokes, 0).astype(np.float64)
    end = np.zeros(len(xy))
    end[np.cumsum([len(s) for s in strokes]) - 1] = 1.0
    d = np.diff(xy, axis=0, prepend=xy[:1])
    return np.concatenate([d, end[:, None]], 1).astype(np.float32)


def to_strokes(points: np.ndarray) -> list[np.ndarray]:
    """``(N, 3)`` points -> absolute strokes (inverse of :func:`to_offsets` up to the
    starting position)."""
    xy = np.cumsum(points[:, :2], 0)
    cuts = np.flatnonzero(points[:, 2] > 0.5) + 1
    return [s for s in np.split(xy, cuts) if len(s)]


def zen_words() -> list[str]:
    """The distinct lower-case words of the Zen of Python (module ``this``, ROT13-encoded;
    read from its source, since importing it prints the poem)."""
    source = Path(importlib.util.find_spec("this").origin).read_text(encoding="utf-8")
    encoded = next(n.value.value for n in ast.parse(source).body
                   if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "s")
    text = codecs.decode(encoded, "rot13").lower()
    words = {"".join(ch for ch in w if ch.isalpha()) for w in text.split()}
    return sorted(w for w in words if w)


_FONTS = [("DejaVu Sans", "normal"), ("DejaVu Sans", "oblique"), ("DejaVu Serif", "normal"),
          ("cmr10", "normal"), ("cmti10", "normal"), ("STIXGeneral", "italic")]


def _resample(poly: np.ndarray, step: float) -> np.ndarray:
    """Points every ``step`` along the polyline (its ends kept)."""
    seg = np.linalg.norm(np.diff(poly, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    if arc[-1] <= step:
        return poly[[0, -1]] if len(poly) > 1 else poly
    at = np.linspace(0.0, arc[-1], int(math.ceil(arc[-1] / step)) + 1)
    return np.stack([np.interp(at, arc, poly[:, 0]), np.interp(at, arc, poly[:, 1])], 1)


def font_handwriting(n: int, seed: int = 0, max_words: int = 2, step: float = 0.1) -> list[Handwriting]:
    """``n`` samples of the embedded default (see the module docstring): 1 to
    ``max_words`` Zen-of-Python words each, traced with points ``step`` em apart."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    words = zen_words()
    props = [FontProperties(family=f, style=s) for f, s in _FONTS]
    out = []
    for _ in range(n):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(1, max_words)))
        path = TextPath((0, 0), text, size=1.0, prop=rng.choice(props))
        slant, width, angle = rng.uniform(-0.1, 0.45), rng.uniform(0.85, 1.15), rng.uniform(-0.05, 0.05)
        affine = np.array([[width, slant], [0.0, 1.0]]) @ np.array([[math.cos(angle), -math.sin(angle)],
                                                                       [math.sin(angle), math.cos(angle)]])
        strokes = []
        for poly in path.to_polygons(closed_only=False):
            pts = _resample(np.asarray(poly, dtype=np.float64), step) @ affine.T
            strokes.append(pts + noise.normal(0.0, 0.004, pts.shape))
        out.append(Handwriting(text, to_offsets(strokes)))
    return out


def _check_points(points: np.ndarray, where: str) -> np.ndarray:
    if len(points) < 2:
        raise InputError(f"{where}: a trajectory needs at least 2 points, got {len(points)}")
    if not np.isfinite(points).all():
        raise InputError(f"{where}: coordinates must be finite numbers (found NaN or infinity)")
    return points


def _read_jsonl(path: Path) -> list[Handwriting]:
    out = []
    for where, item in json_lines(path):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str) or "strokes" not in item:
            raise InputError(f'{where}: expected an object {{"text": "...", "strokes": [[[x, y], ...], ...]}}')
        if not item["text"]:
            raise InputError(f"{where}: 'text' is empty")
        try:
            strokes = [np.asarray(s, dtype=np.float64).reshape(-1, 2) for s in item["strokes"]]
        except (TypeError, ValueError, OverflowError):
            raise InputError(f"{where}: 'strokes' must be a list of strokes, each a list of [x, y] pairs") from None
        strokes = [s for s in strokes if len(s)]
        if not strokes:
            raise InputError(f"{where}: no points in 'strokes'")
        out.append(Handwriting(item["text"], _check_points(to_offsets(strokes), where)))
    return out


def _read_xml(path: Path) -> Handwriting:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise InputError(f"{path}: not well-formed XML ({e})") from None
    lines = [el.get("text", "") for el in root.iter("TextLine")]
    text = " ".join(t.strip() for t in lines if t.strip())
    if not text:
        raise InputError(f"{path}: no transcription (expected Transcription/TextLine elements with a 'text' attribute)")
    strokes = []
    for k, stroke in enumerate(root.iter("Stroke")):
        try:
            pts = [(float(p.get("x")), -float(p.get("y"))) for p in stroke.iter("Point")]  # IAM's y points down
        except (TypeError, ValueError):
            raise InputError(f"{path}: stroke {k + 1} has a Point without numeric x and y attributes") from None
        if pts:
            strokes.append(np.asarray(pts))
    if not strokes:
        raise InputError(f"{path}: no StrokeSet/Stroke/Point elements")
    return Handwriting(text, _check_points(to_offsets(strokes), str(path)))


def load_strokes(source: str, n_default: int = 2000, seed: int = 0, max_words: int = 2
                 ) -> tuple[list[Handwriting], str]:
    """Samples from ``source`` (``"fonts"``: ``n_default`` samples of up to ``max_words``
    words; a ``.jsonl``/``.xml`` file or a directory of them) and a one-line description."""
    if source == "fonts":
        return font_handwriting(n_default, seed, max_words), f"{n_default} font-traced samples (embedded)"
    path = Path(source)
    if not path.exists():
        raise InputError(f"{source}: no such file or directory (give a .jsonl file, an IAM-OnDB .xml file, a "
                         "directory of them, or 'fonts' for the embedded default)")
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in (".jsonl", ".xml")) if path.is_dir() else [path]
    if not files:
        raise InputError(f"{path}: no .jsonl or .xml files in this directory")
    samples: list[Handwriting] = []
    for f in files:
        if f.suffix.lower() == ".jsonl":
            samples += _read_jsonl(f)
        elif f.suffix.lower() == ".xml":
            samples.append(_read_xml(f))
        else:
            raise InputError(f"{f}: unknown format (expected .jsonl or .xml)")
    if not samples:
        raise InputError(f"{path}: no samples found")
    return samples, f"{len(samples)} samples from {path}"
