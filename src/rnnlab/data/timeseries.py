"""Time series: the embedded datasets, CSV parsing with checked input, windows.

Embedded datasets (real data shipped inside packages; nothing is downloaded):

==========  =====================================================  =========  ======
name        source                                                 frequency  season
==========  =====================================================  =========  ======
sunspots    statsmodels ``datasets.sunspots``: yearly mean sunspot  yearly     11
            number 1700–2008 (SIDC / Wolf number), 309 values
nile        statsmodels ``datasets.nile``: annual Nile flow at      yearly     1
            Aswan 1871–1970 (10⁸ m³), 100 values
co2         statsmodels ``datasets.co2``: weekly Mauna Loa CO₂      monthly    12
            (ppm) 1958–2001, 59 weeks missing; rnnlab averages it
            per month and interpolates the 5 empty months
airline     aeon ``load_airline``: monthly international airline    monthly    12
            passengers 1949–1960 (Box & Jenkins), 144 values
==========  =====================================================  =========  ======

A CSV file (comma-, semicolon-, tab- or bar-separated; decimal commas in a ``;`` or tab
file): one row per time step, a header row (or none: then the columns are ``date`` and
``value``, or ``value1``, ``value2``...); an optional date column (named with
``date_column``, or found automatically: a column called date/time/timestamp/...,
or a first column that parses as dates); target columns (``targets``; default: every
numeric column that is not a date or a covariate); optional covariate columns known in
advance (``covariates``). Every problem names the file, the column and the line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = ["Series", "load_series", "EMBEDDED", "read_csv_series", "calendar_features"]

EMBEDDED = ("sunspots", "nile", "co2", "airline")
SEASONS = {"QS": 4, "Q": 4, "QE": 4, "BQ": 4, "BQS": 4, "W": 52, "D": 7, "B": 5, "H": 24, "BH": 8}
"""The seasonal period a date frequency implies (pandas' codes): a year of quarters or
weeks, a week of days or business days, a day of hours. Monthly data get 12; a multiple
("2h") gets none (1); ``season`` overrides."""
DATE_NAMES = ("date", "time", "timestamp", "datetime", "ds", "month", "year", "period")


@dataclass
class Series:
    """A (multivariate) regular time series.

    values: ``(N, n_targets)`` float64; covariates: ``(N, n_covariates)`` (may be 0 wide);
    index: N labels (ISO dates or years) for plots and messages; season: the seasonal
    period in steps (1 = none); dates: numpy datetime64 array or None.
    """

    name: str
    values: np.ndarray
    target_names: list[str]
    index: list[str]
    season: int = 1
    covariates: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    covariate_names: list[str] = field(default_factory=list)
    dates: np.ndarray | None = None
    source: str = ""

    def __post_init__(self) -> None:
        if self.covariates.size == 0:
            self.covariates = np.zeros((len(self.values), 0))

    def __len__(self) -> int:
        return len(self.values)


def calendar_features(dates: np.ndarray | None, season: int, n: int) -> tuple[np.ndarray, list[str]]:
    """Known-in-advance covariates: sin/cos of the position in the season
    (month of year for monthly data). Empty when there is no season."""
    if season <= 1:
        return np.zeros((n, 0)), []
    if dates is not None:
        months = dates.astype("datetime64[M]").astype(np.int64) % 12
        phase = 2 * np.pi * months / 12.0 if season == 12 else 2 * np.pi * (np.arange(n) % season) / season
    else:
        phase = 2 * np.pi * (np.arange(n) % season) / season
    return np.stack([np.sin(phase), np.cos(phase)], 1), ["season_sin", "season_cos"]


# ---------------------------------------------------------------------------- embedded
def _embedded(name: str) -> Series:
    if name == "sunspots":
        import statsmodels.api as sm

        d = sm.datasets.sunspots.load_pandas().data
        years = d["YEAR"].astype(int).tolist()
        return Series("sunspots", d[["SUNACTIVITY"]].to_numpy(float), ["sunactivity"], [str(y) for y in years],
                      season=11, source="statsmodels.datasets.sunspots (yearly, 1700-2008)")
    if name == "nile":
        import statsmodels.api as sm

        d = sm.datasets.nile.load_pandas().data
        return Series("nile", d[["volume"]].to_numpy(float), ["volume"], [str(int(y)) for y in d["year"]],
                      season=1, source="statsmodels.datasets.nile (yearly, 1871-1970)")
    if name == "co2":
        import statsmodels.api as sm

        weekly = sm.datasets.co2.load_pandas().data["co2"]
        monthly = weekly.resample("MS").mean().interpolate()
        dates = monthly.index.to_numpy().astype("datetime64[M]")
        return Series("co2", monthly.to_numpy(float)[:, None], ["co2"], [str(d) for d in dates], season=12,
                      dates=dates, source="statsmodels.datasets.co2, weekly averaged per month, gaps interpolated")
    if name == "airline":
        try:
            from aeon.datasets import load_airline
        except ImportError:
            raise InputError("--data airline: needs aeon (pip install 'rnnlab[classify]' or pip install aeon)") \
                from None
        s = load_airline(return_array=False)
        dates = np.array([np.datetime64(str(p)[:7], "M") for p in s.index])
        return Series("airline", s.to_numpy(float)[:, None], ["passengers"], [str(d) for d in dates], season=12,
                      dates=dates, source="aeon.datasets.load_airline (monthly, 1949-1960)")
    raise KeyError(name)


def load_series(data: str, targets: list[str] | None = None, covariates: list[str] | None = None,
                date_column: str | None = None, fill: str = "none", season: int | None = None) -> Series:
    """An embedded dataset by name, or a CSV file by path."""
    if data in EMBEDDED:
        s = _embedded(data)
        if season:
            s.season = season
        return s
    path = Path(data)
    if not path.exists():
        raise InputError(f"--data {data}: no such file, and not an embedded dataset ({', '.join(EMBEDDED)})")
    return read_csv_series(path, targets, covariates, date_column, fill, season)


# ---------------------------------------------------------------------------- CSV
def _read_table(path: Path):
    """The file as a frame of strings, its delimiter (sniffed among , ; tab |) and whether
    it has a header row (not when every cell of the first row is a number or a date)."""
    import csv

    import pandas as pd

    try:
        with open(path, encoding="utf-8-sig", newline="") as f:  # -sig: Excel's byte-order mark
            sample = f.read(65536)
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text (byte {e.start}); save the file as UTF-8 CSV") from None
    in_first = [d for d in ",;\t|" if d in sample.partition("\n")[0]]
    if len(in_first) == 1:  # the header (or first row) names it: decimal commas below cannot mislead
        sep = in_first[0]
    else:
        try:
            sep = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
        except csv.Error:
            sep = ","  # one column, or nothing to tell: plain CSV
    try:
        df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, skipinitialspace=True, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise InputError(f"{path}: not a readable CSV file ({str(e).strip()})") from None
    if not isinstance(df.index, pd.RangeIndex):  # pandas makes the extra leading fields an index
        raise InputError(f"{path}, line 2: {df.index.nlevels + len(df.columns)} fields but the header names "
                         f"{len(df.columns)} ({sep!r}-separated); give every row as many fields as the header")
    names = [str(c).strip() for c in df.columns]
    if all(_is_number(c) or _is_date(c) for c in names) and any(_is_number(c) for c in names):
        df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, skipinitialspace=True, header=None,
                         encoding="utf-8-sig")
        values = [c for c in df.columns if not _is_date(str(df[c].iloc[0]).strip())]
        names = ["date" if c not in values else "value" if len(values) == 1 else f"value{values.index(c) + 1}"
                 for c in df.columns]
        header = False
    else:
        header = True
    if df.empty:
        raise InputError(f"{path}: has a header but no rows")
    df.columns = names
    return df, sep, header


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", "."))
    except ValueError:
        return False
    return True


def _is_date(text: str) -> bool:
    import pandas as pd

    if _is_number(text) or not any(ch.isdigit() for ch in text):
        return False
    try:
        pd.Timestamp(text)
    except (ValueError, TypeError):
        return False
    return True


def read_csv_series(path: Path, targets: list[str] | None = None, covariates: list[str] | None = None,
                    date_column: str | None = None, fill: str = "none", season: int | None = None) -> Series:
    """Parse and check a CSV time series (see the module docstring)."""
    import pandas as pd

    if fill not in ("none", "interpolate", "drop", "keep"):  # keep: NaN stays (a wide panel's ragged edges)
        raise InputError(f"fill: expected none, interpolate or drop, got {fill!r}")
    df, sep, header = _read_table(path)
    cols = list(df.columns)
    line = lambda i: i + 1 + header  # noqa: E731 - row i of the frame is line i+2 of the file (header is line 1)

    # the date column
    if date_column is not None and date_column not in cols:
        raise InputError(f"{path}: no column '{date_column}' (date_column); columns are {cols}")
    if date_column is None:
        named = [c for c in cols if c.lower() in DATE_NAMES]
        if named:
            date_column = named[0]
        else:
            first = pd.to_datetime(df[cols[0]], errors="coerce", format="mixed")
            numeric_first = pd.to_numeric(df[cols[0]], errors="coerce").notna().all()
            if first.notna().all() and not numeric_first:
                date_column = cols[0]
    covariates = list(covariates or [])
    for c in covariates:
        if c not in cols:
            raise InputError(f"{path}: no covariate column '{c}'; columns are {cols}")
    if targets:
        for c in targets:
            if c not in cols:
                raise InputError(f"{path}: no target column '{c}'; columns are {cols}")
    else:
        targets = [c for c in cols if c != date_column and c not in covariates]
        if not targets:
            raise InputError(f"{path}: no target column (columns: {cols}); name one with --set targets='[\"col\"]'")

    def numeric(col: str) -> np.ndarray:
        raw = df[col].str.strip()
        if sep != "," and raw.str.fullmatch(r"[+-]?\d*,\d+").any():
            raw = raw.str.replace(",", ".", regex=False)  # decimal commas (";"- or tab-separated files)
        vals = pd.to_numeric(raw.where(raw != "", None), errors="coerce").to_numpy(float)
        missing_word = raw.str.lower().isin(["nan", "na", "null"]).to_numpy()
        bad = np.flatnonzero(np.isnan(vals) & (raw != "").to_numpy() & ~missing_word)
        if len(bad):
            i = int(bad[0])
            raise InputError(f"{path}, column '{col}', line {line(i)}: {df[col].iloc[i]!r} is not a number")
        return vals

    values = np.stack([numeric(c) for c in targets], 1)
    cov = np.stack([numeric(c) for c in covariates], 1) if covariates else np.zeros((len(df), 0))
    index = [str(i + 1) for i in range(len(df))]
    dates = None
    if date_column is not None:
        parsed = pd.to_datetime(df[date_column], errors="coerce", format="mixed")
        if parsed.isna().any():
            i = int(np.flatnonzero(parsed.isna().to_numpy())[0])
            raise InputError(f"{path}, column '{date_column}', line {line(i)}: {df[date_column].iloc[i]!r} "
                             "is not a date")
        dup = parsed.duplicated(keep="first").to_numpy()
        if dup.any():
            i = int(np.flatnonzero(dup)[0])
            j = int(np.flatnonzero((parsed == parsed.iloc[i]).to_numpy())[0])
            raise InputError(f"{path}, column '{date_column}', line {line(i)}: date {df[date_column].iloc[i]} "
                             f"appears twice (also line {line(j)}); remove or merge the duplicate")
        if not parsed.is_monotonic_increasing:
            i = int(np.flatnonzero(np.diff(parsed.to_numpy().astype("datetime64[s]").astype(np.int64)) < 0)[0]) + 1
            raise InputError(f"{path}, column '{date_column}', line {line(i)}: dates go backwards; "
                             "sort the file by date")
        if len(parsed) >= 3 and pd.infer_freq(pd.DatetimeIndex(parsed)) is None:
            days = np.diff(parsed.to_numpy().astype("datetime64[D]").astype(np.int64))
            med = np.median(days)
            off = np.flatnonzero(np.abs(days - med) > max(3, 0.1 * med))
            i = int(off[0]) + 1 if len(off) else 1
            raise InputError(f"{path}, column '{date_column}', line {line(i)}: irregular dates "
                             f"({df[date_column].iloc[i - 1]} -> {df[date_column].iloc[i]}, usual step {med:g} days); "
                             "rnnlab needs evenly spaced steps: resample the series first")
        timed = (parsed != parsed.dt.normalize()).any()  # a time of day somewhere: keep it in the labels
        index = [str(d)[:16] if timed else str(d)[:10] for d in parsed]
        freq = pd.infer_freq(pd.DatetimeIndex(parsed)) if len(parsed) >= 3 else None
        if freq and freq.startswith(("M", "MS", "ME")):
            dates = parsed.to_numpy().astype("datetime64[M]")
            season = season or 12
        elif freq:
            season = season or SEASONS.get(freq.split("-")[0].upper(), 1)
    # missing values
    missing = np.isnan(values).any(1) | np.isnan(cov).any(1)
    if missing.any() and fill != "keep":
        if fill == "none":
            i = int(np.flatnonzero(missing)[0])
            col = next(c for c, v in zip(targets + covariates, np.concatenate([values, cov], 1)[i]) if np.isnan(v))
            raise InputError(f"{path}, column '{col}', line {line(i)}: missing value ({int(missing.sum())} rows have "
                             "one); fill them with --set fill=interpolate or drop them with --set fill=drop")
        if fill == "drop":
            keep = ~missing
            values, cov = values[keep], cov[keep]
            index = [x for x, k in zip(index, keep) if k]
            dates = dates[keep] if dates is not None else None
        else:
            frame = pd.DataFrame(np.concatenate([values, cov], 1)).interpolate(limit_direction="both")
            both = frame.to_numpy(float)
            values, cov = both[:, : values.shape[1]], both[:, values.shape[1]:]
    if np.isinf(values).any():
        i = int(np.flatnonzero(np.isinf(values).any(1))[0])
        raise InputError(f"{path}, line {line(i)}: an infinite value")
    return Series(path.stem, values, targets, index, season=season or 1, covariates=cov, covariate_names=covariates,
                  dates=dates, source=str(path))
