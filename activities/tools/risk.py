"""`risk_check`: size and vet paper orders against hard risk limits.

Invariant (tested under stress): once the returned decisions are applied — approved
quantities and the forced reductions — no position exceeds `max_position_pct` of equity,
gross and net exposure stay within their limits, and no new position risks more than
`max_risk_per_trade_pct` of equity between entry and its stop. Limits are checked at the
prices given; a move in the market is answered by forced reductions on the next check.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, Field

from activities.tools.errors import InvalidToolInput
from activities.tools.registry import ToolError, ToolInput, ToolOutput, tool
from activities.tools.sampling import rng

_EPS = 1e-9


class RiskInvariantError(ToolError):
    """The sizing maths left a limit broken: a bug, never an input problem."""


class RiskLimits(BaseModel):
    max_risk_per_trade_pct: float = Field(
        default=0.01, gt=0, le=0.2, description="equity lost if the stop is hit"
    )
    max_position_pct: float = Field(default=0.20, gt=0, le=5)
    max_gross_exposure_pct: float = Field(default=1.0, gt=0, le=10)
    max_net_exposure_pct: float = Field(default=1.0, gt=0, le=10)
    max_open_positions: int = Field(default=10, ge=1)
    max_daily_loss_pct: float = Field(default=0.03, gt=0, le=1)
    default_stop_pct: float = Field(
        default=0.05, gt=0, lt=1, description="stop distance when an order has none"
    )


class Position(BaseModel):
    symbol: str
    quantity: float = Field(description="signed: negative is short")
    price: float = Field(gt=0, description="current mark")
    stop_loss: float | None = None


class Order(BaseModel):
    symbol: str
    side: str = Field(description="buy | sell")
    quantity: float | None = Field(
        default=None, ge=0, description="None = size it to the risk budget"
    )
    price: float = Field(gt=0)
    stop_loss: float | None = None


class OrderDecision(BaseModel):
    symbol: str
    side: str
    requested: float | None
    approved_quantity: float
    status: str  # approved | reduced | rejected | forced
    stop_loss: float | None
    risk_amount: float
    binding_limit: str = ""
    reason: str = ""


class RiskCheckInput(ToolInput):
    equity: float = Field(default=100_000.0, gt=0)
    positions: list[Position] = Field(default_factory=list)
    orders: list[Order] = Field(default_factory=list)
    limits: RiskLimits = Field(default_factory=RiskLimits)
    pnl_today: float = Field(default=0.0, description="realised + unrealised P&L so far today")
    whole_units: bool = Field(default=True, description="round quantities down to whole units")


class RiskCheckOutput(ToolOutput):
    decisions: list[OrderDecision] = Field(default_factory=list)
    positions_after: list[Position] = Field(default_factory=list)
    gross_exposure_pct: float = 0.0
    net_exposure_pct: float = 0.0
    open_risk_pct: float = 0.0
    trading_halted: bool = False
    paper_trading_only: bool = True


class _Book:
    def __init__(self, positions: list[Position]) -> None:
        self.qty: dict[str, float] = {}
        self.price: dict[str, float] = {}
        self.stop: dict[str, float | None] = {}
        for p in positions:
            self.qty[p.symbol] = self.qty.get(p.symbol, 0.0) + p.quantity
            self.price[p.symbol] = p.price
            self.stop[p.symbol] = p.stop_loss

    def value(self, s: str) -> float:
        return self.qty.get(s, 0.0) * self.price.get(s, 0.0)

    def gross(self) -> float:
        return sum(abs(self.value(s)) for s in self.qty)

    def net(self) -> float:
        return sum(self.value(s) for s in self.qty)

    def open_count(self) -> int:
        return sum(1 for q in self.qty.values() if abs(q) > _EPS)


def _floor(q: float, whole: bool) -> float:
    q = max(0.0, q)
    return float(math.floor(q + _EPS)) if whole else math.floor(q * 1e6) / 1e6


def _forced_reductions(
    book: _Book, equity: float, lim: RiskLimits, whole: bool
) -> list[OrderDecision]:
    """Trim what the market pushed over a limit, and close positions whose stop was hit."""
    out: list[OrderDecision] = []

    def trim(s: str, to_qty: float, why: str, limit: str) -> None:
        q = book.qty[s]
        delta = abs(q) - abs(to_qty)
        if delta <= _EPS:
            return
        book.qty[s] = math.copysign(abs(to_qty), q)
        out.append(
            OrderDecision(
                symbol=s,
                side="sell" if q > 0 else "buy",
                requested=None,
                approved_quantity=delta,
                status="forced",
                stop_loss=None,
                risk_amount=0.0,
                binding_limit=limit,
                reason=why,
            )
        )

    for s in sorted(book.qty):
        q, px, stop = book.qty[s], book.price[s], book.stop.get(s)
        if abs(q) <= _EPS:
            continue
        if stop is not None and ((q > 0 and px <= stop) or (q < 0 and px >= stop)):
            trim(s, 0.0, f"price {px:g} crossed the stop {stop:g}", "stop_loss")
            continue
        cap = lim.max_position_pct * equity / px
        if abs(q) > cap + _EPS:
            # rounding down can never leave the position above the cap
            trim(
                s,
                _floor(cap, whole),
                f"position {abs(q) * px:,.0f} is over {lim.max_position_pct:.0%} of equity",
                "max_position_pct",
            )
    gross_cap = lim.max_gross_exposure_pct * equity
    if book.gross() > gross_cap + _EPS:
        scale = gross_cap / book.gross()
        for s in sorted(book.qty):
            if abs(book.qty[s]) > _EPS:
                trim(
                    s,
                    _floor(abs(book.qty[s]) * scale, whole),
                    f"gross exposure over {lim.max_gross_exposure_pct:.0%}",
                    "max_gross_exposure_pct",
                )
    net_cap = lim.max_net_exposure_pct * equity
    if abs(book.net()) > net_cap + _EPS:
        heavy_side = 1.0 if book.net() > 0 else -1.0
        side_syms = [s for s in sorted(book.qty) if book.qty[s] * heavy_side > _EPS]
        excess = abs(book.net()) - net_cap
        side_value = sum(abs(book.value(s)) for s in side_syms)
        scale = max(0.0, (side_value - excess) / side_value)
        for s in side_syms:
            trim(
                s,
                _floor(abs(book.qty[s]) * scale, whole),
                f"net exposure over {lim.max_net_exposure_pct:.0%}",
                "max_net_exposure_pct",
            )
    return out


def check_order(
    book: _Book, o: Order, equity: float, lim: RiskLimits, halted: bool, whole: bool
) -> OrderDecision:
    if o.side not in ("buy", "sell"):
        raise InvalidToolInput(f"order side must be buy or sell, not {o.side!r}")
    direction = 1.0 if o.side == "buy" else -1.0
    held = book.qty.get(o.symbol, 0.0)
    book.price[o.symbol] = o.price
    # Shrinking an existing position lowers gross exposure and is allowed even when trading is
    # halted, up to the position's size (no reversal in one order). It can still raise net
    # exposure (selling the long hedge of a short book), so the net limit caps it.
    if held * direction < 0:
        wanted = abs(held) if o.quantity is None else min(o.quantity, abs(held))
        net_room = (lim.max_net_exposure_pct * equity - direction * book.net()) / o.price
        closing = min(wanted, _floor(net_room, whole)) if net_room < wanted else wanted
        closing = max(0.0, closing)
        book.qty[o.symbol] = held + direction * closing
        binding = (
            "max_net_exposure_pct"
            if closing < wanted
            else "no_reversal"
            if o.quantity is not None and o.quantity > abs(held)
            else ""
        )
        return OrderDecision(
            symbol=o.symbol,
            side=o.side,
            requested=o.quantity,
            approved_quantity=closing,
            status="reduced" if binding else "approved",
            stop_loss=None,
            risk_amount=0.0,
            binding_limit=binding,
            reason={
                "": "reduces the existing position",
                "no_reversal": "closes the position; reversing in one order is not allowed",
                "max_net_exposure_pct": "closing more would push net exposure over its limit",
            }[binding],
        )
    if halted:
        return OrderDecision(
            symbol=o.symbol,
            side=o.side,
            requested=o.quantity,
            approved_quantity=0.0,
            status="rejected",
            stop_loss=None,
            risk_amount=0.0,
            binding_limit="max_daily_loss_pct",
            reason="daily loss limit reached: only risk-reducing orders until tomorrow",
        )
    stop = o.stop_loss
    if stop is None:
        stop = o.price * (1 - direction * lim.default_stop_pct)
    per_unit = (o.price - stop) * direction
    if per_unit <= 0:
        raise InvalidToolInput(
            f"{o.symbol}: a {o.side} order needs its stop {'below' if direction > 0 else 'above'} "
            f"the price ({stop:g} vs {o.price:g})"
        )
    caps = {
        "max_risk_per_trade_pct": lim.max_risk_per_trade_pct * equity / per_unit,
        "max_position_pct": lim.max_position_pct * equity / o.price - abs(held),
        "max_gross_exposure_pct": (lim.max_gross_exposure_pct * equity - book.gross()) / o.price,
        "max_net_exposure_pct": (lim.max_net_exposure_pct * equity - direction * book.net())
        / o.price,
    }
    if abs(held) <= _EPS and book.open_count() >= lim.max_open_positions:
        caps["max_open_positions"] = 0.0
    binding = min(caps, key=lambda k: caps[k])
    allowed = _floor(caps[binding], whole)
    requested = o.quantity
    qty = allowed if requested is None else min(_floor(requested, whole), allowed)
    if qty <= 0:
        return OrderDecision(
            symbol=o.symbol,
            side=o.side,
            requested=requested,
            approved_quantity=0.0,
            status="rejected",
            stop_loss=stop,
            risk_amount=0.0,
            binding_limit=binding,
            reason=f"no room under {binding}",
        )
    book.qty[o.symbol] = held + direction * qty
    book.stop[o.symbol] = stop
    status = "approved" if requested is None or qty >= _floor(requested, whole) else "reduced"
    return OrderDecision(
        symbol=o.symbol,
        side=o.side,
        requested=requested,
        approved_quantity=qty,
        status=status,
        stop_loss=round(stop, 6),
        risk_amount=qty * per_unit,
        binding_limit=binding if status == "reduced" or requested is None else "",
        reason=f"sized to the tightest limit ({binding})"
        if requested is None
        else ("cut to fit " + binding if status == "reduced" else "within limits"),
    )


def _sample(inp: RiskCheckInput) -> list[Order]:
    rnd = rng(inp, "risk_check")
    orders = []
    for sym in rnd.sample(["AAPL", "MSFT", "NVDA", "AMZN", "SPY", "QQQ", "TLT", "GLD"], k=4):
        price = round(rnd.uniform(20, 600), 2)
        qty = None if rnd.random() < 0.5 else float(rnd.randint(10, 2000))
        orders.append(
            Order(
                symbol=sym,
                side="buy",
                quantity=qty,
                price=price,
                stop_loss=round(price * rnd.uniform(0.9, 0.98), 2),
            )
        )
    return orders


@tool(
    "risk_check",
    "Size and vet paper orders against position, exposure, per-trade risk and daily-loss limits",
)
def risk_check(inp: RiskCheckInput) -> RiskCheckOutput:
    lim = inp.limits
    orders = list(inp.orders) or ([] if inp.positions else _sample(inp))
    book = _Book(inp.positions)
    # An order's price is the latest mark for its symbol: revalue before any limit is checked,
    # so the forced reductions below see the same prices the orders are sized at.
    for o in orders:
        book.price[o.symbol] = o.price
    halted = inp.pnl_today <= -lim.max_daily_loss_pct * inp.equity
    decisions = _forced_reductions(book, inp.equity, lim, inp.whole_units)
    decisions += [check_order(book, o, inp.equity, lim, halted, inp.whole_units) for o in orders]
    gross = book.gross() / inp.equity
    net = book.net() / inp.equity
    open_risk = (
        sum(
            max(0.0, (book.price[s] - (book.stop.get(s) or 0.0)) * q)
            if q > 0
            else max(0.0, ((book.stop.get(s) or book.price[s] * 2) - book.price[s]) * -q)
            for s, q in book.qty.items()
            if abs(q) > _EPS
        )
        / inp.equity
    )
    # Belt and braces: the maths above must keep the invariant; if not, fail loudly rather
    # than hand back a book that breaks a limit.
    over = [s for s in book.qty if abs(book.value(s)) > lim.max_position_pct * inp.equity + 1e-6]
    if (
        gross > lim.max_gross_exposure_pct + 1e-6
        or abs(net) > lim.max_net_exposure_pct + 1e-6
        or over
    ):
        raise RiskInvariantError(
            f"internal error: limits broken after sizing (gross {gross:.4f}, "
            f"net {net:.4f}, over {over})"
        )
    after = [
        Position(symbol=s, quantity=q, price=book.price[s], stop_loss=book.stop.get(s))
        for s, q in sorted(book.qty.items())
        if abs(q) > _EPS
    ]
    counts = {
        k: sum(1 for d in decisions if d.status == k)
        for k in ("approved", "reduced", "rejected", "forced")
    }
    recs = ["Paper trading only: these decisions place no orders."]
    if halted:
        recs.append(
            f"Daily loss {inp.pnl_today:,.0f} hit the {lim.max_daily_loss_pct:.0%} "
            "limit: new risk is blocked until tomorrow."
        )
    for d in decisions:
        if d.status in ("reduced", "rejected", "forced"):
            recs.append(f"{d.symbol} {d.side}: {d.status} ({d.reason}).")
    return RiskCheckOutput(
        headline=(
            f"{counts['approved']} approved, {counts['reduced']} reduced, "
            f"{counts['rejected']} rejected, {counts['forced']} forced; "
            f"gross exposure {gross:.0%}, net {net:+.0%}, open risk {open_risk:.2%} of equity."
        ),
        metrics={
            **{k: float(v) for k, v in counts.items()},
            "gross_exposure_pct": gross,
            "net_exposure_pct": net,
            "open_risk_pct": open_risk,
            "trading_halted": float(halted),
        },
        recommendations=recs[:8],
        decisions=decisions,
        positions_after=after,
        gross_exposure_pct=gross,
        net_exposure_pct=net,
        open_risk_pct=open_risk,
        trading_halted=halted,
    )
