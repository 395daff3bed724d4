"""Trading tools (paper trading only): `backtest` and `signal_generator`.

Nothing here connects to a broker or places an order; outputs say so. Prices come from an
OHLCV file by path or from a deterministic synthetic series.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import AliasChoices, BaseModel, Field

from activities.tools import backtester
from activities.tools.artifacts import ArtifactWriter
from activities.tools.errors import InvalidToolInput
from activities.tools.registry import ToolInput, ToolOutput, tool
from activities.tools.sampling import np_rng
from activities.tools.strategies import (
    DEFAULT_ENTRY,
    TEMPLATES,
    EntryMode,
    atr,
    ema,
    macd,
    positions,
    rsi,
    sma,
)

if TYPE_CHECKING:
    import pandas as pd

PAPER_ONLY = "Paper trading only: no orders were placed and none will be."


@dataclass(frozen=True)
class Prices:
    df: pd.DataFrame
    source: str  # the path, or which synthetic series
    periods_per_year: float  # bars a year, for annualising (given, or inferred from the dates)
    frequency: str  # how periods_per_year was arrived at
    dates_synthesized: bool  # the dates are made up: synthetic prices, or a file without dates
    dates_note: str = ""  # why, for a file without dates


def load_prices(
    path: str | None, inp: ToolInput, years: float, periods_per_year: float | None = None
) -> Prices:
    from activities.tools.market_data import (
        infer_periods_per_year,
        read_ohlcv,
        synthetic_ohlcv,
    )

    note = ""
    if path:
        data = read_ohlcv(path)
        df, source, synthesized = data.frame, path, data.dates_synthesized
        if synthesized:
            note = data.synthesized_note(path)
    else:
        df = synthetic_ohlcv(np_rng(inp, "prices"), years=years)
        source, synthesized = f"synthetic {years:g}-year daily series", True
    if periods_per_year:
        per_year, frequency = periods_per_year, "given"
    else:
        per_year, frequency = infer_periods_per_year(df.index)
        if synthesized and path:
            frequency = f"{frequency}, assumed: no dates in the file"
    return Prices(df, source, per_year, frequency, synthesized, note)


def template_params(name: str, overrides: dict[str, float], prices: Prices) -> dict[str, float]:
    """Defaults, then the data's bars a year where a template annualises, then the caller's."""
    defaults = TEMPLATES[name].defaults
    per_year = (
        {"periods_per_year": prices.periods_per_year} if "periods_per_year" in defaults else {}
    )
    return {**defaults, **per_year, **overrides}


def check_strategy(name: str, params: dict[str, float]) -> None:
    if name not in TEMPLATES:
        raise InvalidToolInput(f"unknown strategy {name!r}; templates: {', '.join(TEMPLATES)}")
    unknown = sorted(set(params) - set(TEMPLATES[name].defaults))
    if unknown:
        accepted = ", ".join(TEMPLATES[name].defaults) or "none"
        raise InvalidToolInput(
            f"strategy {name} has no parameter(s) {', '.join(unknown)}; it takes: {accepted}"
        )


class BacktestInput(ToolInput):
    prices_path: str | None = Field(
        default=None,
        validation_alias=AliasChoices("prices_path", "ohlcv_path", "data_path", "path"),
        description="OHLCV CSV/Parquet (date, open, high, low, close, volume)",
    )
    symbol: str = "SAMPLE"
    strategy: str = Field(default="sma_crossover", description="a template name")
    strategies: list[str] = Field(default_factory=list, description="several templates, or ['all']")
    params: dict[str, float] = Field(default_factory=dict, description="overrides for `strategy`")
    years: float = Field(default=5.0, gt=0.1, le=50, description="length of the synthetic series")
    initial_capital: float = Field(default=100_000.0, gt=0)
    commission_bps: float = Field(default=1.0, ge=0)
    slippage_bps: float = Field(default=2.0, ge=0)
    risk_free_rate: float = Field(default=0.0)
    allow_short: bool = False
    max_exposure: float = Field(
        default=1.0, gt=0, le=5, description="|exposure| is clipped to this"
    )
    periods_per_year: float | None = Field(
        default=None,
        gt=0,
        description=(
            "bars a year for Sharpe, Sortino, volatility and CAGR; inferred from the "
            "dates when not given (252 trading days, 365, 52, 12, ...)"
        ),
    )
    entry: EntryMode = Field(
        default=DEFAULT_ENTRY,
        description=(
            "sma_crossover entry: cross = on the bar the fast SMA crosses the slow one; "
            "state = whenever fast is above slow"
        ),
    )


class StrategyResult(backtester.Performance):
    strategy: str
    params: dict[str, float]
    equity_path: str


class BacktestOutput(ToolOutput):
    symbol: str = ""
    bars: int = 0
    start: str = ""
    end: str = ""
    periods_per_year: float = 252.0
    frequency: str = ""
    dates_synthesized: bool = False
    results: list[StrategyResult] = Field(default_factory=list)
    best_strategy: str = ""
    benchmark_return: float = 0.0
    paper_trading_only: bool = True


def run_template(
    prices: Prices, name: str, params: dict[str, float], inp: BacktestInput
) -> tuple[pd.DataFrame, backtester.Performance]:
    df = prices.df
    exposure = positions(df, name, params, inp.allow_short, inp.entry).clip(
        -inp.max_exposure, inp.max_exposure
    )
    return backtester.run(
        df["close"],
        exposure,
        initial_capital=inp.initial_capital,
        commission_bps=inp.commission_bps,
        slippage_bps=inp.slippage_bps,
        risk_free_rate=inp.risk_free_rate,
        periods_per_year=prices.periods_per_year,
    )


@tool(
    "backtest",
    (
        "Vectorised backtest of strategy templates on OHLCV (Sharpe, "
        "Sortino, CAGR, drawdown, win rate); paper only"
    ),
)
def backtest(inp: BacktestInput) -> BacktestOutput:
    names = list(inp.strategies) or [inp.strategy]
    if names == ["all"]:
        names = list(TEMPLATES)
    for n in names:
        check_strategy(n, inp.params if n == inp.strategy else {})
    prices = load_prices(inp.prices_path, inp, inp.years, inp.periods_per_year)
    df, source = prices.df, prices.source
    writer = ArtifactWriter(inp, "backtest")
    results = []
    for n in names:
        params = template_params(n, inp.params if n == inp.strategy else {}, prices)
        curve, perf = run_template(prices, n, params, inp)
        path = writer.path(f"equity-{n}", "csv")
        curve.to_csv(path, index_label="date", float_format="%.6f")
        results.append(
            StrategyResult(strategy=n, params=params, equity_path=str(path), **perf.model_dump())
        )
    _curve, bench = backtester.run(
        df["close"],
        df["close"] * 0 + 1.0,
        initial_capital=inp.initial_capital,
        periods_per_year=prices.periods_per_year,
    )
    best = max(results, key=lambda r: r.sharpe)
    first = results[0]
    recs = [PAPER_ONLY]
    if prices.dates_note:
        recs.append(
            f"Dates synthesized: {prices.dates_note}. Add a 'date' column, or give "
            "periods_per_year, before trusting the annualised figures."
        )
    if best.sharpe < 0.5:
        recs.append(
            f"No template reaches a Sharpe of 0.5 (best {best.strategy} {best.sharpe:.2f}): "
            "do not promote any to live."
        )
    else:
        recs.append(
            f"Walk-forward test {best.strategy} (Sharpe {best.sharpe:.2f}) "
            "on out-of-sample data before paper trading it."
        )
    if first.max_drawdown < -0.25:
        recs.append(
            f"{first.strategy} drew down {first.max_drawdown:.0%}: add a stop "
            "or volatility targeting."
        )
    if first.trades > 100 and first.costs_paid > 0.05 * inp.initial_capital:
        recs.append(
            f"{first.strategy} paid {first.costs_paid:,.0f} in costs over "
            f"{first.trades} trades: trade less often."
        )
    return BacktestOutput(
        headline=(
            f"{first.strategy} on {inp.symbol} ({len(df)} bars, {source}; "
            f"{prices.periods_per_year:g} bars a year, {prices.frequency}"
            + ("; dates synthesized, none in the file" if prices.dates_note else "")
            + f"): CAGR {first.cagr:.1%}, Sharpe "
            f"{first.sharpe:.2f}, Sortino {first.sortino:.2f}, max drawdown "
            f"{first.max_drawdown:.1%}, "
            f"{first.trades} trades, win rate {first.win_rate:.0%} (buy & "
            f"hold {bench.total_return:+.1%})."
        ),
        metrics={
            "total_return": first.total_return,
            "cagr": first.cagr,
            "sharpe": first.sharpe,
            "sortino": first.sortino,
            "max_drawdown": first.max_drawdown,
            "win_rate": first.win_rate,
            "trades": float(first.trades),
            "annual_volatility": first.annual_volatility,
            "benchmark_return": bench.total_return,
            "strategies_tested": float(len(results)),
            "periods_per_year": float(prices.periods_per_year),
            "dates_synthesized": float(prices.dates_synthesized),
        },
        recommendations=recs,
        artifacts=writer.written,
        symbol=inp.symbol,
        bars=len(df),
        start=str(df.index[0].date()),
        end=str(df.index[-1].date()),
        periods_per_year=prices.periods_per_year,
        frequency=prices.frequency,
        dates_synthesized=prices.dates_synthesized,
        results=results,
        best_strategy=best.strategy,
        benchmark_return=bench.total_return,
    )


# --------------------------------------------------------------------------- signal_generator

DEFAULT_SIGNAL_SET = (
    "sma_crossover",
    "macd_crossover",
    "rsi_reversion",
    "bollinger_reversion",
    "momentum",
)


class Signal(BaseModel):
    date: str
    strategy: str
    action: str  # buy | sell | short | cover
    price: float
    rationale: str


class SignalGeneratorInput(ToolInput):
    prices_path: str | None = Field(
        default=None,
        validation_alias=AliasChoices("prices_path", "ohlcv_path", "data_path", "path"),
    )
    symbol: str = "SAMPLE"
    strategies: list[str] = Field(default_factory=lambda: list(DEFAULT_SIGNAL_SET))
    recent_bars: int = Field(
        default=60, ge=1, description="report signals from this many last bars"
    )
    years: float = Field(default=2.0, gt=0.1, le=50)
    atr_stop_multiple: float = Field(default=2.0, gt=0)
    periods_per_year: float | None = Field(
        default=None, gt=0, description="bars a year (volatility_target); inferred when not given"
    )
    entry: EntryMode = Field(
        default=DEFAULT_ENTRY, description="sma_crossover entry: cross | state (see backtest)"
    )


class SignalGeneratorOutput(ToolOutput):
    symbol: str = ""
    as_of: str = ""
    action: str = Field(default="hold", description="consensus now: buy | sell | hold")
    signals: list[Signal] = Field(default_factory=list)
    stance: dict[str, float] = Field(default_factory=dict, description="strategy -> exposure now")
    indicators: dict[str, float] = Field(default_factory=dict)
    suggested_stop_loss: float | None = None
    dates_synthesized: bool = False
    paper_trading_only: bool = True


def _rationale(
    name: str, df: pd.DataFrame, i: int, before: float, after: float, p: dict[str, float]
) -> str:
    c = df["close"]
    price = float(c.iloc[i])
    up = after > before
    if name in ("sma_crossover", "ema_crossover"):
        avg = sma if name == "sma_crossover" else ema
        fast, slow = avg(c, p["fast"]), avg(c, p["slow"])
        f, s = fast.iloc[i], slow.iloc[i]
        kind = name[:3].upper()
        # state entry can open on the first bar both averages exist: no cross happened there
        crossed = i > 0 and (fast.iloc[i - 1] - slow.iloc[i - 1]) * (f - s) <= 0
        side = "above" if up else "below"
        return (
            f"{kind}{p['fast']:g} ({f:.2f}) {'crossed' if crossed else 'is'} {side} "
            f"{kind}{p['slow']:g} ({s:.2f})"
        )
    if name == "macd_crossover":
        line, sig = macd(c, p["fast"], p["slow"], p["signal"])
        return (
            f"MACD ({line.iloc[i]:.3f}) crossed {'above' if up else 'below'} "
            f"its signal line ({sig.iloc[i]:.3f})"
        )
    if name == "rsi_reversion":
        r = rsi(c, p["period"]).iloc[i]
        if after > 0 and up:
            return f"RSI{p['period']:g} at {r:.1f} is below {p['lower']:g}: oversold"
        if after < 0:
            return f"RSI{p['period']:g} at {r:.1f} is above {p['upper']:g}: overbought"
        return f"RSI{p['period']:g} recovered to {r:.1f} (exit level {p['exit']:g})"
    if name == "bollinger_reversion":
        mid = sma(c, p["period"]).iloc[i]
        sd = c.rolling(int(p["period"])).std().iloc[i]
        if after > 0 and up:
            return f"Close {price:.2f} fell below the lower band {mid - p['k'] * sd:.2f}"
        return f"Close {price:.2f} reverted to the middle band {mid:.2f}"
    if name == "momentum":
        r = c.pct_change(int(p["lookback"])).iloc[i]
        return f"{p['lookback']:g}-bar return turned {'positive' if up else 'negative'} ({r:+.1%})"
    return f"{TEMPLATES[name].description} Exposure {before:g} -> {after:g}."


@tool(
    "signal_generator",
    "Buy/sell signals with rationale from strategy templates (paper trading only)",
)
def signal_generator(inp: SignalGeneratorInput) -> SignalGeneratorOutput:
    for n in inp.strategies:
        check_strategy(n, {})
    if not inp.strategies:
        raise InvalidToolInput(f"give at least one strategy; templates: {', '.join(TEMPLATES)}")
    prices = load_prices(inp.prices_path, inp, inp.years, inp.periods_per_year)
    df = prices.df
    start = max(1, len(df) - inp.recent_bars)
    signals: list[Signal] = []
    stance: dict[str, float] = {}
    for n in inp.strategies:
        params = template_params(n, {}, prices)
        pos = positions(df, n, params, entry=inp.entry).to_numpy()
        stance[n] = float(pos[-1])
        for i in range(start, len(df)):
            before, after = float(pos[i - 1]), float(pos[i])
            if before == after:
                continue
            if after > before:
                action = "cover" if before < 0 and after <= 0 else "buy"
            else:
                action = "short" if after < 0 else "sell"
            signals.append(
                Signal(
                    date=str(df.index[i].date()),
                    strategy=n,
                    action=action,
                    price=round(float(df["close"].iloc[i]), 4),
                    rationale=_rationale(n, df, i, before, after, params),
                )
            )
    signals.sort(key=lambda s: (s.date, s.strategy))
    c = df["close"]
    line, sig = macd(c)
    last_atr = float(atr(df).iloc[-1])
    indicators = {
        "close": float(c.iloc[-1]),
        "sma50": float(sma(c, 50).iloc[-1]) if len(c) >= 50 else float("nan"),
        "sma200": float(sma(c, 200).iloc[-1]) if len(c) >= 200 else float("nan"),
        "rsi14": float(rsi(c).iloc[-1]),
        "macd": float(line.iloc[-1]),
        "macd_signal": float(sig.iloc[-1]),
        "atr14": last_atr,
    }
    indicators = {k: round(v, 4) for k, v in indicators.items() if v == v}  # drop NaN
    long_share = sum(1 for v in stance.values() if v > 0) / len(stance)
    short_share = sum(1 for v in stance.values() if v < 0) / len(stance)
    # A majority long is a buy; when at most one strategy in four is long, the trend is not
    # there and the stance is to sell (exit longs); in between, hold.
    action = "buy" if long_share > 0.5 else "sell" if long_share < 0.25 else "hold"
    stop = (
        round(float(c.iloc[-1]) - inp.atr_stop_multiple * last_atr, 4) if action == "buy" else None
    )
    recs = [PAPER_ONLY]
    if prices.dates_note:
        recs.append(f"Signal dates are made up: {prices.dates_note}.")
    if stop is not None:
        recs.append(
            "If acting on the buy, size it with risk_check using a stop at "
            f"{stop:.2f} ({inp.atr_stop_multiple:g} ATR)."
        )
    if signals:
        last = signals[-1]
        recs.append(f"Latest: {last.strategy} {last.action} on {last.date} — {last.rationale}.")
    return SignalGeneratorOutput(
        headline=(
            f"{inp.symbol} as of {df.index[-1].date()}: {action.upper()} ({long_share:.0%} "
            f"of {len(stance)} strategies long), "
            f"{len(signals)} signals in the last {len(df) - start} bars; close "
            f"{indicators['close']:.2f}"
            # RSI14 needs 15 bars; shorter files have none (NaN indicators are dropped)
            + (f", RSI {indicators['rsi14']:.1f}" if "rsi14" in indicators else "")
            + (" (dates synthesized: the file has none)." if prices.dates_note else ".")
        ),
        metrics={
            "signals": float(len(signals)),
            "long_share": long_share,
            "short_share": short_share,
            "dates_synthesized": float(prices.dates_synthesized),
            **indicators,
        },
        recommendations=recs,
        symbol=inp.symbol,
        as_of=str(df.index[-1].date()),
        action=action,
        signals=signals,
        stance=stance,
        indicators=indicators,
        suggested_stop_loss=stop,
        dates_synthesized=prices.dates_synthesized,
    )
