"""The vectorised backtest engine: exposures in, equity curve and performance metrics out.

Model: exposure decided at bar t's close is held over bar t+1's close-to-close return.
Every change of exposure pays (commission + slippage) in basis points on the traded
notional, charged on the bar where the change happens. Paper trading only.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    import pandas as pd


class Performance(BaseModel):
    """The engine's metrics; the tool's per-strategy result extends it."""

    model_config = ConfigDict(frozen=True)

    total_return: float
    cagr: float
    annual_volatility: float
    sharpe: float
    sortino: float
    max_drawdown: float
    max_drawdown_bars: int
    calmar: float
    trades: int
    win_rate: float
    exposure: float
    turnover: float
    costs_paid: float
    final_equity: float


def run(
    close: pd.Series,
    exposure: pd.Series,
    *,
    initial_capital: float = 100_000.0,
    commission_bps: float = 0.0,
    slippage_bps: float = 0.0,
    risk_free_rate: float = 0.0,
    periods_per_year: float = 252,
) -> tuple[pd.DataFrame, Performance]:
    import numpy as np
    import pandas as pd

    target = exposure.reindex(close.index).fillna(0.0).to_numpy(dtype=float)
    price = close.to_numpy(dtype=float)
    rets = np.zeros_like(price)
    rets[1:] = price[1:] / price[:-1] - 1.0
    held = np.zeros_like(target)
    held[1:] = target[:-1]
    traded = np.abs(np.diff(target, prepend=0.0))
    cost_rate = (commission_bps + slippage_bps) / 1e4
    strat = held * rets - traded * cost_rate
    equity = initial_capital * np.cumprod(1.0 + strat)
    peak = np.maximum.accumulate(equity)
    dd = equity / peak - 1.0

    n = len(price)
    years = max(n - 1, 1) / periods_per_year
    total = equity[-1] / initial_capital - 1.0
    cagr = (equity[-1] / initial_capital) ** (1 / years) - 1.0 if equity[-1] > 0 else -1.0
    excess = strat[1:] - risk_free_rate / periods_per_year
    sd = float(np.std(excess, ddof=1)) if len(excess) > 1 else 0.0
    sharpe = float(np.mean(excess) / sd * math.sqrt(periods_per_year)) if sd > 0 else 0.0
    downside = float(np.sqrt(np.mean(np.minimum(excess, 0.0) ** 2))) if len(excess) else 0.0
    sortino = (
        float(np.mean(excess) / downside * math.sqrt(periods_per_year)) if downside > 0 else 0.0
    )
    mdd = float(dd.min())
    # longest stretch below a previous peak, in bars
    under = dd < 0
    longest = run_len = 0
    for u in under:
        run_len = run_len + 1 if u else 0
        longest = max(longest, run_len)

    # A trade is a run of bars held on the same side. Its result is its bars' returns, its
    # entry cost (paid on the bar before it is held) and its exit cost.
    side = np.sign(held)
    next_side = np.sign(target)
    starts = (side != 0) & (np.concatenate([[0.0], side[:-1]]) != side)
    trade_id = np.cumsum(starts) * (side != 0)
    trade_returns: list[float] = []
    if trade_id.max() > 0:
        continuing = (side != 0) & (next_side == side)
        exit_cost = np.where(continuing, traded, np.abs(held)) * cost_rate
        entry_cost = np.where(continuing, 0.0, np.abs(target)) * cost_rate
        contrib = np.log1p(held * rets) + np.log1p(-exit_cost)
        contrib[1:] += np.log1p(-entry_cost[:-1])
        per_trade = pd.Series(contrib).groupby(trade_id).sum()
        trade_returns = [math.expm1(v) for k, v in per_trade.items() if k != 0]
    wins = sum(1 for r in trade_returns if r > 0)
    perf = Performance(
        total_return=float(total),
        cagr=float(cagr),
        annual_volatility=sd * math.sqrt(periods_per_year),
        sharpe=sharpe,
        sortino=sortino,
        max_drawdown=mdd,
        max_drawdown_bars=int(longest),
        calmar=float(cagr / abs(mdd)) if mdd < 0 else 0.0,
        trades=len(trade_returns),
        win_rate=wins / len(trade_returns) if trade_returns else 0.0,
        exposure=float(np.mean(held[1:] != 0)) if n > 1 else 0.0,
        turnover=float(traded.sum()),
        costs_paid=float(
            (traded * cost_rate * np.concatenate([[initial_capital], equity[:-1]])).sum()
        ),
        final_equity=float(equity[-1]),
    )
    curve = pd.DataFrame(
        {
            "close": price,
            "target_exposure": target,
            "held_exposure": held,
            "return": strat,
            "equity": equity,
            "drawdown": dd,
        },
        index=close.index,
    )
    return curve, perf
