"""OHLCV price data for the trading tools: read by path, or a deterministic synthetic series.

Synthetic prices are a regime-switching geometric random walk (calm/turbulent, bull/bear
drifts) so strategies meet trends, chops and crashes. They are for exercising the tools and
for paper trading only; nothing here places orders or claims to be market data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from activities.tools.errors import DataFileError
from activities.tools.tabular import read_table

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

TRADING_DAYS = 252


def load_ohlcv(path: str) -> pd.DataFrame:
    """Columns open/high/low/close/volume (any case; `adj close` wins over `close`) indexed by
    date. Only `close` is required; missing OHLC columns are filled from it."""
    import pandas as pd

    df = read_table(path)
    df.columns = [str(c).strip().lower().replace("_", " ") for c in df.columns]
    if "adj close" in df.columns:
        df["close"] = df["adj close"]
    if "close" not in df.columns:
        raise DataFileError(
            f"price file {path} needs a 'close' column; it has {', '.join(df.columns)}"
        )
    date_col = next((c for c in ("date", "datetime", "timestamp", "time") if c in df.columns), None)
    if date_col:
        df.index = pd.to_datetime(df[date_col])
    else:
        df.index = pd.bdate_range("2000-01-03", periods=len(df))
    for col in ("open", "high", "low"):
        if col not in df.columns:
            df[col] = df["close"]
    if "volume" not in df.columns:
        df["volume"] = 0.0
    out = df[["open", "high", "low", "close", "volume"]].astype(float).sort_index()
    if len(out) < 2 or (out["close"] <= 0).any() or out["close"].isna().any():
        raise DataFileError(f"price file {path} needs 2+ rows of positive closes without gaps")
    return out


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
