"""Campaign tools: `budget_allocation` (diminishing returns), `email_sequence` (5+ touches),
`ab_test_calculator` (sample size and significance) and `campaign_template` (10 templates)."""

from __future__ import annotations

import math
from statistics import NormalDist

from pydantic import BaseModel, Field, model_validator

from activities.tools.artifacts import ArtifactWriter
from activities.tools.errors import InvalidToolInput
from activities.tools.registry import ToolInput, ToolOutput, tool
from activities.tools.sampling import rng

# --------------------------------------------------------------------------- budget_allocation


class ChannelCurve(BaseModel):
    """Response of one channel to spend x: `power`: a * x**b (0 < b < 1), or `saturation`:
    a * (1 - exp(-x / b)) — both concave, so each extra dollar returns less."""

    name: str
    curve: str = Field(default="power", description="power | saturation")
    a: float = Field(gt=0, description="scale (return per unit^b, or the saturation ceiling)")
    b: float = Field(
        gt=0, description="elasticity (power, < 1) or half-life-like spend scale (saturation)"
    )
    min_spend: float = Field(default=0.0, ge=0)
    max_spend: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _check(self) -> ChannelCurve:
        if self.curve not in ("power", "saturation"):
            raise ValueError(f"curve must be power or saturation, not {self.curve!r}")
        if self.curve == "power" and self.b >= 1:
            raise ValueError("a power curve needs b < 1 for diminishing returns")
        if self.max_spend is not None and self.max_spend < self.min_spend:
            raise ValueError("max_spend is below min_spend")
        return self

    def value(self, x: float) -> float:
        if self.curve == "power":
            return self.a * x**self.b if x > 0 else 0.0
        return self.a * (1 - math.exp(-x / self.b))

    def marginal(self, x: float) -> float:
        if self.curve == "power":
            return self.a * self.b * x ** (self.b - 1) if x > 0 else math.inf
        return self.a / self.b * math.exp(-x / self.b)

    def spend_at(self, lam: float) -> float:
        """Spend where the marginal return equals lam, clipped to [min, max]."""
        if self.curve == "power":
            x = (lam / (self.a * self.b)) ** (1 / (self.b - 1))
        else:
            x = self.b * math.log(self.a / (self.b * lam)) if self.a / (self.b * lam) > 1 else 0.0
        hi = self.max_spend if self.max_spend is not None else math.inf
        return min(max(x, self.min_spend), hi)


def allocate(channels: list[ChannelCurve], budget: float) -> list[float]:
    """Optimal split for concave curves: equalise marginal returns (Lagrange), found by
    bisection on the common marginal value lam so that spends sum to the budget."""
    floor = sum(c.min_spend for c in channels)
    if floor > budget + 1e-9:
        raise InvalidToolInput(f"minimum spends ({floor:,.2f}) exceed the budget ({budget:,.2f})")
    ceiling = sum(c.max_spend if c.max_spend is not None else math.inf for c in channels)
    if ceiling < budget:
        return [c.max_spend or 0.0 for c in channels]  # every cap binds; the rest stays unspent
    lo, hi = 1e-12, 1.0
    while sum(c.spend_at(hi) for c in channels) > budget:
        hi *= 10
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        if sum(c.spend_at(mid) for c in channels) > budget:
            lo = mid
        else:
            hi = mid
    spends = [c.spend_at(hi) for c in channels]
    # put the bisection's tiny remainder on the channel with the best marginal return
    gap = budget - sum(spends)
    if gap > 0:
        room = [
            i
            for i, c in enumerate(channels)
            if c.max_spend is None or spends[i] + gap <= c.max_spend
        ]
        if room:
            best = max(room, key=lambda i: channels[i].marginal(spends[i]))
            spends[best] += gap
    return spends


class BudgetAllocationInput(ToolInput):
    budget: float = Field(default=100_000.0, gt=0)
    channels: list[ChannelCurve] = Field(default_factory=list)
    channel_names: list[str] = Field(
        default_factory=list, description="names for sample curves when no curves are given"
    )


class ChannelAllocation(BaseModel):
    channel: str
    spend: float
    share_pct: float
    expected_return: float
    roi: float
    marginal_return: float


class BudgetAllocationOutput(ToolOutput):
    allocations: list[ChannelAllocation] = Field(default_factory=list)
    expected_return: float = 0.0
    equal_split_return: float = 0.0
    uplift_vs_equal_pct: float = 0.0


@tool(
    "budget_allocation",
    "Split a budget across channels with diminishing returns (equal marginal ROI)",
)
def budget_allocation(inp: BudgetAllocationInput) -> BudgetAllocationOutput:
    channels = list(inp.channels)
    if not channels:
        rnd = rng(inp, "budget")
        names = inp.channel_names or ["paid_search", "paid_social", "email"]
        channels = [
            ChannelCurve(
                name=n,
                curve="power",
                a=round(rnd.uniform(20, 120), 2),
                b=round(rnd.uniform(0.45, 0.8), 3),
            )
            for n in names
        ]
    if len({c.name for c in channels}) != len(channels):
        raise InvalidToolInput("channel names must be unique")
    spends = allocate(channels, inp.budget)
    total = sum(c.value(x) for c, x in zip(channels, spends, strict=True))
    eq = inp.budget / len(channels)
    equal = sum(
        c.value(min(max(eq, c.min_spend), c.max_spend if c.max_spend is not None else eq))
        for c in channels
    )
    allocations = [
        ChannelAllocation(
            channel=c.name,
            spend=round(x, 2),
            share_pct=round(100 * x / inp.budget, 2),
            expected_return=round(c.value(x), 2),
            roi=round(c.value(x) / x - 1, 4) if x else 0.0,
            marginal_return=round(c.marginal(x), 6) if x else 0.0,
        )
        for c, x in zip(channels, spends, strict=True)
    ]
    uplift = 100 * (total / equal - 1) if equal else 0.0
    top = max(allocations, key=lambda a: a.spend)
    return BudgetAllocationOutput(
        headline=(
            f"Allocated {inp.budget:,.0f} across {len(channels)} channels "
            f"({top.channel} gets {top.share_pct:.0f}%): expected return {total:,.0f}, "
            f"{uplift:+.1f}% vs an equal split."
        ),
        metrics={
            "budget": inp.budget,
            "expected_return": total,
            "equal_split_return": equal,
            "uplift_vs_equal_pct": uplift,
            **{f"spend_{a.channel}": a.spend for a in allocations},
        },
        recommendations=[
            (
                f"Marginal return is equal at {allocations[0].marginal_return:.4f} "
                "per extra unit: re-fit the curves monthly from actual spend/return "
                "data."
            )
        ]
        + [f"{a.channel}: {a.spend:,.0f} ({a.share_pct:.0f}%)" for a in allocations],
        allocations=allocations,
        expected_return=total,
        equal_split_return=equal,
        uplift_vs_equal_pct=uplift,
    )


# --------------------------------------------------------------------------- email_sequence

_STAGES = (
    (
        "welcome",
        0,
        "Welcome to {product}, {first_name}",
        "Here's how to get your first win in 5 minutes.",
        "Get started",
    ),
    (
        "value",
        2,
        "The one {product} feature {audience} love most",
        "A quick tour of what saves the most time.",
        "See it in action",
    ),
    (
        "social_proof",
        4,
        "How teams like yours use {product}",
        "A 3-minute story from a customer like you.",
        "Read the story",
    ),
    (
        "objection",
        7,
        "Is {product} right for you? Honest answers",
        "Pricing, setup time and what it won't do.",
        "Compare plans",
    ),
    (
        "offer",
        10,
        "Your {offer} ends soon",
        "Everything you tried, now with {offer}.",
        "Claim the offer",
    ),
    (
        "last_chance",
        14,
        "Last call: {offer} ends tonight",
        "One click keeps your setup.",
        "Keep my account",
    ),
    (
        "feedback",
        21,
        "Quick question, {first_name}",
        "What nearly stopped you from trying {product}?",
        "Reply in one line",
    ),
)


class Touchpoint(BaseModel):
    step: int
    stage: str
    send_day: int
    subject: str
    preview_text: str
    body_outline: list[str]
    cta: str
    condition: str


class EmailSequenceInput(ToolInput):
    product: str = ""
    audience: str = "teams"
    goal: str = Field(default="trial_to_paid", description="what the sequence should achieve")
    offer: str = "20% off your first year"
    touchpoints: int = Field(default=5, ge=3, le=7)
    list_size: int = Field(default=5000, ge=1)
    open_rate: float = Field(default=0.35, gt=0, le=1, description="expected first-email open rate")
    click_rate: float = Field(
        default=0.04, gt=0, le=1, description="expected clicks per delivered email"
    )


class EmailSequenceOutput(ToolOutput):
    touchpoints: list[Touchpoint] = Field(default_factory=list)
    expected_opens: float = 0.0
    expected_clicks: float = 0.0
    sequence_path: str = ""


@tool(
    "email_sequence",
    "An email nurture sequence of 5 (3-7) timed touchpoints with subjects, outlines and CTAs",
)
def email_sequence(inp: EmailSequenceInput) -> EmailSequenceOutput:
    rnd = rng(inp, "email_sequence")
    product = inp.product or rnd.choice(("Nimbus", "Harbor", "Summit", "Kite"))
    # Always keep the welcome and the offer; fill the middle in order, keep the sequence's arc.
    core = ["welcome", "value", "social_proof", "objection", "offer", "last_chance", "feedback"]
    chosen = (
        core[: inp.touchpoints]
        if inp.touchpoints >= 5
        else ["welcome", "value", "offer"] + (["objection"] if inp.touchpoints == 4 else [])
    )
    stages = [s for s in _STAGES if s[0] in chosen]
    ctx = {
        "product": product,
        "audience": inp.audience,
        "offer": inp.offer,
        "first_name": "{{first_name}}",
    }
    touches = []
    opens = clicks = 0.0
    active = float(inp.list_size)
    for i, (stage, day, subject, preview, cta) in enumerate(stages):
        decay = 0.85**i  # each later email is opened a little less (fatigue, list attrition)
        opens += active * inp.open_rate * decay
        clicks += active * inp.click_rate * decay
        active *= 0.995  # unsubscribes
        touches.append(
            Touchpoint(
                step=i + 1,
                stage=stage,
                send_day=day,
                subject=subject.format(**ctx),
                preview_text=preview.format(**ctx),
                body_outline=[
                    f"Hook: one line about {inp.audience}' goal ({inp.goal.replace('_', ' ')})",
                    f"Point: {stage.replace('_', ' ')} message for {product}",
                    f"CTA button: {cta}",
                ],
                cta=cta,
                condition="always"
                if i == 0
                else "skip if converted"
                if stage != "feedback"
                else "only if not converted",
            )
        )
    writer = ArtifactWriter(inp, "email_sequence")
    path = writer.json("email-sequence", [t.model_dump() for t in touches])
    return EmailSequenceOutput(
        headline=(
            f"{len(touches)}-email {inp.goal.replace('_', ' ')} sequence for "
            f"{product} over {touches[-1].send_day} days: ~{opens:,.0f} opens "
            f"and ~{clicks:,.0f} clicks expected from {inp.list_size:,} contacts."
        ),
        metrics={
            "touchpoints": float(len(touches)),
            "days": float(touches[-1].send_day),
            "expected_opens": opens,
            "expected_clicks": clicks,
        },
        recommendations=[
            (
                "A/B test the subject line of email 1 with ab_test_calculator "
                "before sending to the full list."
            ),
            "Suppress converted contacts after each send.",
        ],
        artifacts=writer.written,
        touchpoints=touches,
        expected_opens=opens,
        expected_clicks=clicks,
        sequence_path=path,
    )


# --------------------------------------------------------------------------- ab_test_calculator


def sample_size_per_group(
    p1: float, p2: float, alpha: float = 0.05, power: float = 0.8, two_sided: bool = True
) -> float:
    """Two proportions, equal groups (Fleiss, no continuity correction; the formula behind
    R's power.prop.test): n = (z_a*sqrt(2*pbar*qbar) + z_b*sqrt(p1q1 + p2q2))^2 / (p1-p2)^2."""
    if not (0 < p1 < 1 and 0 < p2 < 1) or p1 == p2:
        raise InvalidToolInput("rates must be between 0 and 1 and differ")
    z = NormalDist()
    za = z.inv_cdf(1 - alpha / (2 if two_sided else 1))
    zb = z.inv_cdf(power)
    pbar = (p1 + p2) / 2
    num = za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return num**2 / (p1 - p2) ** 2


def two_proportion_test(
    x1: int, n1: int, x2: int, n2: int, two_sided: bool = True
) -> tuple[float, float, tuple[float, float]]:
    """(z, p-value, 95% CI of p2 - p1): pooled z-test, unpooled Wald interval."""
    p1, p2 = x1 / n1, x2 / n2
    pool = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pool * (1 - pool) * (1 / n1 + 1 / n2))
    zv = (p2 - p1) / se if se else 0.0
    cdf = NormalDist().cdf
    p = 2 * (1 - cdf(abs(zv))) if two_sided else 1 - cdf(zv)
    se_u = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    return zv, p, (p2 - p1 - 1.959964 * se_u, p2 - p1 + 1.959964 * se_u)


class AbTestInput(ToolInput):
    baseline_rate: float = Field(default=0.10, gt=0, lt=1)
    minimum_detectable_effect: float = Field(
        default=0.20, gt=0, description="relative lift to detect (0.2 = +20%)"
    )
    absolute_effect: bool = Field(
        default=False, description="treat the effect as absolute points instead"
    )
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    power: float = Field(default=0.80, gt=0.5, lt=1)
    two_sided: bool = True
    daily_traffic: int | None = Field(
        default=None, ge=1, description="visitors per day across both groups"
    )
    control_visitors: int | None = Field(default=None, ge=1)
    control_conversions: int | None = Field(default=None, ge=0)
    variant_visitors: int | None = Field(default=None, ge=1)
    variant_conversions: int | None = Field(default=None, ge=0)


class AbTestOutput(ToolOutput):
    sample_size_per_group: int = 0
    total_sample_size: int = 0
    days_needed: float | None = None
    observed_lift: float | None = None
    p_value: float | None = None
    z_score: float | None = None
    confidence_interval: list[float] = Field(default_factory=list)
    significant: bool | None = None


@tool(
    "ab_test_calculator",
    "A/B test sample size (two proportions) and significance of observed results",
)
def ab_test_calculator(inp: AbTestInput) -> AbTestOutput:
    p1 = inp.baseline_rate
    p2 = (
        p1 + inp.minimum_detectable_effect
        if inp.absolute_effect
        else p1 * (1 + inp.minimum_detectable_effect)
    )
    if not 0 < p2 < 1:
        raise InvalidToolInput(
            f"baseline {p1} with that effect gives a rate of {p2:.3f}, outside (0, 1)"
        )
    n = math.ceil(sample_size_per_group(p1, p2, inp.alpha, inp.power, inp.two_sided))
    days = 2 * n / inp.daily_traffic if inp.daily_traffic else None
    out = AbTestOutput(sample_size_per_group=n, total_sample_size=2 * n, days_needed=days)
    metrics: dict[str, float] = {
        "sample_size_per_group": float(n),
        "total_sample_size": float(2 * n),
        "target_rate": p2,
    }
    if days is not None:
        metrics["days_needed"] = days
    recs = [f"Run until each group has {n:,} visitors; do not stop early on a lucky day."]
    observed = (
        inp.control_visitors,
        inp.control_conversions,
        inp.variant_visitors,
        inp.variant_conversions,
    )
    headline = (
        f"Need {n:,} visitors per group ({2 * n:,} total) to detect {p1:.2%} "
        f"-> {p2:.2%} at alpha {inp.alpha:g}, power {inp.power:.0%}"
    ) + (f" (~{days:.1f} days)." if days else ".")
    if all(v is not None for v in observed):
        n1, x1, n2, x2 = (int(v) for v in observed)  # type: ignore[arg-type]
        if x1 > n1 or x2 > n2:
            raise InvalidToolInput("conversions cannot exceed visitors")
        zv, p, ci = two_proportion_test(x1, n1, x2, n2, inp.two_sided)
        lift = (x2 / n2) / (x1 / n1) - 1 if x1 else math.inf
        sig = p < inp.alpha
        out.observed_lift, out.p_value, out.z_score, out.confidence_interval, out.significant = (
            lift,
            p,
            zv,
            [ci[0], ci[1]],
            sig,
        )
        metrics.update(
            {"observed_lift": lift, "p_value": p, "z_score": zv, "significant": float(sig)}
        )
        underpowered = min(n1, n2) < n
        headline = (
            f"Variant {x2 / n2:.2%} vs control {x1 / n1:.2%} (lift {lift:+.1%}): "
            f"p = {p:.4f}, {'significant' if sig else 'not significant'} at "
            f"{inp.alpha:g}"
        ) + ("; sample below the planned size." if underpowered else ".")
        recs = [
            ("Ship the variant." if lift > 0 else "Keep the control.")
            if sig
            else "No reliable difference yet: keep collecting data or stop and keep the control."
        ]
        if underpowered:
            recs.append(
                f"Only {min(n1, n2):,} of the planned {n:,} per group: treat the "
                "result as provisional."
            )
    out.headline, out.metrics, out.recommendations = headline, metrics, recs
    return out


# --------------------------------------------------------------------------- campaign_template


class TemplateSpec(BaseModel):
    name: str
    objective: str
    channels: dict[str, float]  # channel -> budget share
    kpis: list[str]
    phases: list[tuple[str, float]]  # (phase, share of duration)
    creatives: list[str]


TEMPLATES: dict[str, TemplateSpec] = {
    t.name: t
    for t in (
        TemplateSpec(
            name="product_launch",
            objective="awareness then trials for a new product",
            channels={
                "paid_social": 0.35,
                "paid_search": 0.25,
                "email": 0.1,
                "pr_influencers": 0.3,
            },
            kpis=["reach", "trial signups", "cost per signup"],
            phases=[("teaser", 0.2), ("launch", 0.3), ("sustain", 0.5)],
            creatives=["teaser video", "launch ad set", "press kit", "launch email"],
        ),
        TemplateSpec(
            name="lead_generation",
            objective="qualified leads for sales",
            channels={"paid_search": 0.4, "linkedin_ads": 0.35, "content_syndication": 0.25},
            kpis=["MQLs", "cost per MQL", "MQL-to-SQL rate"],
            phases=[("setup", 0.1), ("run", 0.7), ("optimise", 0.2)],
            creatives=["gated guide", "landing page", "search ads", "lead-gen forms"],
        ),
        TemplateSpec(
            name="retargeting",
            objective="bring back visitors who did not convert",
            channels={"display_retargeting": 0.5, "paid_social": 0.4, "email": 0.1},
            kpis=["return visits", "conversion rate", "ROAS"],
            phases=[("audiences", 0.1), ("run", 0.9)],
            creatives=["dynamic product ads", "reminder email"],
        ),
        TemplateSpec(
            name="brand_awareness",
            objective="reach and recall in the target market",
            channels={"video": 0.45, "paid_social": 0.35, "display": 0.2},
            kpis=["reach", "frequency", "brand lift"],
            phases=[("flight 1", 0.5), ("flight 2", 0.5)],
            creatives=["15s video", "6s bumper", "static banners"],
        ),
        TemplateSpec(
            name="seasonal_sale",
            objective="revenue during a sale window",
            channels={"email": 0.2, "paid_search": 0.35, "paid_social": 0.35, "sms": 0.1},
            kpis=["revenue", "ROAS", "average order value"],
            phases=[("warm-up", 0.3), ("sale", 0.5), ("last chance", 0.2)],
            creatives=["sale banners", "countdown email", "SMS reminder"],
        ),
        TemplateSpec(
            name="webinar_promotion",
            objective="registrations and attendance",
            channels={"email": 0.3, "linkedin_ads": 0.45, "partners": 0.25},
            kpis=["registrations", "attendance rate", "cost per registrant"],
            phases=[("announce", 0.4), ("remind", 0.5), ("replay", 0.1)],
            creatives=["registration page", "speaker cards", "reminder emails"],
        ),
        TemplateSpec(
            name="app_install",
            objective="installs and first-week activation",
            channels={"app_store_ads": 0.4, "paid_social": 0.45, "influencers": 0.15},
            kpis=["installs", "cost per install", "D7 retention"],
            phases=[("test", 0.2), ("scale", 0.8)],
            creatives=["app preview video", "store screenshots", "playable ad"],
        ),
        TemplateSpec(
            name="newsletter_growth",
            objective="subscribers who open",
            channels={"paid_social": 0.5, "referral_program": 0.3, "cross_promotions": 0.2},
            kpis=["new subscribers", "cost per subscriber", "open rate"],
            phases=[("launch", 0.3), ("grow", 0.7)],
            creatives=["lead magnet", "signup page", "welcome email"],
        ),
        TemplateSpec(
            name="customer_reactivation",
            objective="win back lapsed customers",
            channels={"email": 0.5, "paid_social": 0.3, "direct_mail": 0.2},
            kpis=["reactivated customers", "revenue per reactivation", "unsubscribe rate"],
            phases=[("we miss you", 0.4), ("offer", 0.4), ("last call", 0.2)],
            creatives=["win-back email series", "offer ad", "postcard"],
        ),
        TemplateSpec(
            name="referral_program",
            objective="new customers through existing ones",
            channels={"email": 0.3, "in_product": 0.2, "rewards": 0.5},
            kpis=["referrals sent", "referred signups", "viral coefficient"],
            phases=[("launch", 0.3), ("run", 0.7)],
            creatives=["referral page", "invite email", "reward banner"],
        ),
    )
}

_GOAL_WORDS = {
    "product_launch": ("launch", "new product", "release"),
    "lead_generation": ("leads", "pipeline", "mql", "b2b"),
    "retargeting": ("retarget", "abandon", "cart", "return visitors"),
    "brand_awareness": ("awareness", "brand", "reach"),
    "seasonal_sale": ("sale", "black friday", "holiday", "discount", "seasonal"),
    "webinar_promotion": ("webinar", "event", "registrations"),
    "app_install": ("app", "install", "download"),
    "newsletter_growth": ("newsletter", "subscribers", "list growth"),
    "customer_reactivation": ("win back", "lapsed", "reactivat", "churned"),
    "referral_program": ("referral", "refer", "word of mouth"),
}


class CampaignTemplateInput(ToolInput):
    template: str = Field(default="", description=f"one of {', '.join(TEMPLATES)}; or give a goal")
    goal: str = ""
    product: str = ""
    budget: float = Field(default=20_000.0, gt=0)
    duration_days: int = Field(default=30, ge=1, le=365)
    start_day: int = Field(default=0, description="offset of day 1 from the campaign start")


class CampaignPhase(BaseModel):
    phase: str
    start_day: int
    end_day: int


class CampaignTemplateOutput(ToolOutput):
    template: str = ""
    objective: str = ""
    channel_budgets: dict[str, float] = Field(default_factory=dict)
    phases: list[CampaignPhase] = Field(default_factory=list)
    kpis: list[str] = Field(default_factory=list)
    creatives_needed: list[str] = Field(default_factory=list)
    available_templates: list[str] = Field(default_factory=list)
    plan_path: str = ""


def pick_template(goal: str) -> str | None:
    low = goal.lower()
    scores = {name: sum(1 for w in words if w in low) for name, words in _GOAL_WORDS.items()}
    best = max(scores, key=lambda k: scores[k])
    return best if scores[best] else None


@tool(
    "campaign_template",
    "Campaign plan from one of 10 templates: channels, budget split, phases, KPIs, creatives",
)
def campaign_template(inp: CampaignTemplateInput) -> CampaignTemplateOutput:
    name = (
        inp.template
        or (pick_template(inp.goal) if inp.goal else None)
        or rng(inp, "campaign").choice(sorted(TEMPLATES))
    )
    if name not in TEMPLATES:
        raise InvalidToolInput(
            f"unknown campaign template {name!r}; templates: {', '.join(TEMPLATES)}"
        )
    t = TEMPLATES[name]
    # cents-exact split: rounding remainders go to the largest channel so the sum is the budget
    cents = round(inp.budget * 100)
    alloc = {ch: math.floor(cents * share) for ch, share in t.channels.items()}
    alloc[max(t.channels, key=lambda c: t.channels[c])] += cents - sum(alloc.values())
    budgets = {ch: v / 100 for ch, v in alloc.items()}
    phases, day = [], inp.start_day
    for i, (phase, share) in enumerate(t.phases):
        length = (
            inp.duration_days - (day - inp.start_day)
            if i == len(t.phases) - 1
            else max(1, round(inp.duration_days * share))
        )
        phases.append(CampaignPhase(phase=phase, start_day=day, end_day=day + length - 1))
        day += length
    writer = ArtifactWriter(inp, "campaign_template")
    plan = {
        "template": name,
        "product": inp.product,
        "objective": t.objective,
        "budget": inp.budget,
        "channel_budgets": budgets,
        "phases": [p.model_dump() for p in phases],
        "kpis": t.kpis,
        "creatives": t.creatives,
    }
    path = writer.json(f"campaign-{name}", plan)
    return CampaignTemplateOutput(
        headline=(
            f"{name.replace('_', ' ').capitalize()} plan"
            f"{' for ' + inp.product if inp.product else ''}: "
            f"{inp.budget:,.0f} over {inp.duration_days} days across {len(budgets)} "
            f"channels, {len(phases)} phases; KPIs {', '.join(t.kpis)}."
        ),
        metrics={
            "budget": inp.budget,
            "channels": float(len(budgets)),
            "phases": float(len(phases)),
            "duration_days": float(inp.duration_days),
        },
        recommendations=[
            f"Brief creatives: {', '.join(t.creatives)}.",
            "Re-run budget_allocation after the first week with real response data.",
        ],
        artifacts=writer.written,
        template=name,
        objective=t.objective,
        channel_budgets=budgets,
        phases=phases,
        kpis=t.kpis,
        creatives_needed=t.creatives,
        available_templates=list(TEMPLATES),
        plan_path=path,
    )
