"""Backtester, strategy templates, signals and risk limits against hand-computed answers."""

from __future__ import annotations

import itertools
import math
import random
import statistics

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from activities.tools import backtester
from activities.tools.errors import DataFileError, InvalidToolInput
from activities.tools.market_data import (
    infer_periods_per_year,
    load_ohlcv,
    read_ohlcv,
    synthetic_ohlcv,
)
from activities.tools.registry import TOOLS
from activities.tools.risk import RiskCheckInput, risk_check
from activities.tools.strategies import TEMPLATES, positions, rsi


def prices_csv(tmp_path, closes: list[float]) -> str:
    path = tmp_path / "prices.csv"
    dates = pd.bdate_range("2024-01-01", periods=len(closes))
    pd.DataFrame({"Date": dates, "Close": closes}).to_csv(path, index=False)
    return str(path)


def test_buy_and_hold_return_and_drawdown_by_hand(tmp_path) -> None:
    path = prices_csv(tmp_path, [100, 110, 99, 120])
    r = TOOLS["backtest"].run(
        {
            "prices_path": path,
            "strategy": "buy_and_hold",
            "commission_bps": 0,
            "slippage_bps": 0,
            "output_dir": str(tmp_path),
        }
    )
    res = r.results[0]
    assert res.total_return == pytest.approx(0.20)
    assert res.max_drawdown == pytest.approx(99 / 110 - 1)  # -10%
    assert res.trades == 1 and res.win_rate == 1.0
    # 3 daily returns: +10%, -10%, +21.21%; Sharpe = mean / sd * sqrt(252)
    rets = [0.10, 99 / 110 - 1, 120 / 99 - 1]
    assert res.sharpe == pytest.approx(
        statistics.mean(rets) / statistics.stdev(rets) * math.sqrt(252)
    )
    downside = math.sqrt(sum(min(x, 0) ** 2 for x in rets) / 3)
    assert res.sortino == pytest.approx(statistics.mean(rets) / downside * math.sqrt(252))
    assert res.cagr == pytest.approx(1.2 ** (252 / 3) - 1)
    assert r.benchmark_return == pytest.approx(0.20)


def test_costs_are_charged_on_traded_notional() -> None:
    close = pd.Series([100.0, 110, 99, 120])
    _c, perf = backtester.run(
        close, close * 0 + 1, initial_capital=1.0, commission_bps=7, slippage_bps=3
    )
    assert perf.total_return == pytest.approx(1.2 * (1 - 0.001) - 1)
    assert perf.costs_paid == pytest.approx(0.001)


def test_trades_and_win_rate_by_hand() -> None:
    close = pd.Series([100.0, 110, 99, 120, 130, 120])
    # long over bars 1-2 (110 -> 99 after entering at 100: -1%), flat, long over bar 4 (+8.33%)
    _c, perf = backtester.run(close, pd.Series([1, 1, 0, 1, 0, 0.0]), initial_capital=1.0)
    assert perf.trades == 2 and perf.win_rate == 0.5
    assert perf.total_return == pytest.approx(1.1 * 0.9 * (130 / 120) - 1)
    assert perf.exposure == pytest.approx(3 / 5)


def test_ten_plus_templates_on_five_years_without_look_ahead() -> None:
    df = synthetic_ohlcv(np.random.default_rng(3), years=5)
    assert len(df) == 1260 and len(TEMPLATES) >= 10
    tampered = df.copy()
    tampered.iloc[1000:, :4] *= 3  # change the future
    for name in TEMPLATES:
        a = positions(df, name, {})
        b = positions(tampered, name, {})
        assert a.between(-5, 5).all(), name
        # exposure decided up to bar 999 cannot depend on prices after it
        assert a.iloc[:1000].equals(b.iloc[:1000]), name


def test_all_templates_through_the_tool(tmp_path) -> None:
    r = TOOLS["backtest"].run({"strategies": ["all"], "years": 5, "output_dir": str(tmp_path)})
    assert {x.strategy for x in r.results} == set(TEMPLATES)
    assert r.bars == 1260 and r.paper_trading_only
    assert "Paper trading only" in r.recommendations[0]
    for x in r.results:
        assert -1 <= x.max_drawdown <= 0 and 0 <= x.win_rate <= 1
        curve = pd.read_csv(x.equity_path)
        assert curve["equity"].iloc[-1] == pytest.approx(x.final_equity, rel=1e-6)


def test_unknown_strategy_and_params_are_refused() -> None:
    with pytest.raises(InvalidToolInput, match="unknown strategy"):
        TOOLS["backtest"].run({"strategy": "moon_shot"})
    with pytest.raises(InvalidToolInput, match="fast, slow"):
        TOOLS["backtest"].run({"strategy": "sma_crossover", "params": {"window": 3}})


def test_rsi_matches_wilder_definition() -> None:
    close = pd.Series(
        [
            44.34,
            44.09,
            44.15,
            43.61,
            44.33,
            44.83,
            45.10,
            45.42,
            45.84,
            46.08,
            45.89,
            46.03,
            45.61,
            46.28,
            46.28,
            46.00,
        ]
    )
    deltas = close.diff().dropna().tolist()
    gain = sum(max(d, 0) for d in deltas[:14]) / 14  # first value: simple averages of 14 changes
    loss = sum(max(-d, 0) for d in deltas[:14]) / 14
    values = rsi(close, 14)
    assert values.iloc[:14].isna().all()
    assert values.iloc[14] == pytest.approx(100 - 100 / (1 + gain / loss))
    gain = (gain * 13 + max(deltas[14], 0)) / 14  # then Wilder's smoothing
    loss = (loss * 13 + max(-deltas[14], 0)) / 14
    assert values.iloc[15] == pytest.approx(100 - 100 / (1 + gain / loss))


def test_signals_explain_an_oversold_buy_and_a_golden_cross(tmp_path) -> None:
    closes = [100.0] * 30 + [100 - 2 * i for i in range(1, 16)]  # a steady fall drives RSI low
    r = TOOLS["signal_generator"].run(
        {
            "prices_path": prices_csv(tmp_path, closes),
            "strategies": ["rsi_reversion"],
            "recent_bars": 45,
            "output_dir": str(tmp_path),
        }
    )
    buys = [s for s in r.signals if s.action == "buy"]
    assert buys and "oversold" in buys[0].rationale and "RSI14" in buys[0].rationale
    # golden cross: 200 flat bars, then a rise makes SMA50 cross above SMA200
    closes = [100.0] * 200 + [100 + i for i in range(1, 61)]
    r = TOOLS["signal_generator"].run(
        {
            "prices_path": prices_csv(tmp_path, closes),
            "strategies": ["sma_crossover"],
            "recent_bars": 60,
            "output_dir": str(tmp_path),
        }
    )
    assert r.signals[0].action == "buy" and "crossed above SMA200" in r.signals[0].rationale
    assert r.signals[0].date == str(pd.bdate_range("2024-01-01", periods=260)[200].date())
    assert r.action == "buy" and r.suggested_stop_loss is not None


def test_risk_sizing_by_the_numbers(out: str) -> None:
    # 1% of 100k = 1,000 at risk; stop 5 below 100 -> 200 shares; 20% cap = 20,000 / 100 = 200
    r = risk_check(
        RiskCheckInput(
            equity=100_000,
            orders=[{"symbol": "X", "side": "buy", "price": 100, "stop_loss": 95}],
            output_dir=out,
        )
    )
    d = r.decisions[0]
    assert (d.status, d.approved_quantity, d.risk_amount) == ("approved", 200, 1000)
    # tighter stop: risk allows 1000 shares but position cap stops at 200
    r = risk_check(
        RiskCheckInput(
            equity=100_000,
            orders=[
                {"symbol": "X", "side": "buy", "quantity": 1000, "price": 100, "stop_loss": 99}
            ],
        )
    )
    assert (
        r.decisions[0].status,
        r.decisions[0].approved_quantity,
        r.decisions[0].binding_limit,
    ) == ("reduced", 200, "max_position_pct")
    with pytest.raises(InvalidToolInput, match="stop"):
        risk_check(
            RiskCheckInput(orders=[{"symbol": "X", "side": "buy", "price": 100, "stop_loss": 101}])
        )


def test_daily_loss_limit_blocks_new_risk_but_allows_exits() -> None:
    r = risk_check(
        RiskCheckInput(
            equity=100_000,
            pnl_today=-3_500,
            positions=[{"symbol": "A", "quantity": 100, "price": 50}],
            orders=[
                {"symbol": "B", "side": "buy", "price": 10},
                {"symbol": "A", "side": "sell", "quantity": 100, "price": 50},
            ],
        )
    )
    assert r.trading_halted
    assert [d.status for d in r.decisions] == ["rejected", "approved"]
    assert r.positions_after == []


def test_limits_are_never_exceeded_under_a_stress_series() -> None:
    rnd = random.Random(42)
    limits = {
        "max_risk_per_trade_pct": 0.01,
        "max_position_pct": 0.2,
        "max_gross_exposure_pct": 1.5,
        "max_net_exposure_pct": 0.6,
        "max_open_positions": 6,
    }
    equity = 100_000.0
    prices = {s: rnd.uniform(10, 500) for s in "ABCDEFGHIJ"}
    book: list = []
    for _day in range(250):
        for s in prices:  # crashes and squeezes, not just noise
            prices[s] *= max(0.05, 1 + rnd.gauss(0, 0.03) + rnd.choice([0.0] * 8 + [-0.35, 0.45]))
        book = [p.model_copy(update={"price": prices[p.symbol]}) for p in book]
        orders = [
            {
                "symbol": s,
                "side": rnd.choice(["buy", "sell"]),
                "quantity": rnd.choice([None, rnd.uniform(1, 50_000)]),
                "price": prices[s],
            }
            for s in rnd.sample(list(prices), 4)
        ]
        r = risk_check(
            RiskCheckInput(
                equity=equity,
                positions=book,
                orders=orders,
                limits=limits,
                whole_units=rnd.random() < 0.5,
            )
        )
        book = r.positions_after
        gross = sum(abs(p.quantity * p.price) for p in book)
        net = sum(p.quantity * p.price for p in book)
        assert gross <= 1.5 * equity + 1e-6
        assert abs(net) <= 0.6 * equity + 1e-6
        assert all(abs(p.quantity * p.price) <= 0.2 * equity + 1e-6 for p in book)
        for d in r.decisions:
            if d.status in ("approved", "reduced") and d.risk_amount:
                assert d.risk_amount <= 0.01 * equity + 1e-6


# ------------------------------------------------------------------ dates in price files


def test_unnamed_first_column_of_dates_is_read_as_the_dates(tmp_path) -> None:
    # pandas' to_csv() writes the date index with an empty header cell: ",close"
    dates = pd.date_range("2023-01-06", periods=6, freq="W-FRI")
    path = tmp_path / "indexed.csv"
    pd.DataFrame({"close": [100.0, 102, 101, 105, 104, 108]}, index=dates).to_csv(path)
    assert path.read_text().splitlines()[0] == ",close"
    assert list(load_ohlcv(str(path)).index) == list(dates)
    r = TOOLS["backtest"].run(
        {"prices_path": str(path), "strategy": "buy_and_hold", "output_dir": str(tmp_path)}
    )
    assert (r.start, r.end) == ("2023-01-06", "2023-02-10")
    assert r.metrics["dates_synthesized"] == 0 and not r.dates_synthesized
    assert read_ohlcv(str(path)).date_source == "the unnamed first column"
    # a quoted empty header cell and the full OHLC set
    quoted = tmp_path / "quoted.csv"
    quoted.write_text(
        '"",open,high,low,close\n'
        "2024-03-28,10,11,9,10.5\n"
        "2024-04-01,10.5,12,10,11.5\n"
        "2024-04-02,11.5,12,11,11.8\n"
    )
    frame = load_ohlcv(str(quoted))
    assert [str(d.date()) for d in frame.index] == ["2024-03-28", "2024-04-01", "2024-04-02"]
    assert frame["high"].tolist() == [11, 12, 12]


def test_price_file_without_dates_reports_synthesized_dates(tmp_path) -> None:
    path = tmp_path / "closes.csv"
    pd.DataFrame({"close": [100.0, 101, 99, 103]}).to_csv(path)  # a 0..3 row counter, no dates
    r = TOOLS["backtest"].run(
        {"prices_path": str(path), "strategy": "buy_and_hold", "output_dir": str(tmp_path)}
    )
    assert r.metrics["dates_synthesized"] == 1 and r.dates_synthesized
    assert "dates synthesized" in r.headline
    assert any("no date column" in x for x in r.recommendations)
    assert r.start == "2000-01-03"  # the synthesized business days, said to be so
    # (4 bars are too few for RSI14: the signal headline leaves it out rather than failing)
    s = TOOLS["signal_generator"].run(
        {"prices_path": str(path), "strategies": ["momentum"], "output_dir": str(tmp_path)}
    )
    assert s.metrics["dates_synthesized"] == 1 and "dates synthesized" in s.headline
    assert "rsi14" not in s.indicators
    # an unnamed first column that is text but not dates, or a date column that does not
    # parse, is an error naming the value, never silently replaced by invented dates
    bad = tmp_path / "bad.csv"
    bad.write_text(",close\nAAPL,1\nMSFT,2\n")
    with pytest.raises(DataFileError, match=r"unnamed first column does not parse as dates.*AAPL"):
        load_ohlcv(str(bad))
    bad.write_text("Date,close\n2024-01-02,1\nsoon,2\n")
    with pytest.raises(DataFileError, match=r"'Date' does not parse as dates.*soon"):
        load_ohlcv(str(bad))


# ------------------------------------------------------------------ bars a year


def test_periods_per_year_from_the_median_spacing() -> None:
    def per_year(index: pd.DatetimeIndex) -> float:
        return infer_periods_per_year(index)[0]

    assert per_year(pd.bdate_range("2024-01-01", periods=300)) == 252  # trading days
    assert per_year(pd.date_range("2024-01-01", periods=300, freq="D")) == 365  # every day
    assert per_year(pd.date_range("2024-01-05", periods=60, freq="W-FRI")) == 52
    assert per_year(pd.date_range("2020-01-31", periods=36, freq="ME")) == 12
    assert per_year(pd.date_range("2020-01-31", periods=36, freq="BME")) == 12
    assert per_year(pd.date_range("2020-03-31", periods=12, freq="QE")) == 4
    assert per_year(pd.date_range("2024-01-01", periods=500, freq="h")) == 24 * 365
    # exchange hours: 7 hourly bars on each trading day
    days = pd.bdate_range("2024-01-01", periods=40)
    hours = pd.DatetimeIndex([d + pd.Timedelta(hours=h) for d in days for h in range(10, 17)])
    assert per_year(hours) == 7 * 252
    # a missing week does not move the median
    weekly = pd.date_range("2024-01-05", periods=30, freq="W-FRI").delete(10)
    assert infer_periods_per_year(weekly) == (52, "weekly")


def by_hand(closes: list[float], per_year: float) -> tuple[float, float]:
    rets = [b / a - 1 for a, b in itertools.pairwise(closes)]
    sharpe = statistics.mean(rets) / statistics.stdev(rets) * math.sqrt(per_year)
    cagr = (closes[-1] / closes[0]) ** (per_year / len(rets)) - 1
    return sharpe, cagr


def test_weekly_prices_are_annualised_with_52_bars(tmp_path) -> None:
    closes = [100.0, 103, 101, 106, 104, 109, 112, 110, 115]
    path = tmp_path / "weekly.csv"
    pd.DataFrame(
        {"date": pd.date_range("2024-01-05", periods=len(closes), freq="W-FRI"), "close": closes}
    ).to_csv(path, index=False)
    run = {"prices_path": str(path), "strategy": "buy_and_hold", "commission_bps": 0}
    r = TOOLS["backtest"].run({**run, "slippage_bps": 0, "output_dir": str(tmp_path)})
    sharpe, cagr = by_hand(closes, 52)  # 8 weekly returns: 8/52 of a year
    res = r.results[0]
    assert res.sharpe == pytest.approx(sharpe) and r.metrics["sharpe"] == pytest.approx(sharpe)
    assert res.cagr == pytest.approx(cagr) and cagr == pytest.approx(1.15 ** (52 / 8) - 1)
    assert r.metrics["periods_per_year"] == 52 and r.frequency == "weekly"
    assert "52 bars a year" in r.headline
    # an explicit periods_per_year overrides the inference
    r = TOOLS["backtest"].run({**run, "slippage_bps": 0, "periods_per_year": 12})
    assert r.metrics["periods_per_year"] == 12 and r.frequency == "given"
    assert r.results[0].sharpe == pytest.approx(by_hand(closes, 12)[0])
    assert r.results[0].cagr == pytest.approx(1.15 ** (12 / 8) - 1)


def test_monthly_prices_are_annualised_with_12_bars(tmp_path) -> None:
    closes = [100.0, 98, 104, 107, 103, 110, 114, 111, 118, 121, 117, 124, 130]
    path = tmp_path / "monthly.csv"
    pd.DataFrame(
        {"Date": pd.date_range("2023-01-31", periods=len(closes), freq="ME"), "Close": closes}
    ).to_csv(path, index=False)
    r = TOOLS["backtest"].run(
        {
            "prices_path": str(path),
            "strategy": "buy_and_hold",
            "commission_bps": 0,
            "slippage_bps": 0,
            "output_dir": str(tmp_path),
        }
    )
    res = r.results[0]
    sharpe, cagr = by_hand(closes, 12)
    assert res.sharpe == pytest.approx(sharpe)
    assert r.metrics["periods_per_year"] == 12 and r.frequency == "monthly"
    # 12 monthly returns are one year: CAGR is the total return, 30%
    assert res.cagr == pytest.approx(cagr) and res.cagr == pytest.approx(0.30)
    rets = [b / a - 1 for a, b in itertools.pairwise(closes)]
    assert res.annual_volatility == pytest.approx(statistics.stdev(rets) * math.sqrt(12))


def test_volatility_target_annualises_with_the_data_frequency() -> None:
    closes = [100.0, 103, 101, 106, 104, 109, 112, 110, 115, 113]
    df = pd.DataFrame(
        {"close": closes}, index=pd.date_range("2024-01-05", periods=len(closes), freq="W-FRI")
    )
    df["open"] = df["high"] = df["low"] = df["close"]
    p = {"lookback": 4, "target_vol": 0.05, "max_leverage": 10}
    rets = [b / a - 1 for a, b in itertools.pairwise(closes)]
    realised = statistics.stdev(rets[-4:]) * math.sqrt(52)  # the last 4 weekly returns
    assert positions(df, "volatility_target", p).iloc[-1] == pytest.approx(0.05 / realised)
    given = positions(df, "volatility_target", {**p, "periods_per_year": 252}).iloc[-1]
    assert given == pytest.approx(0.05 / (realised / math.sqrt(52) * math.sqrt(252)))


# ------------------------------------------------------------------ crossover entry


# fast SMA2 / slow SMA3: fast is already above slow on bar 2 (the first with both), falls
# below on bar 5, crosses back above on bar 8
CROSS_CLOSES = [10.0, 20, 30, 40, 30, 20, 10, 20, 30, 40]


def test_sma_crossover_enters_on_a_cross_by_default_or_on_state(tmp_path) -> None:
    df = pd.DataFrame({"close": CROSS_CLOSES})
    fast_slow = {"fast": 2, "slow": 3}
    cross = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1]
    assert positions(df, "sma_crossover", fast_slow).tolist() == cross  # the default
    assert positions(df, "sma_crossover", fast_slow, entry="cross").tolist() == cross
    state = positions(df, "sma_crossover", fast_slow, entry="state").tolist()
    assert state == [0, 0, 1, 1, 1, 0, 0, 0, 1, 1]
    assert positions(df, "sma_crossover", fast_slow, True, "state").tolist() == [
        0,
        0,
        1,
        1,
        1,
        -1,
        -1,
        -1,
        1,
        1,
    ]
    assert positions(df, "sma_crossover", fast_slow, True, "cross").tolist() == [
        0,
        0,
        0,
        0,
        0,
        -1,
        -1,
        -1,
        1,
        1,
    ]
    # through the tool: state holds bars 3-5 (40/30, 30/40, 20/30) and bar 9 (40/30);
    # cross only bar 9
    run = {
        "prices_path": prices_csv(tmp_path, CROSS_CLOSES),
        "strategy": "sma_crossover",
        "params": fast_slow,
        "commission_bps": 0,
        "slippage_bps": 0,
        "output_dir": str(tmp_path),
    }
    r_state = TOOLS["backtest"].run({**run, "entry": "state"})
    r_cross = TOOLS["backtest"].run(run)
    assert r_state.results[0].total_return == pytest.approx(8 / 9 - 1)
    assert r_state.results[0].trades == 2
    assert r_cross.results[0].total_return == pytest.approx(40 / 30 - 1)
    assert r_cross.results[0].trades == 1
    with pytest.raises(ValidationError):
        TOOLS["backtest"].run({**run, "entry": "sometimes"})


def test_signals_for_a_trend_already_under_way(tmp_path) -> None:
    # rising from the start: SMA50 is above SMA200 on bar 199, the first bar with both
    run = {
        "prices_path": prices_csv(tmp_path, [100.0 + i for i in range(260)]),
        "strategies": ["sma_crossover"],
        "recent_bars": 100,
        "output_dir": str(tmp_path),
    }
    r = TOOLS["signal_generator"].run({**run, "entry": "state"})
    assert [(s.action, s.date) for s in r.signals] == [
        ("buy", str(pd.bdate_range("2024-01-01", periods=260)[199].date()))
    ]
    assert "SMA50 (" in r.signals[0].rationale and "is above SMA200" in r.signals[0].rationale
    assert r.stance == {"sma_crossover": 1.0}
    r = TOOLS["signal_generator"].run(run)  # cross: no cross happened, so no entry
    assert r.signals == [] and r.stance == {"sma_crossover": 0.0}
