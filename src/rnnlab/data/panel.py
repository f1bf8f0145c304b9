"""Panels: many time series at once, in the layouts the forecasting ecosystem uses.

A panel is a list of regular series, each with its own length and start, sharing one
frequency, with covariates of three kinds:

- **past** covariates, observed with the target (known up to the series' last value only);
- **future** covariates, known in advance (calendar, prices, planned promotions) — they
  may run past the last target value: those rows supply the forecast horizon;
- **static** covariates, one value per series (a category or a number).

Layouts read (``load_panel``; every problem names the file, the series and the line):

- a **long** CSV in Nixtla's layout — ``unique_id, ds, y`` (names configurable) plus
  covariate columns; rows after a series' last ``y`` with an empty ``y`` carry its
  future covariates over the horizon;
- a **wide** CSV — a date column and one column per series (leading / trailing empty
  cells: series of different lengths and starts);
- a **folder** of CSV files, one series per file (read as ``rnnlab forecast`` reads one);
- a Monash ``.tsf`` file (Godahewa et al. 2021; ``?`` marks a missing value);
- the embedded ``m1_yearly``: aeon's bundled ``m1_yearly_dataset.tsf``, the 181 yearly
  series of the M1 competition (Makridakis et al. 1982), horizon 6, as Monash ships it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from .timeseries import SEASONS, calendar_features, load_series

__all__ = ["Panel", "load_panel", "read_long", "read_wide", "read_folder", "read_tsf", "is_panel_source",
           "EMBEDDED_PANELS", "panel_from_series", "write_seasonal_panel"]

EMBEDDED_PANELS = ("m1_yearly",)
_TSF_FREQ = {"yearly": ("YS", 1), "quarterly": ("QS", 4), "monthly": ("MS", 12), "weekly": ("W", 52),
             "daily": ("D", 7), "hourly": ("h", 24), "half_hourly": ("30min", 48), "minutely": ("min", 1)}


@dataclass
class Panel:
    """Series ``ids[i]`` has targets ``values[i]`` (n_i,), dated ``dates[i]`` (n_i + extra
    steps where future covariates run past the end; numpy datetime64, or None for plain
    step numbers), past covariates ``past[i]`` (n_i, P), future covariates ``future[i]``
    (n_i + extra, F) and static covariates ``static[i]`` (S,) of one-hot categories and
    numbers, named ``static_names``. ``freq``: pandas' offset alias (None: step numbers)."""

    name: str
    ids: list[str]
    values: list[np.ndarray]
    dates: list[np.ndarray | None]
    freq: str | None
    season: int = 1
    past: list[np.ndarray] = field(default_factory=list)
    past_names: list[str] = field(default_factory=list)
    future: list[np.ndarray] = field(default_factory=list)
    future_names: list[str] = field(default_factory=list)
    static: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    static_names: list[str] = field(default_factory=list)
    horizon: int | None = None  # the horizon the source prescribes (Monash's @horizon), if any
    source: str = ""

    def __post_init__(self) -> None:
        n = len(self.ids)
        if not self.past:
            self.past = [np.zeros((len(v), 0)) for v in self.values]
        if not self.future:
            self.future = [np.zeros((len(v), 0)) for v in self.values]
        if self.static.size == 0:
            self.static = np.zeros((n, 0))

    def __len__(self) -> int:
        return len(self.ids)

    def labels(self, i: int, n: int) -> list[str]:
        """Labels of series i's first n steps (dates past its end are continued)."""
        d = self.dates[i]
        if d is None:
            return [str(k) for k in range(n)]
        if len(d) < n:
            d = np.concatenate([d, _continue(d, self.freq, n - len(d))])
        unit = {"YS": "Y", "QS": "M", "MS": "M"}.get(self.freq or "", "D" if self.freq in ("D", "W") else "s")
        return [str(x) for x in d[:n].astype(f"datetime64[{unit}]")]

    def calendar(self, i: int, n: int) -> np.ndarray:
        """sin/cos of the position in the season for series i's first n steps."""
        d = self.dates[i]
        if d is not None and len(d) < n:
            d = np.concatenate([d, _continue(d, self.freq, n - len(d))])
        monthly = d is not None and self.season == 12 and self.freq == "MS"
        return calendar_features(d[:n] if monthly else None, self.season, n)[0]


def _continue(dates: np.ndarray, freq: str | None, k: int) -> np.ndarray:
    import pandas as pd

    return pd.date_range(pd.Timestamp(dates[-1]), periods=k + 1, freq=freq)[1:].to_numpy()


def is_panel_source(data: str, layout: str = "auto", id_column: str | None = None) -> bool:
    """Whether ``data`` is read as a panel: an embedded panel, a .tsf file, a folder, a
    layout said so, or a CSV whose header has the id column (``unique_id`` by default)."""
    if layout in ("long", "wide", "folder", "tsf"):
        return True
    if layout == "series":
        return False
    if data in EMBEDDED_PANELS:
        return True
    p = Path(data)
    if p.is_dir() or p.suffix == ".tsf":
        return True
    if p.is_file():
        with open(p, encoding="utf-8", errors="replace") as f:
            head = [c.strip().strip('"') for c in f.readline().replace(";", ",").replace("\t", ",").split(",")]
        return (id_column or "unique_id") in head
    return False


def load_panel(data: str, layout: str = "auto", id_column: str | None = None, date_column: str | None = None,
               target: str | None = None, past: list[str] | None = None, future: list[str] | None = None,
               static: list[str] | None = None, season: int | None = None) -> Panel:
    """The panel ``data`` names (see the module docstring)."""
    p = Path(data)
    if data in EMBEDDED_PANELS:
        panel = read_tsf(_aeon_file("m1_yearly_dataset", "m1_yearly_dataset.tsf"), name="m1_yearly")
    elif layout == "folder" or p.is_dir():
        panel = read_folder(p, target, future, date_column)
    elif layout == "tsf" or p.suffix == ".tsf":
        panel = read_tsf(p)
    elif not p.exists():
        raise InputError(f"--data {data}: no such file, folder or embedded panel ({', '.join(EMBEDDED_PANELS)})")
    elif layout == "wide":
        panel = read_wide(p, date_column)
    else:
        panel = read_long(p, id_column or "unique_id", date_column or "ds", target or "y", past, future, static)
    if season:
        panel = dataclasses.replace(panel, season=season)
    return panel


def _aeon_file(folder: str, name: str) -> Path:
    try:
        import aeon
    except ImportError:
        raise InputError("--data m1_yearly: needs aeon (pip install 'rnnlab[classify]' or pip install aeon)") from None
    return Path(aeon.__file__).parent / "datasets" / "data" / folder / name


def _parse_dates(raw, path: Path, col: str, first_line: int):
    """numpy datetime64 values of a column (or int step numbers, then None for the dates)."""
    import pandas as pd

    as_int = pd.to_numeric(raw, errors="coerce")
    if as_int.notna().all() and (as_int == as_int.round()).all():
        return None, as_int.to_numpy(np.int64)
    d = pd.to_datetime(raw, errors="coerce", format="mixed")
    bad = np.flatnonzero(d.isna().to_numpy())
    if len(bad):
        i = int(bad[0])
        raise InputError(f"{path}, column '{col}', line {first_line + i}: {raw.iloc[i]!r} is not a date")
    return d.to_numpy(), None


def _frequency(dates, steps, path: Path, sid: str, lines: np.ndarray) -> str | None:
    """The series' frequency (pandas alias; None: integer steps of 1), or an error naming
    the first row where the spacing breaks."""
    import pandas as pd

    if dates is None:
        gaps = np.diff(steps)
        bad = np.flatnonzero(gaps != 1)
        if len(bad):
            k = int(bad[0]) + 1
            raise InputError(f"{path}, series {sid!r}, line {lines[k]}: step {steps[k]} follows {steps[k - 1]}; "
                             "steps must be consecutive integers (fill the gap, or use dates)")
        return None
    if len(dates) < 3:
        return _guess_two(dates)
    freq = pd.infer_freq(pd.DatetimeIndex(dates))
    if freq is None:
        k = 3
        while k <= len(dates) and pd.infer_freq(pd.DatetimeIndex(dates[:k])) is not None:
            k += 1
        raise InputError(f"{path}, series {sid!r}, line {lines[k - 1]}: {str(dates[k - 1])[:19]} breaks the "
                         "regular spacing of the dates before it (an irregular series); fill the gap or resample")
    return _canonical(freq)


def _guess_two(dates) -> str | None:
    if len(dates) < 2:
        return None
    days = (dates[1] - dates[0]) / np.timedelta64(1, "D")
    return "YS" if days >= 365 else "QS" if days >= 89 else "MS" if days >= 28 else "W" if days == 7 else "D"


def _canonical(freq: str) -> str:
    base = freq.split("-")[0]
    return {"AS": "YS", "A": "YS", "Y": "YS", "YE": "YS", "BYS": "YS", "Q": "QS", "QE": "QS", "M": "MS",
            "ME": "MS"}.get(base, base)


def _season(freq: str | None) -> int:
    return {"YS": 1, "MS": 12}.get(freq or "", SEASONS.get(freq or "", 1))


def read_long(path: Path, id_column: str = "unique_id", date_column: str = "ds", target: str = "y",
              past: list[str] | None = None, future: list[str] | None = None,
              static: list[str] | None = None) -> Panel:
    """A long table: one row per (series, step); see the module docstring."""
    import pandas as pd

    try:
        df = pd.read_csv(path, sep=None, engine="python", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        raise InputError(f"{path}: not a readable CSV table ({e})") from None
    cols = list(df.columns)
    if df.empty:
        raise InputError(f"{path}: no rows after the header; a long table has one row per (series, step)")
    past, future, static = list(past or []), list(future or []), list(static or [])
    for what, names in (("id_column", [id_column]), ("date_column", [date_column]), ("target", [target]),
                        ("past_covariates", past), ("covariates", future), ("static_covariates", static)):
        for c in names:
            if c not in cols:
                raise InputError(f"{path}: no column '{c}' ({what}); columns are {cols}")
    df["_line"] = np.arange(len(df)) + 2
    dates_all, steps_all = _parse_dates(df[date_column], path, date_column, 2)

    def numeric(col: str, rows) -> np.ndarray:
        raw = rows[col].str.strip()
        vals = pd.to_numeric(raw.where(raw != "", None), errors="coerce").to_numpy(float)
        bad = np.flatnonzero(np.isnan(vals) & (raw != "").to_numpy() & ~raw.str.lower().isin(["nan", "na"]))
        if len(bad):
            i = int(bad[0])
            raise InputError(f"{path}, column '{col}', line {rows['_line'].iloc[i]}: {rows[col].iloc[i]!r} "
                             "is not a number")
        return vals

    key = dates_all if dates_all is not None else steps_all
    df["_key"] = key
    ids, values, dates, pasts, futures, statics, freqs = [], [], [], [], [], [], {}
    for sid, rows in df.groupby(id_column, sort=False):
        rows = rows.sort_values("_key", kind="stable")
        lines = rows["_line"].to_numpy()
        k = rows["_key"].to_numpy()
        dup = np.flatnonzero(k[1:] == k[:-1])
        if len(dup):
            j = int(dup[0]) + 1
            raise InputError(f"{path}, series {sid!r}, line {lines[j]}: timestamp {rows[date_column].iloc[j]!r} "
                             f"repeats line {lines[j - 1]}; each series needs one row per step")
        y = numeric(target, rows)
        observed = np.flatnonzero(~np.isnan(y))
        if not len(observed):
            raise InputError(f"{path}, series {sid!r}: no value in column '{target}'")
        n = int(observed[-1]) + 1  # rows after the last value: future covariates for the horizon
        if np.isnan(y[:n]).any():
            j = int(np.flatnonzero(np.isnan(y[:n]))[0])
            raise InputError(f"{path}, series {sid!r}, line {lines[j]}: no value in '{target}' before the series' "
                             "last value; fill missing values first (e.g. interpolate)")
        d = rows["_key"].to_numpy() if dates_all is not None else None
        freqs[sid] = _frequency(d, None if d is not None else k, path, str(sid), lines)
        ids.append(str(sid))
        values.append(y[:n])
        dates.append(d)
        pasts.append(np.stack([numeric(c, rows)[:n] for c in past], 1) if past else np.zeros((n, 0)))
        fut = np.stack([numeric(c, rows) for c in future], 1) if future else np.zeros((len(rows), 0))
        gap = np.flatnonzero(np.isnan(fut).any(1))
        if len(gap):
            raise InputError(f"{path}, series {sid!r}, line {lines[int(gap[0])]}: a future covariate is empty; "
                             f"covariates known in advance ({', '.join(future)}) need a value on every row")
        futures.append(fut)
        srow = []
        for c in static:
            vals = rows[c].str.strip().unique()
            if len(vals) > 1:
                j = int(np.flatnonzero(rows[c].str.strip().to_numpy() != vals[0])[0])
                raise InputError(f"{path}, series {sid!r}, line {lines[j]}: static covariate '{c}' changes "
                                 f"({vals[0]!r} → {rows[c].iloc[j]!r}); a static covariate has one value per series")
            srow.append(vals[0])
        statics.append(srow)
    kinds = set(freqs.values())
    if len(kinds) > 1:
        a, b = list(kinds)[:2]
        sa = next(s for s, f in freqs.items() if f == a)
        sb = next(s for s, f in freqs.items() if f == b)
        raise InputError(f"{path}: mixed frequencies: series {sa!r} is {a}, series {sb!r} is {b}; "
                         "one panel has one frequency (resample, or split the file)")
    freq = kinds.pop() if kinds else None
    s_values, s_names = _encode_static(statics, static)
    return Panel(Path(path).stem, ids, values, dates, freq, _season(freq), pasts, past, futures, future,
                 s_values, s_names, source=str(path))


def _encode_static(rows: list[list[str]], names: list[str]) -> tuple[np.ndarray, list[str]]:
    """Static columns as numbers: a numeric column as it is, any other one-hot per category."""
    import pandas as pd

    cols, out_names = [], []
    for j, name in enumerate(names):
        raw = pd.Series([r[j] for r in rows])
        num = pd.to_numeric(raw, errors="coerce")
        if num.notna().all():
            cols.append(num.to_numpy(float)[:, None])
            out_names.append(name)
        else:
            cats = sorted(raw.unique())
            cols.append((raw.to_numpy()[:, None] == np.array(cats)[None]).astype(float))
            out_names += [f"{name}={c}" for c in cats]
    return (np.concatenate(cols, 1) if cols else np.zeros((len(rows), 0))), out_names


def read_wide(path: Path, date_column: str | None = None) -> Panel:
    """A wide table: a date column and one column per series; empty cells before a
    series' first or after its last value shorten it."""
    s = load_series(str(path), date_column=date_column, fill="keep")
    ids, values, dates = [], [], []
    for j, name in enumerate(s.target_names):
        v = s.values[:, j]
        obs = np.flatnonzero(~np.isnan(v))
        if not len(obs):
            raise InputError(f"{path}, column '{name}': no values")
        a, b = int(obs[0]), int(obs[-1]) + 1
        if np.isnan(v[a:b]).any():
            i = a + int(np.flatnonzero(np.isnan(v[a:b]))[0])
            raise InputError(f"{path}, column '{name}', line {i + 2}: a missing value inside the series; fill it")
        ids.append(name)
        values.append(v[a:b])
        dates.append(None if s.dates is None else s.dates[a:b].astype("datetime64[ns]"))
    freq = None if s.dates is None else _frequency(s.dates.astype("datetime64[ns]"), None, path, ids[0],
                                                    np.arange(len(s.dates)) + 2)
    return Panel(Path(path).stem, ids, values, dates, freq, s.season if s.dates is None else _season(freq),
                 source=str(path))


def read_folder(path: Path, target: str | None = None, future: list[str] | None = None,
                date_column: str | None = None) -> Panel:
    """A folder of CSV files, one series per file (its id: the file name)."""
    files = sorted(Path(path).glob("*.csv"))
    if not files:
        raise InputError(f"{path}: no .csv files in this folder")
    series = [load_series(str(f), [target] if target else None, future, date_column) for f in files]
    for f, s in zip(files, series):
        if s.values.shape[1] != 1:
            raise InputError(f"{f}: {s.values.shape[1]} target columns; a folder panel has one series per file "
                             "(name it with --set target=...)")
    freqs = {_guess_two(s.dates[:2].astype("datetime64[ns]")) if s.dates is not None else None for s in series}
    if len(freqs) > 1:
        raise InputError(f"{path}: the files have mixed frequencies ({', '.join(map(str, freqs))})")
    freq = freqs.pop()
    return Panel(Path(path).name, [f.stem for f in files], [s.values[:, 0] for s in series],
                 [None if s.dates is None else s.dates.astype("datetime64[ns]") for s in series], freq,
                 series[0].season, future=[s.covariates for s in series], future_names=list(future or []),
                 source=str(path))


def read_tsf(path: Path, name: str | None = None) -> Panel:
    """A Monash ``.tsf`` file (attributes, ``@frequency``, ``@horizon``, then one series per line)."""
    import pandas as pd

    attrs: list[str] = []
    freq_word, horizon, ids, values, dates = None, None, [], [], []
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from None
    in_data = False
    for ln, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            low = line.lower()
            if low.startswith("@attribute"):
                attrs.append(line.split()[2] if len(line.split()) > 2 else "string")
            elif low.startswith("@frequency"):
                freq_word = line.split()[1].lower()
            elif low.startswith("@horizon"):
                horizon = int(line.split()[1])
            elif low.startswith("@data"):
                in_data = True
            continue
        parts = line.split(":")
        if len(parts) != len(attrs) + 1:
            raise InputError(f"{path}, line {ln}: {len(parts) - 1} attribute fields, the header declares {len(attrs)}")
        start = None
        for kind, val in zip(attrs[1:], parts[1:-1]):
            if kind == "date":
                start = pd.Timestamp(val.replace(" 00-00-00", "").strip())
        try:
            v = np.array([np.nan if t.strip() == "?" else float(t) for t in parts[-1].split(",")])
        except ValueError:
            raise InputError(f"{path}, line {ln}: a value of series {parts[0]!r} is not a number") from None
        ids.append(parts[0])
        values.append(v)
        dates.append(start)
    if not ids:
        raise InputError(f"{path}: no series after @data")
    freq, season = _TSF_FREQ.get(freq_word or "", (None, 1))
    date_arrays = [None if s is None or freq is None else pd.date_range(s, periods=len(v), freq=freq).to_numpy()
                   for s, v in zip(dates, values)]
    return Panel(name or Path(path).stem, ids, values, date_arrays, freq, season, horizon=horizon, source=str(path))


def panel_from_series(s) -> Panel:
    """A one-series panel of a :class:`~rnnlab.data.timeseries.Series` (its first target;
    its covariates, known in advance, as future covariates)."""
    dates = None if s.dates is None else s.dates.astype("datetime64[ns]")
    freq = None if dates is None else _guess_two(dates)
    return Panel(s.name, [s.target_names[0]], [s.values[:, 0]], [dates], freq, s.season,
                 future=[s.covariates], future_names=list(s.covariate_names), source=s.source)


def write_seasonal_panel(path: str | Path, n_series: int = 40, length: int = 72, noise: float = 0.05,
                         horizon: int = 6, seed: int = 0, future_rows: bool = True) -> Path:
    """A generated panel with known noise, as a long CSV: monthly series of different
    lengths (``length`` down to two thirds of it) and start months, each
    ``level · (1 + a sin(2π(t + φ)/12)) + promo effect + ε``, ε ~ N(0, (noise · level)²);
    ``promo`` is a future covariate (0/1, planned, so known in advance; it adds 30% of the
    level), ``temp`` a past covariate (observed with the target), ``group`` a static one
    (group B's seasonal amplitude is twice group A's). With ``future_rows`` each series gets
    ``horizon`` more rows with an empty ``y`` and its planned promotions. The exact
    quantiles of a value are its mean ± z · noise · level, so interval coverage can be checked."""
    rng = np.random.default_rng(seed)
    lines = ["unique_id,ds,y,promo,temp,group"]
    for i in range(n_series):
        n = int(rng.integers(2 * length // 3, length + 1))
        start = np.datetime64("2000-01") + int(rng.integers(0, 24))
        level, phase = float(rng.uniform(50, 500)), float(rng.uniform(0, 12))
        group = "B" if i % 2 else "A"
        amp = 0.4 if group == "B" else 0.2
        promo = (rng.random(n + horizon) < 0.15).astype(int)
        t = np.arange(n + horizon)
        mean = level * (1 + amp * np.sin(2 * np.pi * (t + phase) / 12)) + 0.3 * level * promo
        y = mean + rng.normal(0, noise * level, n + horizon)
        temp = np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.1, n + horizon)
        for k in range(n + (horizon if future_rows else 0)):
            value = f"{y[k]:.4f}" if k < n else ""
            past = f"{temp[k]:.4f}" if k < n else ""
            lines.append(f"s{i},{start + k}-01,{value},{promo[k]},{past},{group}")
    path = Path(path)
    path.write_text("\n".join(lines) + "\n")
    return path
