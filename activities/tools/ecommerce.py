"""E-commerce tools: `supplier_scoring`, `landed_cost`, `market_sizing` (TAM/SAM/SOM) and
`inventory_planning` (EOQ, safety stock, reorder point)."""

from __future__ import annotations

import csv
import math
from statistics import NormalDist

from pydantic import AliasChoices, BaseModel, Field, model_validator

from activities.tools.artifacts import ArtifactWriter
from activities.tools.errors import InvalidToolInput
from activities.tools.registry import ToolInput, ToolOutput, tool
from activities.tools.sampling import rng
from activities.tools.tabular import read_table, require_columns

# --------------------------------------------------------------------------- supplier_scoring

# criterion -> (higher is better?, default weight)
CRITERIA: dict[str, tuple[bool, float]] = {
    "unit_price": (False, 0.30),
    "defect_rate": (False, 0.20),
    "lead_time_days": (False, 0.15),
    "on_time_rate": (True, 0.20),
    "moq": (False, 0.05),
    "rating": (True, 0.10),
}


class Supplier(BaseModel):
    name: str
    unit_price: float = Field(gt=0)
    defect_rate: float = Field(default=0.01, ge=0, le=1)
    lead_time_days: float = Field(default=30, ge=0)
    on_time_rate: float = Field(default=0.9, ge=0, le=1)
    moq: float = Field(default=100, ge=0)
    rating: float = Field(default=4.0, ge=0, le=5)
    certifications: list[str] = Field(default_factory=list)


class SupplierScore(BaseModel):
    name: str
    score: float
    rank: int
    components: dict[str, float]
    missing_certifications: list[str]


class SupplierScoringInput(ToolInput):
    suppliers: list[Supplier] = Field(default_factory=list)
    suppliers_path: str | None = Field(
        default=None, validation_alias=AliasChoices("suppliers_path", "data_path", "path")
    )
    weights: dict[str, float] = Field(
        default_factory=dict, description=f"criterion -> weight; criteria: {', '.join(CRITERIA)}"
    )
    required_certifications: list[str] = Field(
        default_factory=list, description="e.g. ISO 9001; suppliers lacking one are disqualified"
    )
    product: str = ""


class SupplierScoringOutput(ToolOutput):
    ranking: list[SupplierScore] = Field(default_factory=list)
    disqualified: list[str] = Field(default_factory=list)
    weights: dict[str, float] = Field(default_factory=dict)


def score_suppliers(
    suppliers: list[Supplier], weights: dict[str, float]
) -> dict[str, dict[str, float]]:
    """Min-max normalise each criterion to 0..1 (1 = best among these suppliers), weight, sum
    to a 0-100 score. A criterion where all suppliers tie gives everyone full marks."""
    total_w = sum(weights.values())
    out: dict[str, dict[str, float]] = {s.name: {} for s in suppliers}
    for crit, w in weights.items():
        higher, _ = CRITERIA[crit]
        vals = [float(getattr(s, crit)) for s in suppliers]
        lo, hi = min(vals), max(vals)
        for s, v in zip(suppliers, vals, strict=True):
            norm = 1.0 if hi == lo else ((v - lo) / (hi - lo) if higher else (hi - v) / (hi - lo))
            out[s.name][crit] = round(100 * w / total_w * norm, 4)
    return out


@tool(
    "supplier_scoring",
    (
        "Rank suppliers on price, quality, lead time, reliability, MOQ "
        "and rating (weighted, normalised)"
    ),
)
def supplier_scoring(inp: SupplierScoringInput) -> SupplierScoringOutput:
    suppliers = list(inp.suppliers)
    if inp.suppliers_path:
        df = read_table(inp.suppliers_path)
        require_columns(df, ["name", "unit_price"], f"suppliers file {inp.suppliers_path}")
        for r in df.to_dict("records"):
            r = {k: v for k, v in r.items() if v == v}  # drop NaN
            if isinstance(r.get("certifications"), str):
                r["certifications"] = [
                    c.strip() for c in r["certifications"].split(";") if c.strip()
                ]
            suppliers.append(Supplier.model_validate({**r, "name": str(r["name"])}))
    if not suppliers:
        rnd = rng(inp, "suppliers")
        for name in rnd.sample(
            [
                "Shenzhen Brightway",
                "Ningbo Ocean",
                "Hanoi Craft",
                "Izmir Textiles",
                "Monterrey Metal",
                "Gujarat Goods",
                "Dhaka Apparel",
            ],
            k=5,
        ):
            suppliers.append(
                Supplier(
                    name=name,
                    unit_price=round(rnd.uniform(2, 9), 2),
                    defect_rate=round(rnd.uniform(0.002, 0.05), 3),
                    lead_time_days=rnd.randint(12, 60),
                    on_time_rate=round(rnd.uniform(0.75, 0.99), 2),
                    moq=rnd.choice((100, 300, 500, 1000, 2000)),
                    rating=round(rnd.uniform(3.2, 4.9), 1),
                    certifications=rnd.sample(
                        ["ISO 9001", "BSCI", "SEDEX", "ISO 14001"], k=rnd.randint(0, 3)
                    ),
                )
            )
    if len({s.name for s in suppliers}) != len(suppliers):
        raise InvalidToolInput("supplier names must be unique")
    unknown = sorted(set(inp.weights) - set(CRITERIA))
    if unknown:
        raise InvalidToolInput(f"unknown criteria {', '.join(unknown)}; use {', '.join(CRITERIA)}")
    weights = {
        c: inp.weights.get(c, d if not inp.weights else 0.0) for c, (_h, d) in CRITERIA.items()
    }
    weights = {c: w for c, w in weights.items() if w > 0}
    if not weights:
        raise InvalidToolInput("all weights are zero")
    required = [c.lower() for c in inp.required_certifications]
    missing = {
        s.name: [
            c
            for c in inp.required_certifications
            if c.lower() not in {x.lower() for x in s.certifications}
        ]
        for s in suppliers
    }
    qualified = [s for s in suppliers if not missing[s.name]] if required else suppliers
    disqualified = [s.name for s in suppliers if s not in qualified]
    if not qualified:
        raise InvalidToolInput(f"no supplier holds all of {', '.join(inp.required_certifications)}")
    comps = score_suppliers(qualified, weights)
    ranked = sorted(qualified, key=lambda s: -sum(comps[s.name].values()))
    ranking = [
        SupplierScore(
            name=s.name,
            score=round(sum(comps[s.name].values()), 2),
            rank=i + 1,
            components=comps[s.name],
            missing_certifications=missing[s.name],
        )
        for i, s in enumerate(ranked)
    ]
    best = ranking[0]
    recs = [f"Shortlist {best.name} (score {best.score:.0f}) and request samples."]
    if len(ranking) > 1:
        recs.append(
            f"Keep {ranking[1].name} ({ranking[1].score:.0f}) as second source "
            "to reduce supply risk."
        )
    if disqualified:
        recs.append(f"Disqualified for missing certifications: {', '.join(disqualified)}.")
    return SupplierScoringOutput(
        headline=(
            f"Ranked {len(ranking)} suppliers{' for ' + inp.product if inp.product else ''}: "
            f"#1 {best.name} ({best.score:.1f}/100)"
        )
        + (f", {len(disqualified)} disqualified." if disqualified else "."),
        metrics={
            "suppliers": float(len(suppliers)),
            "qualified": float(len(ranking)),
            "top_score": best.score,
        },
        recommendations=recs,
        ranking=ranking,
        disqualified=disqualified,
        weights={c: w / sum(weights.values()) for c, w in weights.items()},
    )


# --------------------------------------------------------------------------- landed_cost


class LandedCostInput(ToolInput):
    unit_cost: float = Field(default=5.0, ge=0, description="supplier price per unit (FOB)")
    quantity: int = Field(default=1000, ge=1)
    freight: float = Field(default=1200.0, ge=0, description="total international freight")
    insurance_rate: float = Field(default=0.005, ge=0, description="share of (goods + freight)")
    duty_rate: float = Field(default=0.10, ge=0, le=5)
    duty_basis: str = Field(
        default="CIF", description="CIF (EU, most countries) or FOB (US, Canada)"
    )
    vat_rate: float = Field(
        default=0.0, ge=0, le=1, description="import VAT on CIF + duty (0 where reclaimed / none)"
    )
    broker_fees: float = Field(default=150.0, ge=0)
    port_fees: float = Field(default=100.0, ge=0)
    inland_freight: float = Field(default=250.0, ge=0)
    other_fees: float = Field(default=0.0, ge=0)
    selling_price: float | None = Field(default=None, ge=0, description="to report margin")

    @model_validator(mode="after")
    def _basis(self) -> LandedCostInput:
        if self.duty_basis.upper() not in ("CIF", "FOB"):
            raise ValueError("duty_basis must be CIF or FOB")
        return self


class LandedCostOutput(ToolOutput):
    breakdown: dict[str, float] = Field(default_factory=dict)
    total_landed_cost: float = 0.0
    landed_cost_per_unit: float = 0.0
    margin_per_unit: float | None = None
    margin_pct: float | None = None


@tool(
    "landed_cost",
    "Landed cost per unit: goods, freight, insurance, duty (CIF or FOB basis), VAT, fees",
)
def landed_cost(inp: LandedCostInput) -> LandedCostOutput:
    goods = inp.unit_cost * inp.quantity
    insurance = (goods + inp.freight) * inp.insurance_rate
    cif = goods + inp.freight + insurance
    dutiable = cif if inp.duty_basis.upper() == "CIF" else goods
    duty = dutiable * inp.duty_rate
    vat = (cif + duty) * inp.vat_rate
    breakdown = {
        "goods": goods,
        "freight": inp.freight,
        "insurance": insurance,
        "duty": duty,
        "vat": vat,
        "broker_fees": inp.broker_fees,
        "port_fees": inp.port_fees,
        "inland_freight": inp.inland_freight,
        "other_fees": inp.other_fees,
    }
    total = sum(breakdown.values())
    per_unit = total / inp.quantity
    margin = margin_pct = None
    if inp.selling_price is not None:
        margin = inp.selling_price - per_unit
        margin_pct = margin / inp.selling_price if inp.selling_price else None
    biggest = max((k for k in breakdown if k != "goods"), key=lambda k: breakdown[k])
    recs = [
        (
            f"Largest cost after goods is {biggest.replace('_', ' ')} ({breakdown[biggest]:,.2f}, "
            f"{breakdown[biggest] / total:.1%} of landed cost)."
        )
    ]
    if margin_pct is not None and margin_pct < 0.3:
        recs.append(
            f"Margin {margin_pct:.0%} is thin for e-commerce: negotiate price, "
            "consolidate freight or raise the price."
        )
    return LandedCostOutput(
        headline=(
            f"Landed cost {per_unit:,.4f} per unit ({total:,.2f} for {inp.quantity:,} "
            f"units; goods {goods / total:.0%}, duty {duty:,.2f} on {inp.duty_basis.upper()})"
        )
        + (f", margin {margin_pct:.1%}." if margin_pct is not None else "."),
        metrics={
            "landed_cost_per_unit": per_unit,
            "total_landed_cost": total,
            "duty": duty,
            "uplift_over_fob_pct": 100 * (per_unit / inp.unit_cost - 1) if inp.unit_cost else 0.0,
            **({"margin_pct": margin_pct} if margin_pct is not None else {}),
        },
        recommendations=recs,
        breakdown=breakdown,
        total_landed_cost=total,
        landed_cost_per_unit=per_unit,
        margin_per_unit=margin,
        margin_pct=margin_pct,
    )


# --------------------------------------------------------------------------- market_sizing


class MarketSizingInput(ToolInput):
    market: str = ""
    # top-down
    total_customers: float | None = Field(
        default=None, ge=0, description="all potential buyers in the market"
    )
    annual_spend_per_customer: float | None = Field(default=None, ge=0, description="ARPU per year")
    serviceable_share: float = Field(
        default=0.3, gt=0, le=1, description="SAM / TAM: segments, regions, channels we serve"
    )
    obtainable_share: float = Field(
        default=0.05, gt=0, le=1, description="SOM / SAM: share we can win in the horizon"
    )
    # bottom-up (optional)
    target_accounts: float | None = Field(default=None, ge=0)
    expected_win_rate: float | None = Field(default=None, ge=0, le=1)
    market_growth: float = Field(default=0.08, description="annual growth, for the 5-year view")


class MarketSizingOutput(ToolOutput):
    tam: float = 0.0
    sam: float = 0.0
    som: float = 0.0
    bottom_up_som: float | None = None
    five_year_tam: list[float] = Field(default_factory=list)


@tool(
    "market_sizing",
    (
        "TAM/SAM/SOM top-down (customers x spend x shares) with optional "
        "bottom-up check and 5-year view"
    ),
)
def market_sizing(inp: MarketSizingInput) -> MarketSizingOutput:
    rnd = rng(inp, "market")
    customers = (
        inp.total_customers if inp.total_customers is not None else round(rnd.uniform(2e5, 5e6), -3)
    )
    arpu = (
        inp.annual_spend_per_customer
        if inp.annual_spend_per_customer is not None
        else round(rnd.uniform(50, 2000), 0)
    )
    tam = customers * arpu
    sam = tam * inp.serviceable_share
    som = sam * inp.obtainable_share
    bottom = None
    if inp.target_accounts is not None and inp.expected_win_rate is not None:
        bottom = inp.target_accounts * inp.expected_win_rate * arpu
    five = [tam * (1 + inp.market_growth) ** t for t in range(1, 6)]
    recs = [
        (
            f"SOM {som:,.0f} assumes winning {inp.obtainable_share:.0%} of "
            "the serviceable market: check it against sales capacity."
        )
    ]
    if bottom is not None:
        gap = bottom / som - 1 if som else 0.0
        recs.append(
            f"Bottom-up estimate {bottom:,.0f} is {gap:+.0%} vs top-down SOM"
            + (": reconcile the assumptions." if abs(gap) > 0.5 else ".")
        )
    return MarketSizingOutput(
        headline=(
            f"{inp.market or 'Market'}: TAM {tam:,.0f}, SAM {sam:,.0f}, SOM "
            f"{som:,.0f} per year ({customers:,.0f} buyers x {arpu:,.0f})"
        )
        + (f"; bottom-up {bottom:,.0f}." if bottom is not None else "."),
        metrics={
            "tam": tam,
            "sam": sam,
            "som": som,
            "customers": customers,
            "arpu": arpu,
            "tam_year5": five[-1],
            **({"bottom_up_som": bottom} if bottom is not None else {}),
        },
        recommendations=recs,
        tam=tam,
        sam=sam,
        som=som,
        bottom_up_som=bottom,
        five_year_tam=five,
    )


# --------------------------------------------------------------------------- inventory_planning


def eoq(annual_demand: float, order_cost: float, holding_cost: float) -> float:
    """Economic order quantity sqrt(2DS/H)."""
    if holding_cost <= 0:
        raise InvalidToolInput("holding cost per unit per year must be positive")
    return math.sqrt(2 * annual_demand * order_cost / holding_cost)


def safety_stock(
    z: float,
    demand_sd: float,
    lead_time: float,
    demand_mean: float = 0.0,
    lead_time_sd: float = 0.0,
) -> float:
    """z * sqrt(L * sd_d^2 + d^2 * sd_L^2): demand and lead-time variability combined (reduces
    to z * sd_d * sqrt(L) when the lead time is fixed). Units of time must match."""
    return z * math.sqrt(lead_time * demand_sd**2 + demand_mean**2 * lead_time_sd**2)


class Sku(BaseModel):
    sku: str
    daily_demand_mean: float = Field(ge=0)
    daily_demand_sd: float = Field(default=0.0, ge=0)
    lead_time_days: float = Field(gt=0)
    lead_time_sd_days: float = Field(default=0.0, ge=0)
    unit_cost: float = Field(default=10.0, gt=0)
    order_cost: float = Field(default=50.0, ge=0, description="cost per purchase order")
    holding_rate: float = Field(
        default=0.25, gt=0, description="holding cost per year as a share of unit cost"
    )
    on_hand: float = Field(default=0.0, ge=0)
    on_order: float = Field(default=0.0, ge=0)


class SkuPlan(BaseModel):
    sku: str
    eoq: float
    safety_stock: float
    reorder_point: float
    orders_per_year: float
    annual_cost: float
    days_of_cover: float | None
    reorder_now: bool
    order_quantity: float


class InventoryPlanningInput(ToolInput):
    skus: list[Sku] = Field(default_factory=list)
    skus_path: str | None = Field(
        default=None, validation_alias=AliasChoices("skus_path", "data_path", "path")
    )
    service_level: float = Field(
        default=0.95, gt=0.5, lt=1, description="cycle service level (probability of no stock-out)"
    )
    days_per_year: int = Field(default=365, ge=200, le=366)


class InventoryPlanningOutput(ToolOutput):
    plans: list[SkuPlan] = Field(default_factory=list)
    z: float = 0.0
    reorder_now: list[str] = Field(default_factory=list)
    plan_path: str = ""


@tool(
    "inventory_planning",
    "Reorder points, safety stock (service level) and EOQ per SKU, with what to reorder now",
)
def inventory_planning(inp: InventoryPlanningInput) -> InventoryPlanningOutput:
    skus = list(inp.skus)
    if inp.skus_path:
        df = read_table(inp.skus_path)
        require_columns(
            df, ["sku", "daily_demand_mean", "lead_time_days"], f"SKU file {inp.skus_path}"
        )
        skus += [
            Sku.model_validate({**{k: v for k, v in r.items() if v == v}, "sku": str(r["sku"])})
            for r in df.to_dict("records")
        ]
    if not skus:
        rnd = rng(inp, "inventory")
        for i in range(6):
            mean = round(rnd.uniform(5, 200), 1)
            skus.append(
                Sku(
                    sku=f"SKU-{100 + i}",
                    daily_demand_mean=mean,
                    daily_demand_sd=round(mean * rnd.uniform(0.1, 0.5), 1),
                    lead_time_days=rnd.choice((7, 14, 21, 30, 45)),
                    lead_time_sd_days=rnd.choice((0, 2, 5)),
                    unit_cost=round(rnd.uniform(2, 80), 2),
                    order_cost=rnd.choice((25, 50, 100)),
                    on_hand=round(mean * rnd.uniform(5, 60)),
                )
            )
    z = NormalDist().inv_cdf(inp.service_level)
    plans = []
    for s in skus:
        annual = s.daily_demand_mean * inp.days_per_year
        h = s.unit_cost * s.holding_rate
        q = eoq(annual, s.order_cost, h) if annual > 0 else 0.0
        ss = safety_stock(
            z, s.daily_demand_sd, s.lead_time_days, s.daily_demand_mean, s.lead_time_sd_days
        )
        rop = s.daily_demand_mean * s.lead_time_days + ss
        position = s.on_hand + s.on_order
        orders = annual / q if q else 0.0
        cost = orders * s.order_cost + (q / 2 + ss) * h
        reorder = position <= rop
        plans.append(
            SkuPlan(
                sku=s.sku,
                eoq=q,
                safety_stock=ss,
                reorder_point=rop,
                orders_per_year=orders,
                annual_cost=cost,
                days_of_cover=(s.on_hand / s.daily_demand_mean) if s.daily_demand_mean else None,
                reorder_now=reorder,
                order_quantity=math.ceil(max(q, rop - position)) if reorder else 0.0,
            )
        )
    writer = ArtifactWriter(inp, "inventory_planning")
    path = writer.path("inventory-plan", "csv")
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(list(SkuPlan.model_fields))
        for p in plans:
            w.writerow(
                [round(v, 3) if isinstance(v, float) else v for v in p.model_dump().values()]
            )
    now = [p.sku for p in plans if p.reorder_now]
    return InventoryPlanningOutput(
        headline=(
            f"{len(plans)} SKUs at {inp.service_level:.0%} service (z = {z:.3f}): "
            f"{len(now)} to reorder now; total safety stock "
            f"{sum(p.safety_stock for p in plans):,.0f} "
            "units."
        ),
        metrics={
            "skus": float(len(plans)),
            "reorder_now": float(len(now)),
            "z": z,
            "total_safety_stock": sum(p.safety_stock for p in plans),
            "total_annual_cost": sum(p.annual_cost for p in plans),
        },
        recommendations=[
            (
                f"Order {p.order_quantity:,.0f} of {p.sku} (position at or below "
                f"reorder point {p.reorder_point:,.0f})."
            )
            for p in plans
            if p.reorder_now
        ][:8]
        or ["No SKU is at its reorder point."],
        artifacts=writer.written,
        plans=plans,
        z=z,
        reorder_now=now,
        plan_path=str(path),
    )
