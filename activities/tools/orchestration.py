"""Master orchestrator tools: `goal_planner` (goal text -> one of the 12 workflow templates
plus suggested params) and `output_review` (completeness and consistency of step outputs)."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from activities.tools.errors import InvalidToolInput
from activities.tools.registry import ToolInput, ToolOutput, tool
from activities.tools.sampling import rng

# template -> weighted cue phrases (matched on word boundaries, lower case)
WORKFLOWS: dict[str, dict[str, float]] = {
    "content_creation": {
        "blog": 3,
        "article": 3,
        "post": 2,
        "write": 2,
        "content": 2,
        "newsletter issue": 2,
        "copy": 1,
        "whitepaper": 3,
        "seo": 1,
    },
    "marketing_campaign": {
        "campaign": 3,
        "ads": 2,
        "advertising": 2,
        "launch": 1,
        "promote": 2,
        "promotion": 2,
        "paid": 1,
        "email sequence": 2,
        "budget": 1,
        "social media": 1,
    },
    "competitive_analysis": {
        "compare": 2,
        "pricing": 2,
        "against": 1,
        "rival": 2,
        "rivals": 2,
        "competitor": 3,
        "competitors": 3,
        "competitive": 3,
        "pricing comparison": 3,
        "market research": 2,
        "benchmark": 1,
        "teardown": 2,
        "versus": 1,
        "vs": 1,
    },
    "development_sprint": {
        "sprint": 3,
        "feature": 2,
        "bug": 2,
        "code": 2,
        "implement": 2,
        "refactor": 2,
        "api": 1,
        "deploy": 1,
        "release": 1,
        "tests": 1,
    },
    "trading_strategy": {
        "trading": 3,
        "strategy backtest": 3,
        "backtest": 3,
        "stock": 2,
        "stocks": 2,
        "crypto": 2,
        "portfolio": 2,
        "signals": 2,
        "sharpe": 2,
        "ticker": 2,
    },
    "gaming_event": {
        "tournament": 3,
        "players": 2,
        "game": 2,
        "gaming": 2,
        "esports": 3,
        "bracket": 3,
        "event": 1,
        "season": 1,
        "leaderboard": 2,
    },
    "customer_onboarding": {
        "onboarding": 3,
        "onboard": 3,
        "new customer": 2,
        "new customers": 2,
        "welcome": 2,
        "activation": 2,
        "kickoff": 1,
        "setup": 1,
    },
    "ecommerce_sourcing": {
        "supplier": 3,
        "suppliers": 3,
        "sourcing": 3,
        "source": 1,
        "manufacturer": 2,
        "factory": 2,
        "landed cost": 3,
        "import": 1,
        "alibaba": 2,
    },
    "ecommerce_operations": {
        "store": 2,
        "shopify": 3,
        "orders": 2,
        "listings": 2,
        "product listings": 3,
        "returns": 2,
        "conversion rate": 1,
        "cart": 2,
        "ecommerce": 2,
    },
    "inventory_logistics": {
        "inventory": 3,
        "stock levels": 3,
        "reorder": 3,
        "warehouse": 3,
        "shipping": 2,
        "logistics": 3,
        "safety stock": 3,
        "stockout": 3,
    },
    "crisis_management": {
        "crisis": 3,
        "outage": 3,
        "incident": 3,
        "backlash": 3,
        "pr disaster": 3,
        "breach": 3,
        "urgent": 1,
        "negative press": 3,
        "recall": 2,
        "angry": 1,
        "complaints": 2,
    },
    "performance_review": {
        "performance review": 3,
        "kpi": 2,
        "kpis": 2,
        "quarterly review": 3,
        "okrs": 2,
        "okr": 2,
        "review": 1,
        "report on": 1,
        "metrics": 1,
        "results": 1,
    },
}
_CHANNELS = (
    "blog",
    "email",
    "linkedin",
    "twitter",
    "instagram",
    "facebook",
    "tiktok",
    "youtube",
    "search",
    "social",
    "newsletter",
)
_MONEY = re.compile(
    r"(?:\$|usd\s?|€|£)\s?(\d[\d,]*(?:\.\d+)?)\s?(k|m)?\b|\b(\d[\d,]*(?:\.\d+)?)\s?(k|m)?\s?(?:dollars|usd)\b",
    re.I,
)
_TICKER = re.compile(r"\$([A-Z]{1,5})\b|\b(?:ticker|symbol)\s+([A-Z]{1,5})\b")
_COUNT = re.compile(
    r"\b(\d{1,5})\s+(?:new\s+|active\s+|top\s+)?(players|teams|participants|customers|skus|products|suppliers|competitors)\b",
    re.I,
)
_DEADLINE = re.compile(
    r"\b(?:by|before|within|in)\s+(\d+\s+(?:days?|weeks?|months?)|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\s+\d{1,2}|q[1-4](?:\s+\d{4})?|\d{4}-\d{2}-\d{2})",
    re.I,
)


def _hits(text: str, cues: dict[str, float]) -> tuple[float, list[str]]:
    score = 0.0
    matched = []
    for cue, w in cues.items():
        if re.search(rf"(?<![\w$]){re.escape(cue)}(?!\w)", text):
            score += w
            matched.append(cue)
    return score, matched


def extract_params(goal: str) -> dict[str, Any]:
    params: dict[str, Any] = {"goal": goal.strip()}
    m = _MONEY.search(goal)
    if m:
        num, suffix = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        params["budget"] = float(num.replace(",", "")) * {"k": 1e3, "m": 1e6}.get(
            (suffix or "").lower(), 1.0
        )
    low = goal.lower()
    channels = [c for c in _CHANNELS if re.search(rf"\b{c}\b", low)]
    if channels:
        params["channels"] = channels
    tickers = [a or b for a, b in _TICKER.findall(goal)]
    if tickers:
        params["symbols"] = tickers
    for n, what in _COUNT.findall(goal):
        params[
            f"{what.lower()}_count"
            if what.lower() not in ("players", "teams", "participants")
            else "players"
        ] = int(n)
    d = _DEADLINE.search(goal)
    if d:
        params["deadline"] = d.group(1)
    # the topic follows "about"/"regarding" if present, else "for"/"on" ("for the spring
    # launch"); channel names ("on LinkedIn"), amounts and counts are not topics
    for word in ("about", "regarding", "for", "on"):
        for m in re.finditer(rf"\b{word}\s+([^.,;:!?]+)", goal, re.I):
            topic = re.sub(
                r"\s+(?:with|using|by|before|within|in|for)\s.*$",
                "",
                m.group(1).strip(),
                flags=re.I,
            )
            topic = re.sub(r"^(?:a|an|the|our)\s+", "", topic, flags=re.I)
            tokens = [t for t in re.split(r"\W+", topic.lower()) if t and t not in ("and", "or")]
            if (
                topic
                and not re.match(r"^[$\u20ac\u00a3\d]", topic)
                and not all(t in _CHANNELS for t in tokens)
            ):
                params["topic"] = topic
                break
        if "topic" in params:
            break
    vs = re.findall(
        r"\b(?:vs\.?|versus|against)\s+([A-Z][\w&.-]*(?:(?:\s*,\s*|\s+and\s+|\s+&\s+|\s+)[A-Z][\w&.-]*)*)",
        goal,
    )
    comps = [
        c.strip()
        for group in vs
        for c in re.split(r"\s*,\s*|\s+and\s+|\s+&\s+", group)
        if c.strip()
    ]
    if comps:
        params["competitors"] = comps
    return params


class Candidate(BaseModel):
    template: str
    score: float
    matched: list[str]


class GoalPlannerInput(ToolInput):
    goal: str = Field(default="", description="what the user wants, in plain words")


class GoalPlannerOutput(ToolOutput):
    template: str = ""
    confidence: float = 0.0
    params: dict[str, Any] = Field(default_factory=dict)
    alternatives: list[Candidate] = Field(default_factory=list)
    rationale: str = ""


@tool(
    "goal_planner",
    "Map a goal to one of the 12 workflow templates with suggested params and alternatives",
)
def goal_planner(inp: GoalPlannerInput) -> GoalPlannerOutput:
    goal = inp.goal.strip()
    if not goal:
        goal = rng(inp, "goal").choice(
            (
                "Write a blog post about remote onboarding for our blog and LinkedIn",
                "Run a paid ads campaign for the spring launch with a $20k budget",
                "Compare our pricing against Acme and Globex",
                "Organise a 64 players esports tournament next month",
                "Backtest a momentum strategy on $SPY",
            )
        )
    low = goal.lower()
    scored = []
    for name, cues in WORKFLOWS.items():
        s, matched = _hits(low, cues)
        scored.append(Candidate(template=name, score=s, matched=matched))
    scored.sort(key=lambda c: (-c.score, list(WORKFLOWS).index(c.template)))
    best = scored[0]
    total = sum(c.score for c in scored)
    if best.score == 0:
        raise InvalidToolInput(
            "cannot map the goal to a workflow; mention what to do (e.g. "
            f"{', '.join(list(WORKFLOWS)[:4])} ...): {goal!r}"
        )
    confidence = round(best.score / total, 3) if total else 0.0
    margin = best.score - scored[1].score
    params = extract_params(goal)
    rationale = f"matched {', '.join(best.matched)}" + (
        f"; runner-up {scored[1].template} ({scored[1].score:g})" if scored[1].score else ""
    )
    recs = [f"Start it: bizos run {best.template} --params '<json>' (suggested params below)."]
    if margin <= 1:
        recs.insert(
            0,
            (
                f"Ambiguous between {best.template} and {scored[1].template}: "
                "confirm with the requester."
            ),
        )
    return GoalPlannerOutput(
        headline=(
            f"Goal maps to {best.template} (confidence {confidence:.0%}; {rationale}); "
            f"{len(params) - 1} params extracted."
        ),
        metrics={
            "confidence": confidence,
            "score": best.score,
            "margin": margin,
            "params": float(len(params)),
        },
        recommendations=recs,
        template=best.template,
        confidence=confidence,
        params=params,
        alternatives=[c for c in scored[1:4] if c.score > 0],
        rationale=rationale,
    )


# --------------------------------------------------------------------------- output_review


class StepReview(BaseModel):
    step: str
    completeness: float
    problems: list[str]


class OutputReviewInput(ToolInput):
    outputs: dict[str, Any] = Field(
        default_factory=dict, description="step id -> that step's output (a dict)"
    )
    required_fields: dict[str, list[str]] = Field(
        default_factory=dict, description="step id -> fields that must be non-empty"
    )
    tolerance: float = Field(
        default=0.05,
        ge=0,
        description="relative difference allowed between the same metric in two steps",
    )
    check_files: bool = Field(
        default=True, description="artifacts and *_path fields must exist on disk"
    )


class OutputReviewOutput(ToolOutput):
    score: float = 0.0
    verdict: str = ""
    steps: list[StepReview] = Field(default_factory=list)
    inconsistencies: list[str] = Field(default_factory=list)


def _empty(v: Any) -> bool:
    return v is None or v == "" or v == [] or v == {}


def review_step(step: str, out: Any, required: list[str], check_files: bool) -> StepReview:
    if not isinstance(out, dict):
        return StepReview(step=step, completeness=0.0, problems=["output is not an object"])
    problems: list[str] = []
    checks = 0
    passed = 0
    for key, label in (
        ("headline", "a headline"),
        ("metrics", "metrics"),
        ("recommendations", "recommendations"),
    ):
        checks += 1
        if key in out or not required:
            if _empty(out.get(key)):
                problems.append(f"no {label}")
            else:
                passed += 1
        else:
            passed += 1  # not a tool-shaped output; judged on required fields only
    for f in required:
        checks += 1
        if _empty(out.get(f)):
            problems.append(f"required field {f!r} is missing or empty")
        else:
            passed += 1
    for k in ("error", "errors"):
        if not _empty(out.get(k)):
            checks += 1
            problems.append(f"reports {k}: {str(out[k])[:120]}")
    raw_metrics = out.get("metrics")
    metrics: dict[str, Any] = raw_metrics if isinstance(raw_metrics, dict) else {}
    for name, v in metrics.items():
        if isinstance(v, int | float) and not math.isfinite(float(v)):
            checks += 1
            problems.append(f"metric {name} is {v}")
        elif (
            isinstance(v, int | float)
            and (name.endswith("_rate") or name in ("win_rate", "conversion_rate", "confidence"))
            and not 0 <= v <= 1
        ):
            checks += 1
            problems.append(f"metric {name}={v} is outside 0..1")
        elif (
            isinstance(v, int | float)
            and name.endswith(("_pct", "_percent"))
            and not -100 <= v <= 10_000
            and "growth" not in name
        ):
            checks += 1
            problems.append(f"metric {name}={v} is not a plausible percentage")
    if check_files:
        paths = [p for p in out.get("artifacts", []) if isinstance(p, str)] + [
            v for k, v in out.items() if k.endswith("_path") and isinstance(v, str) and v
        ]
        for p in paths:
            checks += 1
            if Path(p).exists():
                passed += 1
            else:
                problems.append(f"file {p} does not exist")
    return StepReview(
        step=step, completeness=round(passed / checks, 4) if checks else 1.0, problems=problems
    )


def _sample_outputs(inp: OutputReviewInput) -> dict[str, Any]:
    rnd = rng(inp, "review")
    revenue = round(rnd.uniform(1e5, 1e6), 2)
    return {
        "analytics": {
            "headline": f"Revenue {revenue:,.0f}",
            "metrics": {"revenue": revenue, "win_rate": round(rnd.uniform(0.2, 0.6), 3)},
            "recommendations": ["Grow the top region."],
        },
        "report": {
            "headline": "Quarterly report",
            "metrics": {"revenue": round(revenue * rnd.choice((1.0, 1.2)), 2)},
            "recommendations": [],
        },
    }


@tool(
    "output_review",
    (
        "Score upstream step outputs for completeness and cross-step "
        "consistency (0-100, approve/revise)"
    ),
)
def output_review(inp: OutputReviewInput) -> OutputReviewOutput:
    outputs = inp.outputs or _sample_outputs(inp)
    unknown = sorted(set(inp.required_fields) - set(outputs))
    if unknown:
        raise InvalidToolInput(
            f"required_fields names steps that have no output: {', '.join(unknown)}"
        )
    steps = [
        review_step(s, out, inp.required_fields.get(s, []), inp.check_files)
        for s, out in outputs.items()
    ]
    # the same metric reported by two steps must agree (within tolerance)
    seen: dict[str, list[tuple[str, float]]] = {}
    for s, out in outputs.items():
        raw = out.get("metrics") if isinstance(out, dict) else None
        step_metrics: dict[str, Any] = raw if isinstance(raw, dict) else {}
        for name, v in step_metrics.items():
            if isinstance(v, int | float) and math.isfinite(float(v)):
                seen.setdefault(name, []).append((s, float(v)))
    inconsistencies = []
    pairs = 0
    for name, vals in seen.items():
        for i in range(len(vals)):
            for j in range(i + 1, len(vals)):
                pairs += 1
                (s1, a), (s2, b) = vals[i], vals[j]
                scale = max(abs(a), abs(b))
                if scale and abs(a - b) / scale > inp.tolerance:
                    inconsistencies.append(f"{name}: {s1} says {a:g}, {s2} says {b:g}")
    completeness = sum(s.completeness for s in steps) / len(steps)
    consistency = 1 - len(inconsistencies) / pairs if pairs else 1.0
    score = round(100 * (0.6 * completeness + 0.4 * consistency), 1)
    verdict = "approve" if score >= 80 and not inconsistencies else "revise"
    recs = [f"{s.step}: {p}" for s in steps for p in s.problems][:8] + [
        f"Reconcile {x}." for x in inconsistencies[:5]
    ]
    return OutputReviewOutput(
        headline=(
            f"Review score {score:.0f}/100 ({verdict}): {len(steps)} steps, "
            f"completeness {completeness:.0%}, {len(inconsistencies)} inconsistencies "
            f"across {pairs} shared metrics."
        ),
        metrics={
            "score": score,
            "completeness": completeness,
            "consistency": consistency,
            "steps": float(len(steps)),
            "inconsistencies": float(len(inconsistencies)),
            "problems": float(sum(len(s.problems) for s in steps)),
        },
        recommendations=recs or ["Outputs are complete and consistent."],
        score=score,
        verdict=verdict,
        steps=steps,
        inconsistencies=inconsistencies,
    )
