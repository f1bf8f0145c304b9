"""Labelled multivariate sequences for classification: aeon's bundled UCR/UEA datasets,
``.ts`` files, and the user's own CSV or NPZ files.

Bundled with aeon (read from its package folder, never downloaded): JapaneseVowels
(12 LPC channels, 9 speakers, lengths 7–29), BasicMotions, GunPoint, ArrowHead,
ItalyPowerDemand, OSULeaf, PickupGestureWiimoteZ (variable length), ACSF1.

Your own data:

- ``.ts``: the sktime/aeon text format (a ``NAME_TRAIN.ts`` finds its ``NAME_TEST.ts``).
- CSV, long layout: one row per time step, columns ``series`` (an id), ``label`` and one
  column per channel; rows of a series are consecutive and in time order.
- NPZ: ``X`` of shape ``(n, T, channels)`` (or an object array of ``(T_i, channels)``
  arrays), ``y`` of shape ``(n,)``, optional ``lengths`` ``(n,)`` for padded ``X``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = ["Sequences", "BUNDLED", "load_sequences", "bundled_path"]

BUNDLED = ("JapaneseVowels", "BasicMotions", "GunPoint", "ArrowHead", "ItalyPowerDemand", "OSULeaf",
           "PickupGestureWiimoteZ", "ACSF1")


@dataclass
class Sequences:
    """``series``: list of ``(T_i, channels)`` float arrays; ``labels``: list of str."""

    series: list[np.ndarray]
    labels: list[str]
    source: str

    def __len__(self) -> int:
        return len(self.series)

    @property
    def channels(self) -> int:
        return self.series[0].shape[1]


def bundled_path(name: str, split: str) -> Path:
    import aeon.datasets

    return Path(aeon.datasets.__path__[0]) / "data" / name / f"{name}_{split}.ts"


def _from_ts(path: Path) -> Sequences:
    from aeon.datasets import load_from_ts_file

    try:
        X, y = load_from_ts_file(str(path))
    except Exception as e:  # aeon raises several kinds for malformed files
        raise InputError(f"{path}: not a readable .ts file ({e})") from None
    series = [np.asarray(x, float).T for x in X]  # (channels, T) -> (T, channels)
    return Sequences(series, [str(v) for v in y], str(path))


def _from_csv(path: Path) -> Sequences:
    import pandas as pd

    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not a readable CSV file ({e})") from None
    for col in ("series", "label"):
        if col not in df.columns:
            raise InputError(f"{path}: no '{col}' column; the CSV layout is series,label,<channel columns>, one row "
                             f"per time step (columns found: {list(df.columns)})")
    channels = [c for c in df.columns if c not in ("series", "label")]
    if not channels:
        raise InputError(f"{path}: no channel columns besides 'series' and 'label'")
    for c in channels:
        vals = pd.to_numeric(df[c], errors="coerce")
        bad = np.flatnonzero(vals.isna().to_numpy())
        if len(bad):
            raise InputError(f"{path}, column '{c}', line {bad[0] + 2}: {df[c].iloc[bad[0]]!r} is not a number")
    series, labels, seen = [], [], set()
    ids = df["series"].to_numpy()
    starts = [0] + [i for i in range(1, len(ids)) if ids[i] != ids[i - 1]] + [len(ids)]
    for a, b in zip(starts[:-1], starts[1:]):
        sid = ids[a]
        if sid in seen:
            raise InputError(f"{path}, line {a + 2}: series {sid!r} appears again after other series; keep each "
                             "series' rows together")
        seen.add(sid)
        lab = df["label"].iloc[a:b].astype(str).unique()
        if len(lab) != 1:
            raise InputError(f"{path}, series {sid!r}: more than one label ({list(lab)[:3]})")
        series.append(df[channels].iloc[a:b].to_numpy(float))
        labels.append(lab[0])
    return Sequences(series, labels, str(path))


def _from_npz(path: Path) -> Sequences:
    try:
        archive = np.load(path, allow_pickle=False)
        data = {k: archive[k] for k in archive.keys()}
    except ValueError:
        raise InputError(f"{path}: object arrays need pickle, which rnnlab never loads; save X padded to one "
                         "length with a 'lengths' array instead") from None
    except Exception as e:
        raise InputError(f"{path}: not a readable .npz file ({e})") from None
    for key in ("X", "y"):
        if key not in data:
            raise InputError(f"{path}: no array '{key}' (found {list(data)}); expected X (n, T, channels), y (n,)")
    X, y = data["X"], data["y"]
    if X.ndim == 2:
        X = X[:, :, None]
    if X.ndim != 3:
        raise InputError(f"{path}: X must have shape (n, T, channels), got {X.shape}")
    if len(y) != len(X):
        raise InputError(f"{path}: X has {len(X)} series but y has {len(y)} labels")
    lengths = data["lengths"] if "lengths" in data else np.full(len(X), X.shape[1])
    if len(lengths) != len(X) or (lengths < 1).any() or (lengths > X.shape[1]).any():
        raise InputError(f"{path}: 'lengths' must have one value in [1, {X.shape[1]}] per series")
    return Sequences([X[i, : int(n)].astype(float) for i, n in enumerate(lengths)], [str(v) for v in y], str(path))


def load_sequences(data: str, split: str) -> Sequences:
    """A bundled dataset's ``TRAIN``/``TEST`` split, or a file (a ``_TRAIN.ts`` path
    gives its ``_TEST.ts`` for split TEST)."""
    if data in BUNDLED:
        path = bundled_path(data, split)
        if not path.exists():
            raise InputError(f"--data {data}: not found in aeon's bundled data ({path}); reinstall aeon")
        seqs = _from_ts(path)
    else:
        path = Path(data)
        if split == "TEST" and path.name.endswith("_TRAIN.ts"):
            path = path.with_name(path.name.replace("_TRAIN.ts", "_TEST.ts"))
        if not path.exists():
            if not os.sep in data and "." not in data:
                raise InputError(f"--data {data}: not a dataset bundled with aeon ({', '.join(BUNDLED)}) and not a "
                                 "file; rnnlab never downloads — give a .ts, .csv or .npz path")
            raise InputError(f"{path}: no such file")
        suffix = path.suffix.lower()
        if suffix == ".ts":
            seqs = _from_ts(path)
        elif suffix == ".csv":
            seqs = _from_csv(path)
        elif suffix == ".npz":
            seqs = _from_npz(path)
        else:
            raise InputError(f"{path}: unknown format {suffix!r}; give a .ts, .csv or .npz file")
    if not seqs.series:
        raise InputError(f"{seqs.source}: no series")
    widths = {s.shape[1] for s in seqs.series}
    if len(widths) != 1:
        raise InputError(f"{seqs.source}: series have different numbers of channels ({sorted(widths)})")
    for i, s in enumerate(seqs.series):
        if len(s) == 0:
            raise InputError(f"{seqs.source}: series {i} is empty")
        if not np.isfinite(s).all():
            # UCR pads variable-length series with NaN at the end: cut it; NaN inside is an error
            finite = np.isfinite(s).all(1)
            n = int(finite.sum())
            if n == 0 or not finite[:n].all():
                raise InputError(f"{seqs.source}: series {i} has missing values inside it; fill or remove them")
            seqs.series[i] = s[:n]
    return seqs
