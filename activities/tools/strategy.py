"""Strategic planning frameworks: `swot_analysis`, `porter_five_forces`, `okr_generator`,
`scenario_planning`.

Each framework is turned into explicit, documented rules over numbers the caller gives (or
deterministic sample numbers), so two runs on the same facts agree and a reviewer can see
why an item landed where it did.
"""

from __future__ import annotations

import math
import re
from datetime import date

from pydantic import AliasChoices, BaseModel, Field

from activities.tools.artifacts import ArtifactWriter
from activities.tools.errors import InvalidToolInput
from activities.tools.registry import ToolInput, ToolOutput, tool
from activities.tools.sampling import np_rng, rng

# --------------------------------------------------------------------------- swot_analysis

# indicator -> (benchmark, higher_is_better, internal?, label). Internal indicators become
# strengths/weaknesses, external ones opportunities/threats.
INDICATORS: dict[str, tuple[float, bool, bool, str]] = {
    "revenue_growth": (0.15, True, True, "revenue growth"),
    "gross_margin": (0.60, True, True, "gross margin"),
    "market_share": (0.10, True, True, "market share"),
    "nps": (30.0, True, True, "net promoter score"),
    "churn_rate": (0.03, False, True, "monthly churn"),
    "cash_runway_months": (18.0, True, True, "cash runway (months)"),
    "customer_concentration": (0.30, False, True, "revenue share of top 5 customers"),
    "market_growth": (0.08, True, False, "market growth"),
    "competitor_count": (10.0, False, False, "number of direct competitors"),
    "regulatory_risk": (0.5, False, False, "regulatory risk (0-1)"),
    "substitute_threat": (0.5, False, False, "threat of substitutes (0-1)"),
    "new_segment_demand": (0.5, True, False, "demand from adjacent segments (0-1)"),
}


class SwotItem(BaseModel):
    text: str
    impact: float = Field(description="1-5; distance from benchmark for indicator-derived items")
    source: str = Field(description="'given' or the indicator it came from")


class SwotInput(ToolInput):
    company: str = ""
    industry: str = ""
    strengths: list[str] = Field(default_factory=list)
    weaknesses: list[str] = Field(default_factory=list)
    opportunities: list[str] = Field(default_factory=list)
    threats: list[str] = Field(default_factory=list)
    indicators: dict[str, float] = Field(
        default_factory=dict, description=f"any of: {', '.join(INDICATORS)}"
    )


class SwotOutput(ToolOutput):
    strengths: list[SwotItem] = Field(default_factory=list)
    weaknesses: list[SwotItem] = Field(default_factory=list)
    opportunities: list[SwotItem] = Field(default_factory=list)
    threats: list[SwotItem] = Field(default_factory=list)
    tows: dict[str, list[str]] = Field(
        default_factory=dict, description="SO, WO, ST, WT strategies"
    )
    internal_score: float = 0.0
    external_score: float = 0.0
    posture: str = ""
    report_path: str = ""


_SCORES = ("regulatory_risk", "substitute_threat", "new_segment_demand")
_COUNTS = ("nps", "cash_runway_months", "competitor_count")


def _shown(name: str, value: float) -> str:
    if name in _COUNTS:
        return f"{value:g}"
    if name in _SCORES:
        return f"{value:.2f}"
    return f"{value:.1%}".replace(".0%", "%")


def classify_indicator(name: str, value: float) -> tuple[str, SwotItem] | None:
    if name not in INDICATORS:
        return None
    bench, higher_better, internal, label = INDICATORS[name]
    rel = (value - bench) / abs(bench) if bench else value
    good = rel >= 0 if higher_better else rel <= 0
    if abs(rel) < 0.05:
        return None  # at benchmark: neither here nor there
    quadrant = (
        ("strengths" if good else "weaknesses")
        if internal
        else ("opportunities" if good else "threats")
    )
    impact = round(min(5.0, 1.0 + 4.0 * min(abs(rel), 1.0)), 2)
    word = "above" if value > bench else "below"
    return quadrant, SwotItem(
        text=(
            f"{label.capitalize()} {_shown(name, value)} is {word} the {_shown(name, bench)} "
            "benchmark"
        ),
        impact=impact,
        source=name,
    )


def _sample_indicators(inp: SwotInput) -> dict[str, float]:
    rnd = rng(inp, "swot")
    out = {}
    for name, (bench, _hb, _int, _label) in INDICATORS.items():
        value = bench * rnd.uniform(0.3, 1.9)
        # shares and 0-1 scores cannot pass 1
        out[name] = round(
            value if name in _COUNTS or name == "revenue_growth" else min(value, 0.95), 3
        )
    return out


@tool("swot_analysis", "SWOT from indicators vs benchmarks plus given items, with TOWS strategies")
def swot_analysis(inp: SwotInput) -> SwotOutput:
    unknown = sorted(set(inp.indicators) - set(INDICATORS))
    if unknown:
        raise InvalidToolInput(
            f"unknown indicator(s) {', '.join(unknown)}; known: {', '.join(INDICATORS)}"
        )
    given_any = any((inp.strengths, inp.weaknesses, inp.opportunities, inp.threats, inp.indicators))
    indicators = inp.indicators if given_any else _sample_indicators(inp)
    quads: dict[str, list[SwotItem]] = {
        "strengths": [],
        "weaknesses": [],
        "opportunities": [],
        "threats": [],
    }
    for q in quads:
        quads[q] += [SwotItem(text=t, impact=3.0, source="given") for t in getattr(inp, q)]
    for name, value in indicators.items():
        placed = classify_indicator(name, value)
        if placed:
            quads[placed[0]].append(placed[1])
    for q in quads:
        quads[q].sort(key=lambda i: -i.impact)
    total = {q: sum(i.impact for i in items) for q, items in quads.items()}
    internal = total["strengths"] - total["weaknesses"]
    external = total["opportunities"] - total["threats"]
    posture = (
        "aggressive (use strengths to seize opportunities)"
        if internal >= 0 and external >= 0
        else "competitive (use strengths to counter threats)"
        if internal >= 0
        else "conservative (fix weaknesses to reach opportunities)"
        if external >= 0
        else "defensive (cut exposure where weaknesses meet threats)"
    )

    def top(q: str) -> str:
        return quads[q][0].text.lower() if quads[q] else ""

    tows: dict[str, list[str]] = {"SO": [], "WO": [], "ST": [], "WT": []}
    for s in quads["strengths"][:2]:
        for o in quads["opportunities"][:2]:
            tows["SO"].append(f"Use '{s.text}' to capture '{o.text}'.")
        for t in quads["threats"][:1]:
            tows["ST"].append(f"Lean on '{s.text}' against '{t.text}'.")
    for w in quads["weaknesses"][:2]:
        for o in quads["opportunities"][:1]:
            tows["WO"].append(f"Fix '{w.text}' so it does not block '{o.text}'.")
        for t in quads["threats"][:1]:
            tows["WT"].append(f"Limit exposure where '{w.text}' meets '{t.text}'.")
    writer = ArtifactWriter(inp, "swot_analysis")
    report = writer.json(
        "swot", {**{q: [i.model_dump() for i in v] for q, v in quads.items()}, "tows": tows}
    )
    lead = {"aggressive": "SO", "competitive": "ST", "conservative": "WO", "defensive": "WT"}[
        posture.split()[0]
    ]
    recs = tows[lead][:3] or [f"Gather data on {', '.join(q for q, v in quads.items() if not v)}."]
    who = inp.company or "The business"
    return SwotOutput(
        headline=(
            f"{who}: {len(quads['strengths'])} strengths, {len(quads['weaknesses'])} weaknesses, "
            f"{len(quads['opportunities'])} opportunities, {len(quads['threats'])} threats; "
            f"internal {internal:+.1f}, external {external:+.1f} -> {posture.split()[0]} posture."
        ),
        metrics={
            "strengths": float(len(quads["strengths"])),
            "weaknesses": float(len(quads["weaknesses"])),
            "opportunities": float(len(quads["opportunities"])),
            "threats": float(len(quads["threats"])),
            "internal_score": round(internal, 2),
            "external_score": round(external, 2),
        },
        recommendations=recs,
        artifacts=writer.written,
        tows=tows,
        internal_score=round(internal, 2),
        external_score=round(external, 2),
        posture=posture,
        report_path=report,
        **quads,
    )


# --------------------------------------------------------------------------- porter_five_forces

FORCES = ("rivalry", "new_entrants", "buyer_power", "supplier_power", "substitutes")


def hhi(shares: list[float]) -> float:
    """Herfindahl-Hirschman index on percent shares (0-10,000); fractions are scaled up."""
    pct = [s * 100 if sum(shares) <= 1.0001 else s for s in shares]
    return sum(p * p for p in pct)


class PorterInput(ToolInput):
    industry: str = ""
    market_shares: list[float] = Field(
        default_factory=list, description="competitors' shares (fractions or %)"
    )
    industry_growth: float | None = Field(default=None, description="annual, decimal")
    differentiation: float | None = Field(default=None, ge=0, le=1)
    entry_barriers: float | None = Field(
        default=None, ge=0, le=1, description="capital, regulation, scale"
    )
    switching_costs: float | None = Field(default=None, ge=0, le=1)
    brand_loyalty: float | None = Field(default=None, ge=0, le=1)
    buyer_concentration: float | None = Field(
        default=None, ge=0, le=1, description="revenue share of top 5 buyers"
    )
    price_sensitivity: float | None = Field(default=None, ge=0, le=1)
    supplier_concentration: float | None = Field(default=None, ge=0, le=1)
    input_uniqueness: float | None = Field(default=None, ge=0, le=1)
    substitute_availability: float | None = Field(default=None, ge=0, le=1)
    substitute_price_performance: float | None = Field(default=None, ge=0, le=1)
    scores: dict[str, float] = Field(default_factory=dict, description="override: force -> 1..5")


class ForceResult(BaseModel):
    force: str
    intensity: float = Field(description="1 (weak) .. 5 (strong)")
    drivers: dict[str, float]
    level: str


class PorterOutput(ToolOutput):
    forces: list[ForceResult] = Field(default_factory=list)
    hhi: float | None = None
    attractiveness: float = Field(default=0.0, description="1 (unattractive) .. 5 (attractive)")
    report_path: str = ""


@tool("porter_five_forces", "Porter's five forces intensities and industry attractiveness")
def porter_five_forces(inp: PorterInput) -> PorterOutput:
    bad = sorted(set(inp.scores) - set(FORCES))
    if bad or any(not 1 <= v <= 5 for v in inp.scores.values()):
        raise InvalidToolInput(
            f"scores take forces {', '.join(FORCES)} with values 1..5 (got {inp.scores})"
        )
    rnd = rng(inp, "porter")

    def val(x: float | None) -> float:
        return x if x is not None else round(rnd.uniform(0.2, 0.8), 2)

    shares = inp.market_shares or [
        round(rnd.uniform(0.05, 0.35), 2) for _ in range(rnd.randint(3, 8))
    ]
    concentration = hhi(shares)
    growth = (
        inp.industry_growth
        if inp.industry_growth is not None
        else round(rnd.uniform(-0.02, 0.25), 3)
    )
    # Each force's pressure is the mean of its drivers on 0..1 (1 = more pressure on profits),
    # mapped to 1..5. Fragmented markets (low HHI) and slow growth mean fiercer rivalry.
    drivers: dict[str, dict[str, float]] = {
        "rivalry": {
            "fragmentation": 1 - min(concentration / 5000, 1.0),
            "slow_growth": 1 - min(max(growth, 0.0) / 0.2, 1.0),
            "low_differentiation": 1 - val(inp.differentiation),
        },
        "new_entrants": {
            "low_barriers": 1 - val(inp.entry_barriers),
            "low_switching_costs": 1 - val(inp.switching_costs),
            "low_brand_loyalty": 1 - val(inp.brand_loyalty),
        },
        "buyer_power": {
            "buyer_concentration": val(inp.buyer_concentration),
            "price_sensitivity": val(inp.price_sensitivity),
            "low_switching_costs": 1 - val(inp.switching_costs),
        },
        "supplier_power": {
            "supplier_concentration": val(inp.supplier_concentration),
            "input_uniqueness": val(inp.input_uniqueness),
        },
        "substitutes": {
            "availability": val(inp.substitute_availability),
            "price_performance": val(inp.substitute_price_performance),
        },
    }
    results = []
    for force in FORCES:
        d = {k: round(v, 4) for k, v in drivers[force].items()}
        intensity = inp.scores.get(force, round(1 + 4 * sum(d.values()) / len(d), 2))
        level = "high" if intensity >= 3.67 else "medium" if intensity >= 2.33 else "low"
        results.append(ForceResult(force=force, intensity=intensity, drivers=d, level=level))
    attractiveness = round(6 - sum(r.intensity for r in results) / len(results), 2)
    strongest = max(results, key=lambda r: r.intensity)
    advice = {
        "rivalry": "differentiate on a niche and avoid price wars",
        "new_entrants": "raise switching costs (integrations, data lock-in, contracts)",
        "buyer_power": "diversify the customer base and sell on value, not price",
        "supplier_power": "qualify second-source suppliers and negotiate longer contracts",
        "substitutes": "improve price-performance against substitutes and bundle",
    }
    writer = ArtifactWriter(inp, "porter_five_forces")
    report = writer.json("five-forces", [r.model_dump() for r in results])
    return PorterOutput(
        headline=(
            f"{inp.industry or 'Industry'} attractiveness {attractiveness:.1f}/5; strongest force "
            f"{strongest.force.replace('_', ' ')} ({strongest.intensity:.1f}/5), "
            f"HHI {concentration:,.0f}."
        ),
        metrics={
            **{f"{r.force}_intensity": r.intensity for r in results},
            "attractiveness": attractiveness,
            "hhi": round(concentration, 2),
        },
        recommendations=[
            f"{r.force.replace('_', ' ').capitalize()} is {r.level}: {advice[r.force]}."
            for r in sorted(results, key=lambda r: -r.intensity)
            if r.level != "low"
        ][:3]
        or ["All forces are weak: an attractive industry; invest to grow share."],
        artifacts=writer.written,
        forces=results,
        hhi=concentration,
        attractiveness=attractiveness,
        report_path=report,
    )


# --------------------------------------------------------------------------- okr_generator

# metric -> (keywords, unit, higher_is_better, supporting key results)
METRICS: dict[str, tuple[tuple[str, ...], str, bool, tuple[str, ...]]] = {
    "revenue": (
        ("revenue", "sales", "bookings"),
        "$",
        True,
        ("Grow qualified pipeline to 3x the revenue target", "Raise win rate by 5 points"),
    ),
    "arr": (
        ("arr", "mrr", "recurring revenue"),
        "$",
        True,
        ("Raise net revenue retention to 110%", "Close 10 expansion deals"),
    ),
    "customers": (
        ("customers", "clients", "accounts", "users", "subscribers"),
        "#",
        True,
        ("Launch 2 acquisition campaigns", "Lift trial-to-paid conversion by 3 points"),
    ),
    "churn": (
        ("churn", "attrition", "cancellations"),
        "%",
        False,
        (
            "Get 90% of new accounts through onboarding in 14 days",
            "Answer support tickets within 4 hours",
        ),
    ),
    "nps": (
        ("nps", "satisfaction", "csat"),
        "pts",
        True,
        ("Close the loop on 100% of detractor responses", "Ship the top 3 requested fixes"),
    ),
    "conversion": (
        ("conversion", "signup rate"),
        "%",
        True,
        ("Run 6 landing-page A/B tests", "Cut signup form to 3 fields"),
    ),
    "traffic": (
        ("traffic", "visitors", "sessions", "organic"),
        "#",
        True,
        ("Publish 12 SEO articles", "Earn 20 referring domains"),
    ),
    "leads": (
        ("leads", "mqls", "sqls", "pipeline"),
        "#",
        True,
        ("Launch 3 lead magnets", "Respond to inbound leads within 1 hour"),
    ),
    "cost": (
        ("cost", "costs", "spend", "burn", "expenses"),
        "$",
        False,
        ("Renegotiate the 3 largest vendor contracts", "Remove unused SaaS licences"),
    ),
    "uptime": (
        ("uptime", "availability", "reliability"),
        "%",
        True,
        ("Add alerting to every tier-1 service", "Run 2 game-day failure drills"),
    ),
    "release_frequency": (
        ("deploys", "releases", "release", "shipping"),
        "#",
        True,
        ("Automate the release pipeline end to end", "Keep the main branch green 95% of days"),
    ),
    "retention": (
        ("retention", "returning"),
        "%",
        True,
        ("Launch a re-engagement email series", "Add a day-7 in-product milestone"),
    ),
}
_PCT = re.compile(r"(\d+(?:\.\d+)?)\s*%")
_MULT = re.compile(r"(\d+(?:\.\d+)?)\s*x\b", re.I)
_FROM_TO = re.compile(
    r"from\s+\$?(\d[\d,]*(?:\.\d+)?)\s*(%|k|m)?\s+to\s+\$?(\d[\d,]*(?:\.\d+)?)\s*(%|k|m)?", re.I
)
_TO = re.compile(r"\b(?:to|reach|hit|achieve|at least)\s+\$?(\d[\d,]*(?:\.\d+)?)\s*(%|k|m)?", re.I)
_DOWN = re.compile(r"\b(reduce|cut|lower|decrease|shrink|drop|minimi[sz]e)\b", re.I)


def _num(text: str, suffix: str | None) -> float:
    v = float(text.replace(",", ""))
    return v * {"k": 1e3, "m": 1e6}.get((suffix or "").lower(), 1.0)


def _fmt(v: float, unit: str) -> str:
    num = f"{v:,.0f}" if abs(v) >= 1000 else f"{v:,.2f}".rstrip("0").rstrip(".")
    return {"$": f"${num}", "%": f"{num}%", "pts": f"{num} pts"}.get(unit, num)


_RELATIVE_QUARTER = re.compile(
    r"^\s*(?:the\s+)?(last|previous|this|current|next)\s+quarter\s*$", re.I
)
_QUARTER_STEP = {"last": -1, "previous": -1, "this": 0, "current": 0, "next": 1}


def quarter_end(quarter: str, today: date | None = None) -> date:
    """`Q3 2026`, or relative to `today`: `the last quarter` (a template default),
    `this quarter`, `next quarter`."""
    relative = _RELATIVE_QUARTER.match(quarter)
    if relative:
        today = today or date.today()
        index = today.year * 4 + (today.month - 1) // 3 + _QUARTER_STEP[relative.group(1).lower()]
        quarter = f"Q{index % 4 + 1} {index // 4}"
    m = re.match(r"^\s*Q([1-4])\s+(\d{4})\s*$", quarter, re.I)
    if not m:
        raise InvalidToolInput(
            f"quarter must look like 'Q3 2026' (or 'the last quarter'), not {quarter!r}"
        )
    q, year = int(m.group(1)), int(m.group(2))
    month = q * 3
    next_month = date(year + (month == 12), 1 if month == 12 else month + 1, 1)
    return date.fromordinal(next_month.toordinal() - 1)


class KeyResult(BaseModel):
    description: str
    metric: str
    baseline: float | None
    target: float | None
    unit: str
    due: str


class Objective(BaseModel):
    goal: str
    objective: str
    metric: str
    key_results: list[KeyResult]


class OkrInput(ToolInput):
    goals: list[str] = Field(
        default_factory=list, validation_alias=AliasChoices("goals", "objectives", "goal")
    )
    quarter: str = Field(default="Q1 2026", description="'Q<n> <year>'")
    baselines: dict[str, float] = Field(
        default_factory=dict, description=f"metric -> current value; metrics: {', '.join(METRICS)}"
    )
    team: str = ""


class OkrOutput(ToolOutput):
    quarter: str = ""
    objectives: list[Objective] = Field(default_factory=list)
    unmatched_goals: list[str] = Field(default_factory=list)
    okr_path: str = ""


def detect_metric(goal: str) -> str | None:
    low = goal.lower()
    best, best_pos = None, len(low) + 1
    for metric, (keywords, *_rest) in METRICS.items():
        for k in keywords:
            m = re.search(rf"\b{re.escape(k)}\b", low)
            if m and m.start() < best_pos:
                best, best_pos = metric, m.start()
    return best


def target_for(goal: str, metric: str, baseline: float | None) -> tuple[float | None, float | None]:
    """(baseline, target) read from the goal text: 'from A to B', 'to B', 'by N%', 'Nx'."""
    _kw, unit, higher, _support = METRICS[metric]
    down = bool(_DOWN.search(goal)) or not higher
    ft = _FROM_TO.search(goal)
    if ft:
        return _num(ft.group(1), ft.group(2)), _num(ft.group(3), ft.group(4))
    to = _TO.search(goal)
    if to and not _PCT.search(goal[: to.start()]):
        return baseline, _num(to.group(1), to.group(2))
    mult = _MULT.search(goal)
    if mult and baseline is not None:
        return baseline, baseline * float(mult.group(1))
    pct = _PCT.search(goal)
    if pct and baseline is not None:
        change = float(pct.group(1)) / 100
        if unit == "%" and baseline <= 100 and "point" in goal.lower():
            return baseline, baseline - float(pct.group(1)) if down else baseline + float(
                pct.group(1)
            )
        return baseline, baseline * (1 - change if down else 1 + change)
    return baseline, None


@tool(
    "okr_generator", "Quarterly OKRs aligned with input goals: one objective each, measurable KRs"
)
def okr_generator(inp: OkrInput) -> OkrOutput:
    end = quarter_end(inp.quarter).isoformat()
    goals = list(inp.goals)
    baselines = dict(inp.baselines)
    if not goals:
        rnd = rng(inp, "okr")
        metric_names = rnd.sample(list(METRICS), k=3)
        for m in metric_names:
            unit = METRICS[m][1]
            sample = rnd.uniform(2, 40) if unit in ("%", "pts") else rnd.uniform(100, 50_000)
            baselines.setdefault(m, round(sample, 1))
        goals = [
            (
                f"{'Reduce' if not METRICS[m][2] else 'Grow'} {METRICS[m][0][0]} "
                f"by {rnd.choice((10, 15, 20, 25, 30))}%"
            )
            for m in metric_names
        ]
    objectives: list[Objective] = []
    unmatched: list[str] = []
    for goal in goals:
        metric = detect_metric(goal)
        if metric is None:
            unmatched.append(goal)
            continue
        _kw, unit, _higher, support = METRICS[metric]
        baseline, target = target_for(goal, metric, baselines.get(metric))
        if target is None:
            desc = (
                f"Set a numeric target for {metric.replace('_', ' ')} (no baseline or figure given)"
            )
        else:
            start = _fmt(baseline, unit) if baseline is not None else "today's level"
            desc = f"Move {metric.replace('_', ' ')} from {start} to {_fmt(target, unit)}"
        krs = [
            KeyResult(
                description=desc,
                metric=metric,
                baseline=baseline,
                target=target,
                unit=unit,
                due=end,
            )
        ]
        krs += [
            KeyResult(
                description=s,
                metric=f"{metric}_driver_{i + 1}",
                baseline=None,
                target=None,
                unit="",
                due=end,
            )
            for i, s in enumerate(support)
        ]
        objective = goal.strip().rstrip(".")
        objective = objective[0].upper() + objective[1:]
        objectives.append(
            Objective(
                goal=goal, objective=f"{objective} in {inp.quarter}", metric=metric, key_results=krs
            )
        )
    writer = ArtifactWriter(inp, "okr_generator")
    md = [f"# OKRs {inp.quarter}" + (f" — {inp.team}" if inp.team else ""), ""]
    for o in objectives:
        md += (
            [f"## {o.objective}", ""]
            + [f"- KR: {k.description} (due {k.due})" for k in o.key_results]
            + [""]
        )
    path = writer.text("okrs", "md", "\n".join(md))
    measurable = sum(1 for o in objectives if o.key_results[0].target is not None)
    recs = [
        f"Add a baseline for '{o.metric}' so its key result has a number."
        for o in objectives
        if o.key_results[0].target is None
    ]
    if unmatched:
        recs.append(f"Rephrase goals with a measurable metric: {'; '.join(unmatched)}.")
    recs.append("Review progress at mid-quarter; score each KR 0.0-1.0 at quarter end.")
    return OkrOutput(
        headline=(
            f"{len(objectives)} objectives with {sum(len(o.key_results) for o in objectives)} "
            f"key results for {inp.quarter} ({measurable} with numeric targets), "
            f"due {end}."
        ),
        metrics={
            "objectives": float(len(objectives)),
            "key_results": float(sum(len(o.key_results) for o in objectives)),
            "measurable_objectives": float(measurable),
            "unmatched_goals": float(len(unmatched)),
        },
        recommendations=recs,
        artifacts=writer.written,
        quarter=inp.quarter,
        objectives=objectives,
        unmatched_goals=unmatched,
        okr_path=path,
    )


# --------------------------------------------------------------------------- scenario_planning


class Scenario(BaseModel):
    name: str
    probability: float = Field(ge=0, le=1)
    growth: float = Field(description="annual growth of the driver, decimal")
    signposts: list[str] = Field(default_factory=list)


class ScenarioResult(BaseModel):
    name: str
    probability: float
    growth: float
    path: list[float]
    final_value: float
    signposts: list[str]


class ScenarioPlanningInput(ToolInput):
    base_value: float | None = Field(
        default=None, description="today's value of the driver, e.g. revenue"
    )
    horizon_years: int = Field(default=3, ge=1, le=30)
    scenarios: list[Scenario] = Field(default_factory=list)
    volatility: float = Field(
        default=0.15, ge=0, le=2, description="annual, for the Monte Carlo fan"
    )
    simulations: int = Field(default=5000, ge=100, le=200_000)
    driver: str = "revenue"


class ScenarioPlanningOutput(ToolOutput):
    scenarios: list[ScenarioResult] = Field(default_factory=list)
    expected_final_value: float = 0.0
    monte_carlo: dict[str, float] = Field(
        default_factory=dict, description="p10/p50/p90 of the final value"
    )
    table_path: str = ""


_DEFAULT_SIGNPOSTS = {
    "bear": ["Two quarters of falling pipeline", "A top-3 competitor cuts prices"],
    "base": ["Pipeline within 10% of plan", "Churn steady"],
    "bull": ["Win rate up 5+ points", "A new segment adopts without sales help"],
}


@tool(
    "scenario_planning",
    "Bear/base/bull scenarios with probabilities, expected value and a Monte Carlo fan",
)
def scenario_planning(inp: ScenarioPlanningInput) -> ScenarioPlanningOutput:
    import numpy as np

    rnd = rng(inp, "scenario")
    base = inp.base_value if inp.base_value is not None else round(rnd.uniform(1e6, 5e7), -3)
    scenarios = list(inp.scenarios) or [
        Scenario(name="bear", probability=0.25, growth=round(rnd.uniform(-0.15, 0.0), 3)),
        Scenario(name="base", probability=0.5, growth=round(rnd.uniform(0.05, 0.15), 3)),
        Scenario(name="bull", probability=0.25, growth=round(rnd.uniform(0.2, 0.4), 3)),
    ]
    total_p = sum(s.probability for s in scenarios)
    if not math.isclose(total_p, 1.0, abs_tol=1e-6):
        raise InvalidToolInput(f"scenario probabilities sum to {total_p:.4f}; they must sum to 1")
    results = []
    for s in scenarios:
        path = [base * (1 + s.growth) ** t for t in range(inp.horizon_years + 1)]
        results.append(
            ScenarioResult(
                name=s.name,
                probability=s.probability,
                growth=s.growth,
                path=path,
                final_value=path[-1],
                signposts=s.signposts or _DEFAULT_SIGNPOSTS.get(s.name, []),
            )
        )
    expected = sum(r.probability * r.final_value for r in results)
    # Monte Carlo: pick a scenario by its probability, then add log-normal noise each year.
    gen = np_rng(inp, "scenario-mc")
    pick = gen.choice(len(scenarios), size=inp.simulations, p=[s.probability for s in scenarios])
    growth = np.array([s.growth for s in scenarios])[pick]
    drift = np.log1p(growth)[:, None] - 0.5 * inp.volatility**2
    shocks = gen.normal(drift, inp.volatility, size=(inp.simulations, inp.horizon_years))
    finals = base * np.exp(shocks.sum(axis=1))
    p10, p50, p90 = (float(x) for x in np.percentile(finals, [10, 50, 90]))
    p_below = float((finals < base).mean())
    writer = ArtifactWriter(inp, "scenario_planning")
    lines = ["year," + ",".join(r.name for r in results)]
    lines += [
        f"{t}," + ",".join(f"{r.path[t]:.2f}" for r in results)
        for t in range(inp.horizon_years + 1)
    ]
    table_path = writer.text("scenarios", "csv", "\n".join(lines) + "\n")
    worst = min(results, key=lambda r: r.final_value)
    return ScenarioPlanningOutput(
        headline=(
            f"{inp.driver.capitalize()} in {inp.horizon_years} years: expected "
            f"{expected:,.0f} from {base:,.0f} "
            f"(P10 {p10:,.0f}, P50 {p50:,.0f}, P90 {p90:,.0f}); {p_below:.0%} "
            "chance of ending below today."
        ),
        metrics={
            "base_value": base,
            "expected_final_value": expected,
            "p10": p10,
            "p50": p50,
            "p90": p90,
            "probability_below_base": p_below,
        },
        recommendations=[
            (
                f"Prepare a contingency plan for the {worst.name} case ({worst.final_value:,.0f}); "
                f"watch: {'; '.join(worst.signposts) or 'leading indicators'}."
            ),
            (
                f"Budget to the P50 ({p50:,.0f}) and stage discretionary spend "
                "behind the signposts of the upside case."
            ),
        ],
        artifacts=writer.written,
        scenarios=results,
        expected_final_value=expected,
        monte_carlo={"p10": p10, "p50": p50, "p90": p90},
        table_path=table_path,
    )
