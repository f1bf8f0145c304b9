"""Labelled multivariate sequences for classification: aeon's bundled UCR/UEA datasets,
``.ts`` files, and the user's own CSV or NPZ files.

Bundled with aeon (read from its package folder, never downloaded): JapaneseVowels
(12 LPC channels, 9 speakers, lengths 7–29), BasicMotions, GunPoint, ArrowHead,
ItalyPowerDemand, OSULeaf, PickupGestureWiimoteZ (variable length), ACSF1.

Your own data:

- The UCR/UEA archives' formats: ``.ts`` (sktime/aeon), ``.arff`` (Weka; multivariate
  as relational attributes), ``.tsv`` (UCR 2018: one series per line, the label first,
  tab-separated, ``NaN`` padding a shorter series) and ``.txt`` (the older UCR files: the
  same with spaces or commas). A ``NAME_TRAIN.<ext>`` finds its ``NAME_TEST.<ext>``.
- CSV, long layout: one row per time step, columns ``series`` (an id), ``label`` and one
  column per channel; rows of a series are consecutive and in time order.
- CSV, wide layout: one row per univariate series, a ``label`` (or ``class``) column and
  one column per time step; empty cells at the end of a row make it shorter.
- NPZ: ``X`` of shape ``(n, T, channels)`` (or an object array of ``(T_i, channels)``
  arrays), ``y`` of shape ``(n,)``, optional ``lengths`` ``(n,)`` for padded ``X``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .text import read_text_file

__all__ = ["Sequences", "BUNDLED", "load_sequences", "bundled_path", "published_test_file"]

ARCHIVE_FORMATS = (".ts", ".arff", ".tsv", ".txt")  # the formats a NAME_TRAIN / NAME_TEST pair comes in
LABEL_COLUMNS = ("label", "class")

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


def _label(text: str) -> str:
    """A class label as written, except that a number written as a float ("1.0000000e+00",
    as the older UCR files write classes) reads as the integer the .ts files give."""
    try:
        v = float(text)
    except ValueError:
        return text
    return str(int(v)) if v.is_integer() else text


def _from_arff(path: Path) -> Sequences:
    from aeon.datasets import load_from_arff_file

    try:
        X, y = load_from_arff_file(str(path))
    except Exception as e:  # aeon raises several kinds for malformed files
        raise InputError(f"{path}: not a readable .arff file ({e})") from None
    return Sequences([np.asarray(x, float).T for x in X], [_label(str(v)) for v in y], str(path))


def _from_label_first(path: Path) -> Sequences:
    """UCR's ``.tsv`` / ``.txt``: one series per line, its label first, then its values
    (tabs, spaces or commas between them); ``NaN`` at the end pads a shorter series."""
    series, labels = [], []
    for n, line in enumerate(read_text_file(path).splitlines(), 1):
        fields = line.replace(",", " ").split()
        if not fields:
            continue
        if len(fields) < 2:
            raise InputError(f"{path}, line {n}: a label and no values; each line is <label> <value> <value> ...")
        values = []
        for v in fields[1:]:
            try:
                values.append(float(v))
            except ValueError:
                raise InputError(f"{path}, line {n}: {v!r} is not a number (each line is <label> <value> <value> ...; "
                                 "a header line is not part of this format)") from None
        series.append(np.array(values)[:, None])
        labels.append(_label(fields[0]))
    return Sequences(series, labels, str(path))


def _from_csv(path: Path) -> Sequences:
    import pandas as pd

    try:
        df = pd.read_csv(path, encoding="utf-8-sig")  # -sig: Excel's byte-order mark
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not a readable CSV file ({e})") from None
    label_col = next((c for c in df.columns if str(c).strip().lower() in LABEL_COLUMNS), None)
    if "series" not in df.columns and label_col is not None:
        return _from_wide_csv(path, df, label_col)
    for col in ("series", "label"):
        if col not in df.columns:
            raise InputError(f"{path}: no '{col}' column; a CSV is either long (series,label,<channel columns>, one "
                             "row per time step) or wide (label,<one column per time step>, one row per series); "
                             f"columns found: {list(df.columns)}")
    channels = [c for c in df.columns if c not in ("series", "label")]
    if not channels:
        raise InputError(f"{path}: no channel columns besides 'series' and 'label'")
    if df.empty:
        raise InputError(f"{path}: a header and no rows; one row per time step is expected")
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


def _from_wide_csv(path: Path, df, label_col: str) -> Sequences:
    """One row per univariate series: its label and one column per time step."""
    import pandas as pd

    steps = [c for c in df.columns if c != label_col]
    if not steps:
        raise InputError(f"{path}: a '{label_col}' column and no value columns")
    values = df[steps].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    bad = np.argwhere(np.isnan(values) & df[steps].notna().to_numpy())
    if len(bad):
        r, c = bad[0]
        raise InputError(f"{path}, column '{steps[c]}', line {r + 2}: {df[steps[c]].iloc[r]!r} is not a number")
    labels = df[label_col]
    if labels.isna().any():
        raise InputError(f"{path}, line {int(np.flatnonzero(labels.isna().to_numpy())[0]) + 2}: no label")
    return Sequences([row[:, None] for row in values], [_label(str(v)) for v in labels], str(path))


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
    if y.ndim != 1 or len(y) != len(X):
        raise InputError(f"{path}: y must hold one label per series of X ({len(X)}), got shape {y.shape}")
    lengths = data["lengths"] if "lengths" in data else np.full(len(X), X.shape[1])
    if lengths.ndim != 1 or not np.issubdtype(lengths.dtype, np.number) or \
            not np.array_equal(lengths, np.floor(lengths)):
        raise InputError(f"{path}: 'lengths' must be a 1-D array of whole numbers, got shape {lengths.shape} of "
                         f"{lengths.dtype}")
    if len(lengths) != len(X) or (lengths < 1).any() or (lengths > X.shape[1]).any():
        raise InputError(f"{path}: 'lengths' must have one value in [1, {X.shape[1]}] per series")
    return Sequences([X[i, : int(n)].astype(float) for i, n in enumerate(lengths)], [str(v) for v in y], str(path))


def published_test_file(data: str) -> Path | None:
    """The ``NAME_TEST.<ext>`` beside a ``NAME_TRAIN.<ext>`` of an archive format, if
    there is one."""
    path = Path(data)
    stem, suffix = path.stem, path.suffix.lower()
    if suffix not in ARCHIVE_FORMATS or not stem.upper().endswith("_TRAIN"):
        return None
    test = path.with_name(stem[: -len("TRAIN")] + ("TEST" if stem.endswith("TRAIN") else "test") + path.suffix)
    return test if test.exists() else None


def load_sequences(data: str, split: str) -> Sequences:
    """A bundled dataset's ``TRAIN``/``TEST`` split, or a file (for split TEST, a
    ``NAME_TRAIN.<ext>`` path gives its ``NAME_TEST.<ext>``)."""
    if data in BUNDLED:
        path = bundled_path(data, split)
        if not path.exists():
            raise InputError(f"--data {data}: not found in aeon's bundled data ({path}); reinstall aeon")
        seqs = _from_ts(path)
    else:
        path = Path(data)
        if split == "TEST":
            path = published_test_file(data) or path.with_name(path.name.replace("_TRAIN", "_TEST"))
        if not path.exists():
            if os.sep not in data and "." not in data:
                raise InputError(f"--data {data}: not a dataset bundled with aeon ({', '.join(BUNDLED)}) and not a "
                                 "file; rnnlab never downloads — give a .ts, .arff, .tsv, .csv or .npz path")
            raise InputError(f"{path}: no such file")
        suffix = path.suffix.lower()
        if suffix == ".ts":
            seqs = _from_ts(path)
        elif suffix == ".arff":
            seqs = _from_arff(path)
        elif suffix in (".tsv", ".txt"):
            seqs = _from_label_first(path)
        elif suffix == ".csv":
            seqs = _from_csv(path)
        elif suffix == ".npz":
            seqs = _from_npz(path)
        else:
            raise InputError(f"{path}: unknown format {suffix!r}; give a .ts, .arff, .tsv, .txt, .csv or .npz file")
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
