"""Financial analytics: `npv_irr`, `financial_projection` (5-year) and `variance_analysis`.

Conventions: cash flows are end-of-period with t=0 first; rates are decimals (0.1 = 10%).
"""

from __future__ import annotations

import csv
import io
import itertools
import math

from pydantic import BaseModel, Field, model_validator

from activities.tools.artifacts import ArtifactWriter
from activities.tools.errors import InvalidToolInput
from activities.tools.registry import ToolInput, ToolOutput, tool
from activities.tools.sampling import rng
from activities.tools.tabular import read_table, require_columns

# --------------------------------------------------------------------------- npv_irr


def npv(rate: float, cash_flows: list[float]) -> float:
    if rate <= -1:
        raise InvalidToolInput("discount rate must be greater than -100%")
    return sum(cf / (1 + rate) ** t for t, cf in enumerate(cash_flows))


def _npv_sign(rate: float, flows: list[float]) -> float:
    """NPV at `rate` times a positive factor: same sign, same roots, and no overflow at the
    extremes. With x = 1/(1+rate), NPV = sum(cf_t x^t); for x <= 1 that sum is evaluated by
    Horner's rule, for x > 1 the sum times x^-n (powers of 1+rate < 1)."""
    y = 1 + rate
    acc = 0.0
    if y >= 1:
        x = 1 / y
        for cf in reversed(flows):
            acc = acc * x + cf
    else:
        for cf in flows:
            acc = acc * y + cf
    return acc


def irr_bounds(cash_flows: list[float]) -> tuple[float, float] | None:
    """Rates between which every IRR lies, from Cauchy's bounds on the roots of the NPV
    polynomial in x = 1/(1+r): with c0 / cn the first / last non-zero flows,
    c0 / (|c0| + max|c1..cn|) <= |x| <= 1 + max|c0..cn-1| / |cn|, so
    1/(1 + max|c0..cn-1|/|cn|) - 1 <= IRR <= max|c1..cn| / |c0|. None for fewer than two
    non-zero flows."""
    nonzero = [i for i, cf in enumerate(cash_flows) if cf]
    if len(nonzero) < 2:
        return None
    flows = cash_flows[nonzero[0] : nonzero[-1] + 1]
    c0, cn = abs(flows[0]), abs(flows[-1])
    return 1 / (1 + max(map(abs, flows[:-1])) / cn) - 1, max(map(abs, flows[1:])) / c0


def irr(cash_flows: list[float], low: float = -0.9999, high: float = 10.0) -> float | None:
    """The rate where NPV = 0, by bisection on the first sign change of NPV over a grid.
    Bisection rather than Newton: it cannot diverge, and it runs to the float's precision.
    The grid covers `low`..`high` (-99.99% to 1,000%) first, so a root there is preferred when
    there are several; then it widens out to `irr_bounds`, beyond which no root can lie (an
    IRR of 4,900% is found). None when NPV never changes sign (all-positive or all-negative
    flows, or flows whose NPV only touches zero)."""
    if not any(cf < 0 for cf in cash_flows) or not any(cf > 0 for cf in cash_flows):
        return None
    nonzero = [i for i, cf in enumerate(cash_flows) if cf]
    flows = cash_flows[nonzero[0] : nonzero[-1] + 1]  # zeros at either end move no root
    bounds = irr_bounds(flows)
    assert bounds is not None  # flows has a negative and a positive value
    floor, ceiling = (1 + bounds[0]) / 2 - 1, 2 * bounds[1] + 1  # a margin past each bound
    grids = [[low + (high - low) * (i / 400) ** 2 for i in range(401)]]
    if ceiling > high:  # upwards: steps of at most 1% in 1 + rate, at most 4,000 of them
        steps = min(4000, math.ceil(math.log((1 + ceiling) / (1 + high)) / math.log(1.01)))
        grow = ((1 + ceiling) / (1 + high)) ** (1 / steps)
        grids.append([(1 + high) * grow**i - 1 for i in range(steps + 1)])
    if floor < low:  # downwards, the same in 1 + rate
        steps = min(4000, math.ceil(math.log((1 + low) / (1 + floor)) / math.log(1.01)))
        shrink = ((1 + floor) / (1 + low)) ** (1 / steps)
        grids.append([(1 + low) * shrink**i - 1 for i in range(steps + 1)])
    for grid in grids:
        prev_r, prev_v = grid[0], _npv_sign(grid[0], flows)
        if prev_v == 0:
            return prev_r
        for r in grid[1:]:
            v = _npv_sign(r, flows)
            if v == 0:
                return r
            if (prev_v < 0) != (v < 0):
                return _bisect(flows, prev_r, prev_v, r)
            prev_r, prev_v = r, v
    return None


def _bisect(flows: list[float], a: float, fa: float, b: float) -> float:
    """The root between a and b (either order), where NPV changes sign."""
    for _ in range(200):
        mid = (a + b) / 2
        if mid in (a, b):  # a and b are adjacent floats
            break
        fm = _npv_sign(mid, flows)
        if fm == 0:
            return mid
        if (fa < 0) == (fm < 0):
            a, fa = mid, fm
        else:
            b = mid
    return (a + b) / 2


def payback(cash_flows: list[float], rate: float = 0.0) -> float | None:
    """Periods until cumulative (discounted when rate > 0) cash flow turns non-negative,
    interpolated within the period; None if it never does."""
    cumulative = 0.0
    for t, cf in enumerate(cash_flows):
        value = cf / (1 + rate) ** t
        if cumulative < 0 <= cumulative + value and t > 0:
            return t - 1 + (-cumulative / value)
        cumulative += value
    return 0.0 if cash_flows and cash_flows[0] >= 0 else None


def mirr(cash_flows: list[float], finance_rate: float, reinvest_rate: float) -> float | None:
    n = len(cash_flows) - 1
    if n < 1:
        return None
    pv_neg = sum(cf / (1 + finance_rate) ** t for t, cf in enumerate(cash_flows) if cf < 0)
    fv_pos = sum(cf * (1 + reinvest_rate) ** (n - t) for t, cf in enumerate(cash_flows) if cf > 0)
    if pv_neg == 0 or fv_pos == 0:
        return None
    return (fv_pos / -pv_neg) ** (1 / n) - 1


class NpvIrrInput(ToolInput):
    cash_flows: list[float] = Field(default_factory=list, description="t=0 first, usually negative")
    discount_rate: float = Field(default=0.10, gt=-1)
    reinvest_rate: float | None = Field(
        default=None, description="for MIRR; defaults to discount_rate"
    )
    project: str = ""


class NpvIrrOutput(ToolOutput):
    cash_flows: list[float] = Field(default_factory=list)
    npv: float = 0.0
    irr: float | None = None
    mirr: float | None = None
    payback_periods: float | None = None
    discounted_payback_periods: float | None = None
    profitability_index: float | None = None
    decision: str = ""


@tool("npv_irr", "NPV, IRR, MIRR, payback and profitability index of a cash-flow series")
def npv_irr(inp: NpvIrrInput) -> NpvIrrOutput:
    flows = list(inp.cash_flows)
    if not flows:
        rnd = rng(inp, "npv_irr")
        invest = round(rnd.uniform(50_000, 500_000), -3)
        flows = [-invest] + [round(invest * rnd.uniform(0.15, 0.4), -2) for _ in range(5)]
    if len(flows) < 2:
        raise InvalidToolInput("give at least two cash flows (an investment and a return)")
    r = inp.discount_rate
    value = npv(r, flows)
    rate = irr(flows)
    m = mirr(flows, r, inp.reinvest_rate if inp.reinvest_rate is not None else r)
    pv_in = sum(cf / (1 + r) ** t for t, cf in enumerate(flows) if t > 0)
    pi = pv_in / -flows[0] if flows[0] < 0 else None
    decision = "accept" if value > 0 else "reject" if value < 0 else "indifferent"
    sign_changes = sum(1 for a, b in itertools.pairwise(flows) if (a < 0) != (b < 0) and a and b)
    recs = [
        f"{decision.title()}: NPV at {r:.1%} is {value:,.2f}"
        + (
            f" and IRR {rate:.2%} {'exceeds' if rate > r else 'is below'} the hurdle."
            if rate is not None
            else "."
        )
    ]
    if sign_changes > 1:
        recs.append(
            "Cash flows change sign more than once: IRR may not be unique; rely on NPV/MIRR."
        )
    pb = payback(flows)
    metrics: dict[str, float] = {"npv": round(value, 6), "discount_rate": r}
    for key, v in (
        ("irr", rate),
        ("mirr", m),
        ("payback_periods", pb),
        ("profitability_index", pi),
    ):
        if v is not None:
            metrics[key] = round(v, 8)
    return NpvIrrOutput(
        headline=(
            f"NPV {value:,.2f} at {r:.1%}"
            + (f", IRR {rate:.2%}" if rate is not None else ", no IRR")
            + (f", payback {pb:.2f} periods" if pb is not None else ", never pays back")
            + f": {decision}."
        ),
        metrics=metrics,
        recommendations=recs,
        cash_flows=flows,
        npv=value,
        irr=rate,
        mirr=m,
        payback_periods=pb,
        discounted_payback_periods=payback(flows, r),
        profitability_index=pi,
        decision=decision,
    )


# --------------------------------------------------------------------------- financial_projection


class ProjectionYear(BaseModel):
    year: int
    revenue: float
    cogs: float
    gross_profit: float
    opex: float
    ebitda: float
    depreciation: float
    ebit: float
    tax: float
    net_income: float
    capex: float
    change_in_working_capital: float
    free_cash_flow: float


class FinancialProjectionInput(ToolInput):
    base_revenue: float | None = Field(default=None, ge=0, description="last full year's revenue")
    growth_rates: list[float] = Field(
        default_factory=list, description="one per year; last repeats"
    )
    growth_rate: float | None = Field(default=None, description="single rate for every year")
    years: int = Field(default=5, ge=1, le=30)
    gross_margin: float = Field(default=0.65, ge=-1, le=1)
    opex_pct: float = Field(
        default=0.40, ge=0, description="operating expenses as share of revenue"
    )
    fixed_opex: float = Field(default=0.0, ge=0, description="per year, on top of opex_pct")
    depreciation_pct: float = Field(default=0.03, ge=0)
    capex_pct: float = Field(default=0.04, ge=0)
    working_capital_pct: float = Field(default=0.10, description="of the revenue increase")
    tax_rate: float = Field(default=0.25, ge=0, le=1)
    discount_rate: float = Field(default=0.12, gt=-1)
    first_year: int = Field(default=1, description="label of the first projected year")


class FinancialProjectionOutput(ToolOutput):
    years: list[ProjectionYear] = Field(default_factory=list)
    revenue_cagr: float = 0.0
    npv_free_cash_flow: float = 0.0
    table_path: str = ""


def project(inp: FinancialProjectionInput, base: float, rates: list[float]) -> list[ProjectionYear]:
    rows = []
    prev = base
    for i in range(inp.years):
        g = rates[min(i, len(rates) - 1)]
        revenue = prev * (1 + g)
        cogs = revenue * (1 - inp.gross_margin)
        gross = revenue - cogs
        opex = revenue * inp.opex_pct + inp.fixed_opex
        ebitda = gross - opex
        dep = revenue * inp.depreciation_pct
        ebit = ebitda - dep
        tax = max(0.0, ebit) * inp.tax_rate  # no tax credit modelled for loss years
        net = ebit - tax
        capex = revenue * inp.capex_pct
        dwc = (revenue - prev) * inp.working_capital_pct
        fcf = net + dep - capex - dwc
        rows.append(
            ProjectionYear(
                year=inp.first_year + i,
                revenue=revenue,
                cogs=cogs,
                gross_profit=gross,
                opex=opex,
                ebitda=ebitda,
                depreciation=dep,
                ebit=ebit,
                tax=tax,
                net_income=net,
                capex=capex,
                change_in_working_capital=dwc,
                free_cash_flow=fcf,
            )
        )
        prev = revenue
    return rows


@tool("financial_projection", "Multi-year (default 5) P&L and free-cash-flow projection")
def financial_projection(inp: FinancialProjectionInput) -> FinancialProjectionOutput:
    rnd = rng(inp, "financial_projection")
    base = inp.base_revenue if inp.base_revenue is not None else round(rnd.uniform(0.5e6, 20e6), -3)
    if inp.growth_rates:
        rates = list(inp.growth_rates)
    elif inp.growth_rate is not None:
        rates = [inp.growth_rate]
    else:
        start = rnd.uniform(0.15, 0.45)
        rates = [round(start * 0.8**i, 4) for i in range(inp.years)]  # growth decays as scale rises
    if any(g <= -1 for g in rates):
        raise InvalidToolInput(
            "a growth rate of -100% or less wipes out revenue; check growth_rates"
        )
    rows = project(inp, base, rates)
    final = rows[-1].revenue
    cagr = (final / base) ** (1 / inp.years) - 1 if base > 0 else 0.0
    npv_fcf = sum(r.free_cash_flow / (1 + inp.discount_rate) ** (i + 1) for i, r in enumerate(rows))
    writer = ArtifactWriter(inp, "financial_projection")
    buf = io.StringIO()
    fields = list(ProjectionYear.model_fields)
    w = csv.DictWriter(buf, fieldnames=fields)
    w.writeheader()
    for r in rows:
        w.writerow(
            {k: round(v, 2) if isinstance(v, float) else v for k, v in r.model_dump().items()}
        )
    table_path = writer.text("projection", "csv", buf.getvalue())
    first_profit = next((r.year for r in rows if r.net_income > 0), None)
    recs = []
    if rows[-1].ebitda / rows[-1].revenue < 0.1:
        recs.append("EBITDA margin stays under 10%: revisit opex or gross margin assumptions.")
    if any(r.free_cash_flow < 0 for r in rows):
        neg = [str(r.year) for r in rows if r.free_cash_flow < 0]
        recs.append(f"Free cash flow is negative in year(s) {', '.join(neg)}: plan financing.")
    recs.append(
        f"Stress-test growth: the plan assumes {rates[0]:.0%} falling "
        f"to {rates[min(len(rates), inp.years) - 1]:.0%}."
    )
    return FinancialProjectionOutput(
        headline=(
            f"{inp.years}-year projection: revenue {base:,.0f} -> {final:,.0f} (CAGR {cagr:.1%}), "
            f"year-{inp.years} net income {rows[-1].net_income:,.0f}, NPV of FCF {npv_fcf:,.0f}."
        ),
        metrics={
            "base_revenue": base,
            "final_revenue": final,
            "revenue_cagr": cagr,
            "final_net_income": rows[-1].net_income,
            "final_ebitda_margin": rows[-1].ebitda / rows[-1].revenue if rows[-1].revenue else 0.0,
            "cumulative_fcf": sum(r.free_cash_flow for r in rows),
            "npv_fcf": npv_fcf,
            **({"first_profitable_year": float(first_profit)} if first_profit is not None else {}),
        },
        recommendations=recs,
        artifacts=writer.written,
        years=rows,
        revenue_cagr=cagr,
        npv_free_cash_flow=npv_fcf,
        table_path=table_path,
    )


# --------------------------------------------------------------------------- variance_analysis


class VarianceLine(BaseModel):
    name: str
    budget: float
    actual: float
    kind: str = Field(default="cost", description="revenue | cost (decides what is favourable)")
    budget_units: float | None = None
    actual_units: float | None = None

    @model_validator(mode="after")
    def _kind(self) -> VarianceLine:
        if self.kind not in ("revenue", "cost"):
            raise ValueError(f"kind must be revenue or cost, not {self.kind!r}")
        return self


class VarianceResult(BaseModel):
    name: str
    kind: str
    budget: float
    actual: float
    variance: float
    variance_pct: float | None
    favourable: bool
    material: bool
    price_variance: float | None = None
    volume_variance: float | None = None


class VarianceAnalysisInput(ToolInput):
    lines: list[VarianceLine] = Field(default_factory=list)
    lines_path: str | None = Field(
        default=None,
        description="CSV/Parquet: name, budget, actual[, kind, budget_units, actual_units]",
    )
    materiality_pct: float = Field(default=0.05, ge=0)
    materiality_abs: float = Field(default=0.0, ge=0)


class VarianceAnalysisOutput(ToolOutput):
    lines: list[VarianceResult] = Field(default_factory=list)
    net_profit_variance: float = 0.0
    report_path: str = ""


def analyse_line(line: VarianceLine, pct_limit: float, abs_limit: float) -> VarianceResult:
    var = line.actual - line.budget
    pct = var / abs(line.budget) if line.budget else None
    favourable = var >= 0 if line.kind == "revenue" else var <= 0
    material = abs(var) >= abs_limit and (pct is None or abs(pct) >= pct_limit) and var != 0
    price = volume = None
    if line.budget_units and line.actual_units:
        bp = line.budget / line.budget_units
        ap = line.actual / line.actual_units
        volume = (line.actual_units - line.budget_units) * bp
        price = (ap - bp) * line.actual_units  # price + volume == total variance
    return VarianceResult(
        name=line.name,
        kind=line.kind,
        budget=line.budget,
        actual=line.actual,
        variance=var,
        variance_pct=pct,
        favourable=favourable,
        material=material,
        price_variance=price,
        volume_variance=volume,
    )


def _sample_lines(inp: VarianceAnalysisInput) -> list[VarianceLine]:
    rnd = rng(inp, "variance")
    out = []
    for name, kind, base in (
        ("Product revenue", "revenue", 1_200_000),
        ("Services revenue", "revenue", 300_000),
        ("Cost of goods sold", "cost", 420_000),
        ("Salaries", "cost", 380_000),
        ("Marketing", "cost", 150_000),
        ("Cloud hosting", "cost", 90_000),
        ("Travel", "cost", 30_000),
    ):
        units = rnd.randint(800, 1200) if name == "Product revenue" else None
        actual = round(base * rnd.uniform(0.85, 1.15), -2)
        out.append(
            VarianceLine(
                name=name,
                kind=kind,
                budget=base,
                actual=actual,
                budget_units=1000 if units else None,
                actual_units=units,
            )
        )
    return out


@tool(
    "variance_analysis", "Budget vs actual variances, favourable/unfavourable, price/volume split"
)
def variance_analysis(inp: VarianceAnalysisInput) -> VarianceAnalysisOutput:
    lines = list(inp.lines)
    if inp.lines_path:
        df = read_table(inp.lines_path)
        require_columns(df, ["name", "budget", "actual"], f"variance file {inp.lines_path}")
        for rec in df.to_dict("records"):
            clean = {
                k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in rec.items()
            }
            clean.setdefault("kind", "cost")
            clean["kind"] = clean["kind"] or "cost"
            lines.append(VarianceLine.model_validate(clean))
    source = "given lines"
    if not lines:
        lines, source = _sample_lines(inp), "sample budget"
    results = [analyse_line(x, inp.materiality_pct, inp.materiality_abs) for x in lines]
    rev = sum(r.variance for r in results if r.kind == "revenue")
    cost = sum(r.variance for r in results if r.kind == "cost")
    net = rev - cost
    material = sorted((r for r in results if r.material), key=lambda r: -abs(r.variance))
    writer = ArtifactWriter(inp, "variance_analysis")
    report = writer.json("variance", [r.model_dump() for r in results])
    recs = [
        f"{'Favourable' if r.favourable else 'Unfavourable'} {r.name}: {r.variance:+,.0f}"
        + (f" ({r.variance_pct:+.1%})" if r.variance_pct is not None else "")
        + (
            f"; price {r.price_variance:+,.0f}, volume {r.volume_variance:+,.0f}"
            if r.price_variance is not None and r.volume_variance is not None
            else ""
        )
        + "."
        for r in material[:5]
    ]
    return VarianceAnalysisOutput(
        headline=(
            f"Net profit variance {net:+,.0f} across {len(results)} lines ({source}): revenue "
            f"{rev:+,.0f}, costs {cost:+,.0f}; {len(material)} material variances."
        ),
        metrics={
            "lines": float(len(results)),
            "net_profit_variance": net,
            "revenue_variance": rev,
            "cost_variance": cost,
            "material_variances": float(len(material)),
            "unfavourable_material": float(sum(1 for r in material if not r.favourable)),
        },
        recommendations=recs or ["No material variances: keep the current forecast."],
        artifacts=writer.written,
        lines=results,
        net_profit_variance=net,
        report_path=report,
    )
