"""OHLCV price data for the trading tools: read by path, or a deterministic synthetic series.

Synthetic prices are a regime-switching geometric random walk (calm/turbulent, bull/bear
drifts) so strategies meet trends, chops and crashes. They are for exercising the tools and
for paper trading only; nothing here places orders or claims to be market data.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

from activities.tools.errors import DataFileError
from activities.tools.tabular import read_table

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

TRADING_DAYS = 252
DATE_COLUMNS = ("date", "datetime", "timestamp", "time")
SYNTHETIC_START = "2000-01-03"


@dataclass(frozen=True)
class PriceFile:
    """A price file as read: the OHLCV frame and where its dates came from."""

    frame: pd.DataFrame
    date_source: str  # the column the dates were read from; "" when they were synthesized
    columns: tuple[str, ...]  # the file's columns, as written

    @property
    def dates_synthesized(self) -> bool:
        return not self.date_source

    def synthesized_note(self, path: str) -> str:
        return (
            f"{path} has no date column (looked for {', '.join(DATE_COLUMNS)} or an unnamed "
            f"first column of dates; it has {', '.join(self.columns)}): business days from "
            f"{SYNTHETIC_START} were synthesized, so its dates and bar frequency are assumptions"
        )


def _unnamed(col: str) -> bool:
    """A header cell left empty (pandas calls it `Unnamed: 0`) or an index written unnamed."""
    return col in ("", "index") or col.startswith("unnamed:")


def _parse_dates(s: pd.Series, numbers_are_dates: bool) -> pd.DatetimeIndex | None:
    """The column as dates, or None when it does not parse as dates. Numbers count as dates
    when they read as YYYYMMDD; and, for a column named like a date, as Unix time (seconds,
    milliseconds, microseconds or nanoseconds, by magnitude). Other numbers (a row counter)
    are not dates."""
    import pandas as pd
    from pandas.api import types

    if types.is_datetime64_any_dtype(s):
        return pd.DatetimeIndex(s)
    if types.is_bool_dtype(s):
        return None
    if types.is_numeric_dtype(s):
        v = s.dropna()
        if len(v) < len(s) or len(v) == 0 or not (v == v.round()).all():
            return None
        if v.between(1900_01_01, 2100_12_31).all():
            try:
                return pd.DatetimeIndex(
                    pd.to_datetime(v.astype("int64").astype(str), format="%Y%m%d")
                )
            except ValueError:
                pass
        if not numbers_are_dates or v.abs().min() < 1e8:  # 1e8 s is 1973: smaller is no time
            return None
        top = float(v.abs().max())
        unit = "s" if top < 1e11 else "ms" if top < 1e14 else "us" if top < 1e17 else "ns"
        return pd.DatetimeIndex(pd.to_datetime(v.astype("int64"), unit=unit))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "could not infer format"
            out = pd.DatetimeIndex(pd.to_datetime(s))
    except (ValueError, TypeError, OverflowError):
        return None
    return None if out.isna().any() else out


def _first_non_date(s: pd.Series) -> object:
    """The first value of a column that fails to parse as a date (for the error message)."""
    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            parsed = pd.to_datetime(s, errors="coerce")
        except (ValueError, TypeError, OverflowError):
            return s.iloc[0]
    bad = s[parsed.isna().to_numpy()]
    return bad.iloc[0] if len(bad) else s.iloc[0]


def read_ohlcv(path: str) -> PriceFile:
    """Columns open/high/low/close/volume (any case; `adj close` wins over `close`) indexed by
    date. Only `close` is required; missing OHLC columns are filled from it.

    Dates come from a column named date/datetime/timestamp/time, else from an unnamed first
    column (pandas' `to_csv()` writes the index that way: header `,close`) when it parses as
    dates. A file with neither gets business days from 2000-01-03, and `dates_synthesized`
    says so; a date column that does not parse is an error, never replaced."""
    import pandas as pd

    df = read_table(path)
    if not isinstance(df.index, pd.RangeIndex):  # Parquet keeps a written index as the index
        df = df.reset_index()
    written = tuple(str(c) for c in df.columns)
    df.columns = [str(c).strip().lower().replace("_", " ") for c in df.columns]
    as_written = dict(zip(df.columns, written, strict=True))
    if "adj close" in df.columns:
        df["close"] = df["adj close"]
    if "close" not in df.columns:
        raise DataFileError(
            f"price file {path} needs a 'close' column; it has {', '.join(written)}"
        )
    named = next((c for c in DATE_COLUMNS if c in df.columns), None)
    first = df.columns[0]
    dates = None
    if named is not None:
        dates = _parse_dates(df[named], numbers_are_dates=True)
        if dates is None:
            raise DataFileError(
                f"price file {path}: column {as_written[named]!r} does not parse as dates "
                f"(e.g. {_first_non_date(df[named])!r}); give every row a date like 2024-01-31, "
                "YYYYMMDD or Unix time"
            )
        source = as_written[named]
    elif _unnamed(first):
        dates = _parse_dates(df[first], numbers_are_dates=False)
        if dates is None and not pd.api.types.is_numeric_dtype(df[first]):
            # whole numbers there are a row counter (an index written without dates)
            raise DataFileError(
                f"price file {path}: its unnamed first column does not parse as dates "
                f"(e.g. {_first_non_date(df[first])!r}); give every row a date like 2024-01-31, "
                "or name the date column 'date'"
            )
        source = "the unnamed first column"
    if dates is not None:
        df.index = dates.rename("date")
    else:
        df.index = pd.bdate_range(SYNTHETIC_START, periods=len(df), name="date")
        source = ""
    for col in ("open", "high", "low"):
        if col not in df.columns:
            df[col] = df["close"]
    if "volume" not in df.columns:
        df["volume"] = 0.0
    out = df[["open", "high", "low", "close", "volume"]].astype(float).sort_index()
    if len(out) < 2 or (out["close"] <= 0).any() or out["close"].isna().any():
        raise DataFileError(f"price file {path} needs 2+ rows of positive closes without gaps")
    return PriceFile(out, source, written)


def load_ohlcv(path: str) -> pd.DataFrame:
    """The OHLCV frame of `read_ohlcv` (see there for how dates are found)."""
    return read_ohlcv(path).frame


def infer_periods_per_year(index: pd.Index) -> tuple[float, str]:
    """Bars per year from the median spacing of the timestamps, with the frequency's name.

    Daily bars are 252 a year when no more than 10% fall on weekends (exchange trading days)
    and 365 otherwise (markets open every day); weekly 52, monthly 12, quarterly 4, yearly 1.
    Intraday bars are (median bars per day) x (252 or 365, by the same weekend test). Any
    other spacing of d days gives 365.25 / d."""
    import pandas as pd

    if not isinstance(index, pd.DatetimeIndex) or len(index) < 2:
        return float(TRADING_DAYS), "daily (assumed: no timestamps to measure)"
    idx = index.sort_values()
    gaps = idx.to_series().diff().dt.total_seconds().dropna()
    gaps = gaps[gaps > 0]
    if gaps.empty:
        return float(TRADING_DAYS), "daily (assumed: every timestamp is the same)"
    days = float(gaps.median()) / 86_400
    weekend_share = float((idx.day_of_week >= 5).mean())
    days_a_year = 365 if weekend_share > 0.1 else TRADING_DAYS
    if days < 0.5:
        per_day = float(idx.normalize().value_counts().median())
        step = f"{days * 24:.3g}-hour" if days * 24 >= 1 else f"{days * 1440:.3g}-minute"
        return per_day * days_a_year, (
            f"intraday ({step} bars, {per_day:g} a day, {days_a_year} days a year)"
        )
    if days < 2:
        return float(days_a_year), (
            "daily (calendar days)" if days_a_year == 365 else "daily (trading days)"
        )
    for low, high, per_year, name in (
        (5, 9, 52, "weekly"),
        (26, 35, 12, "monthly"),
        (80, 100, 4, "quarterly"),
        (350, 380, 1, "yearly"),
    ):
        if low <= days <= high:
            return float(per_year), name
    return 365.25 / days, f"every {days:.3g} days"


def synthetic_ohlcv(
    gen: np.random.Generator, years: float = 5.0, start_price: float = 100.0
) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    n = round(years * TRADING_DAYS)
    regime_len = gen.integers(40, 180, size=n // 40 + 2)
    regimes = np.repeat(np.arange(len(regime_len)), regime_len)[:n]
    drift = gen.normal(0.10, 0.25, size=regimes.max() + 1) / TRADING_DAYS
    vol = gen.choice([0.12, 0.2, 0.35], p=[0.45, 0.4, 0.15], size=regimes.max() + 1) / np.sqrt(
        TRADING_DAYS
    )
    rets = gen.normal(drift[regimes], vol[regimes])
    close = start_price * np.exp(np.cumsum(rets))
    open_ = np.concatenate([[start_price], close[:-1]]) * np.exp(gen.normal(0, 0.002, size=n))
    spread = np.abs(gen.normal(0, vol[regimes] * 0.8))
    high = np.maximum(open_, close) * (1 + spread)
    low = np.minimum(open_, close) * (1 - spread)
    volume = gen.lognormal(13, 0.4, size=n).round()
    index = pd.bdate_range("2020-01-02", periods=n)
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index
    )
