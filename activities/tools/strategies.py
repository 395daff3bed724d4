"""Strategy templates: each maps OHLCV to a target exposure per bar, vectorised.

The exposure decided at bar t's close is held from bar t+1 (the backtester shifts it), so no
template can trade on a price it has not yet seen. Exposure is a fraction of equity: 1 = fully
long, 0 = flat, -1 = fully short (only when `allow_short`).

`sma_crossover` takes an entry mode (`ENTRY_MODES`): `cross` (the default) enters on the bar
where the fast average crosses the slow one; `state` is in the market whenever fast is above
slow (below, for shorts), so it is already long on the first bar both averages exist if fast
starts above slow. Both leave when fast falls back to or below slow, so after the first cross
they agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    import pandas as pd

EntryMode = Literal["cross", "state"]
ENTRY_MODES: tuple[str, ...] = get_args(EntryMode)
DEFAULT_ENTRY: EntryMode = "cross"


@dataclass(frozen=True)
class Template:
    name: str
    description: str
    defaults: dict[str, float]
    func: Callable[..., pd.Series]  # (df, params, allow_short[, entry=...]) -> exposure
    entry_modes: bool = False  # takes `entry` (cross | state)


TEMPLATES: dict[str, Template] = {}


def template(
    name: str, description: str, *, entry_modes: bool = False, **defaults: float
) -> Callable[[Any], Any]:
    def register(func: Callable[..., pd.Series]) -> Any:
        TEMPLATES[name] = Template(name, description, defaults, func, entry_modes)
        return func

    return register


# ---------------------------------------------------------------- indicators


def sma(s: pd.Series, n: float) -> pd.Series:
    return s.rolling(int(n), min_periods=int(n)).mean()


def ema(s: pd.Series, n: float) -> pd.Series:
    return s.ewm(span=int(n), adjust=False, min_periods=int(n)).mean()


def wilder(values: pd.Series, n: float) -> pd.Series:
    """Wilder's smoothing: the first value is the simple mean of the first n observations,
    then avg = (avg * (n - 1) + x) / n, i.e. an EWM with alpha 1/n seeded by that mean."""
    import numpy as np

    k = int(n)
    valid = values.dropna()
    out = values * np.nan
    if len(valid) < k:
        return out
    seeded = valid.copy()
    seeded.iloc[: k - 1] = np.nan
    seeded.iloc[k - 1] = valid.iloc[:k].mean()
    smoothed = seeded.ewm(alpha=1 / k, adjust=False, ignore_na=True).mean()
    smoothed.iloc[: k - 1] = np.nan
    return smoothed.reindex(values.index)


def rsi(close: pd.Series, n: float = 14) -> pd.Series:
    """Wilder's RSI."""
    delta = close.diff()
    gain = wilder(delta.clip(lower=0), n)
    loss = wilder((-delta).clip(lower=0), n)
    out = 100 - 100 / (1 + gain / loss)
    return out.where(loss != 0, 100.0).where(gain.notna())


def atr(df: pd.DataFrame, n: float = 14) -> pd.Series:
    """Wilder's average true range."""
    import pandas as pd

    prev = df["close"].shift(1)
    tr = pd.concat(
        [df["high"] - df["low"], (df["high"] - prev).abs(), (df["low"] - prev).abs()], axis=1
    ).max(axis=1)
    return wilder(tr, n)


def macd(
    close: pd.Series, fast: float = 12, slow: float = 26, signal: float = 9
) -> tuple[pd.Series, pd.Series]:
    line = ema(close, fast) - ema(close, slow)
    return line, line.ewm(span=int(signal), adjust=False).mean()


def _state(enter: pd.Series, exit_: pd.Series, level: float = 1.0) -> pd.Series:
    """Hold `level` from an entry bar until an exit bar (entry wins when both fire)."""
    import numpy as np
    import pandas as pd

    marks = pd.Series(np.nan, index=enter.index)
    marks[exit_.fillna(False).astype(bool)] = 0.0
    marks[enter.fillna(False).astype(bool)] = level
    return marks.ffill().fillna(0.0)


def _sided(long: pd.Series, short: pd.Series, allow_short: bool) -> pd.Series:
    return long - short if allow_short else long


def _crossing(fast: pd.Series, slow: pd.Series, allow_short: bool, entry: str) -> pd.Series:
    """Long while fast > slow, short while fast < slow (when allowed). `state` holds that
    from any bar where it is true; `cross` enters only on the bar fast crosses slow (it was on
    the other side or level the bar before, both averages defined), and exits the same way."""
    if entry not in ENTRY_MODES:
        raise ValueError(f"entry must be one of {', '.join(ENTRY_MODES)}, not {entry!r}")
    above, below = fast > slow, (fast < slow) & slow.notna()
    if entry == "state":
        return _sided(above.astype(float), below.astype(float), allow_short)
    both_before = fast.shift(1).notna() & slow.shift(1).notna()
    up = above & both_before & (fast.shift(1) <= slow.shift(1))
    down = below & both_before & (fast.shift(1) >= slow.shift(1))
    return _sided(_state(up, ~above), _state(down, ~below), allow_short)


# ---------------------------------------------------------------- templates


@template("buy_and_hold", "Fully long from the first bar to the last.")
def _buy_and_hold(df: pd.DataFrame, p: dict[str, float], allow_short: bool) -> pd.Series:
    return df["close"] * 0 + 1.0


@template(
    "sma_crossover",
    "Long from the fast SMA crossing above the slow SMA until it falls back "
    "(entry: state = long whenever fast > slow).",
    entry_modes=True,
    fast=50,
    slow=200,
)
def _sma_cross(
    df: pd.DataFrame, p: dict[str, float], allow_short: bool, entry: str = DEFAULT_ENTRY
) -> pd.Series:
    f, s = sma(df["close"], p["fast"]), sma(df["close"], p["slow"])
    return _crossing(f, s, allow_short, entry)


@template("ema_crossover", "Long while the fast EMA is above the slow EMA.", fast=12, slow=26)
def _ema_cross(df: pd.DataFrame, p: dict[str, float], allow_short: bool) -> pd.Series:
    f, s = ema(df["close"], p["fast"]), ema(df["close"], p["slow"])
    return _sided((f > s).astype(float), ((f < s) & s.notna()).astype(float), allow_short)


@template("macd_crossover", "Long while MACD is above its signal line.", fast=12, slow=26, signal=9)
def _macd(df: pd.DataFrame, p: dict[str, float], allow_short: bool) -> pd.Series:
    line, sig = macd(df["close"], p["fast"], p["slow"], p["signal"])
    return _sided(
        (line > sig).astype(float), ((line < sig) & line.notna()).astype(float), allow_short
    )


@template(
    "rsi_reversion",
    "Buy when RSI is oversold, exit when it recovers past `exit`.",
    period=14,
    lower=30,
    upper=70,
    exit=50,
)
def _rsi(df: pd.DataFrame, p: dict[str, float], allow_short: bool) -> pd.Series:
    r = rsi(df["close"], p["period"])
    long = _state(r < p["lower"], r > p["exit"])
    short = _state(r > p["upper"], r < p["exit"])
    return _sided(long, short, allow_short)


@template(
    "bollinger_reversion", "Buy below the lower band, exit at the middle band.", period=20, k=2.0
)
def _boll(df: pd.DataFrame, p: dict[str, float], allow_short: bool) -> pd.Series:
    c = df["close"]
    mid = sma(c, p["period"])
    sd = c.rolling(int(p["period"])).std()
    long = _state(c < mid - p["k"] * sd, c >= mid)
    short = _state(c > mid + p["k"] * sd, c <= mid)
    return _sided(long, short, allow_short)


@template(
    "zscore_reversion",
    "Buy when the price z-score drops below -entry, exit above -exit.",
    period=20,
    entry=2.0,
    exit=0.5,
)
def _zscore(df: pd.DataFrame, p: dict[str, float], allow_short: bool) -> pd.Series:
    c = df["close"]
    z = (c - sma(c, p["period"])) / c.rolling(int(p["period"])).std()
    long = _state(z < -p["entry"], z > -p["exit"])
    short = _state(z > p["entry"], z < p["exit"])
    return _sided(long, short, allow_short)


@template(
    "momentum",
    "Long while the trailing `lookback` return is positive (time-series momentum).",
    lookback=126,
)
def _momentum(df: pd.DataFrame, p: dict[str, float], allow_short: bool) -> pd.Series:
    r = df["close"].pct_change(int(p["lookback"]))
    return _sided((r > 0).astype(float), (r < 0).astype(float), allow_short)


@template(
    "donchian_breakout",
    "Buy a close above the prior `entry`-bar high, exit below the prior `exit`-bar low.",
    entry=55,
    exit=20,
)
def _donchian(df: pd.DataFrame, p: dict[str, float], allow_short: bool) -> pd.Series:
    c = df["close"]
    hi = df["high"].rolling(int(p["entry"])).max().shift(1)
    lo = df["low"].rolling(int(p["exit"])).min().shift(1)
    long = _state(c > hi, c < lo)
    lo_e = df["low"].rolling(int(p["entry"])).min().shift(1)
    hi_x = df["high"].rolling(int(p["exit"])).max().shift(1)
    short = _state(c < lo_e, c > hi_x)
    return _sided(long, short, allow_short)


@template(
    "volatility_breakout",
    "Buy a close `k` ATRs above the prior close, exit below the SMA.",
    period=20,
    k=1.5,
)
def _vol_breakout(df: pd.DataFrame, p: dict[str, float], allow_short: bool) -> pd.Series:
    c = df["close"]
    a = atr(df, p["period"]).shift(1)
    m = sma(c, p["period"])
    long = _state(c > c.shift(1) + p["k"] * a, c < m)
    short = _state(c < c.shift(1) - p["k"] * a, c > m)
    return _sided(long, short, allow_short)


@template(
    "volatility_target",
    "Long, sized to a target annual volatility (capped at max_leverage); bars a year from "
    "the dates unless periods_per_year > 0.",
    target_vol=0.15,
    lookback=20,
    max_leverage=1.0,
    periods_per_year=0,
)
def _vol_target(df: pd.DataFrame, p: dict[str, float], allow_short: bool) -> pd.Series:
    from activities.tools.market_data import infer_periods_per_year

    per_year = p["periods_per_year"] or infer_periods_per_year(df.index)[0]
    realised = df["close"].pct_change().rolling(int(p["lookback"])).std() * per_year**0.5
    return (p["target_vol"] / realised).clip(upper=p["max_leverage"]).fillna(0.0)


@template(
    "short_term_reversal",
    "Buy a close at the `lookback`-bar low, exit above the `lookback` SMA.",
    lookback=5,
)
def _reversal(df: pd.DataFrame, p: dict[str, float], allow_short: bool) -> pd.Series:
    c = df["close"]
    n = int(p["lookback"])
    long = _state(c <= c.rolling(n).min(), c > sma(c, n))
    short = _state(c >= c.rolling(n).max(), c < sma(c, n))
    return _sided(long, short, allow_short)


def positions(
    df: pd.DataFrame,
    name: str,
    params: dict[str, float],
    allow_short: bool = False,
    entry: EntryMode = DEFAULT_ENTRY,
) -> pd.Series:
    """Target exposure per bar; `entry` (cross | state) applies to templates with entry modes
    and is ignored by the others."""
    t = TEMPLATES[name]
    merged = {**t.defaults, **params}
    extra = {"entry": entry} if t.entry_modes else {}
    return t.func(df, merged, allow_short, **extra).astype(float).fillna(0.0)
