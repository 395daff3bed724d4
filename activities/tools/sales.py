"""Sales tools: `lead_scoring` (transparent points model), `revenue_forecast` (model chosen by
back-test, error reported) and `lead_routing` (rules, measured on a labelled set shipped
beside this module: lead_routing_labelled.csv)."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, Field

from activities.tools.artifacts import ArtifactWriter
from activities.tools.errors import DataFileError, InvalidToolInput
from activities.tools.registry import ToolInput, ToolOutput, tool
from activities.tools.sampling import rng
from activities.tools.tabular import read_table

LABELLED_LEADS = Path(__file__).with_name("lead_routing_labelled.csv")
FREE_MAIL = frozenset(
    (
        "gmail.com",
        "yahoo.com",
        "outlook.com",
        "hotmail.com",
        "icloud.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "gmx.de",
    )
)
DISPOSABLE = frozenset(
    (
        "mailinator.com",
        "tempmail.dev",
        "10minutemail.com",
        "guerrillamail.com",
        "trashmail.com",
        "yopmail.com",
    )
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.I)

# --------------------------------------------------------------------------- lead_scoring


class Lead(BaseModel):
    lead_id: str = ""
    email: str = ""
    company: str = ""
    title: str = ""
    employees: str | int | float | None = None
    industry: str = ""
    country: str = ""
    pages_viewed: int = 0
    visited_pricing: bool = False
    email_opens: int = 0
    demo_requested: bool = False
    days_since_last_activity: int | None = None
    product_interest: str = ""
    is_customer: bool | str = False


def parse_employees(value: Any) -> float | None:
    """'1,200' -> 1200, '1.2k' -> 1200, '100-249' -> midpoint, '10000+' -> 10000."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, int | float):
        return float(value)
    s = str(value).strip().lower().replace(",", "").replace(" ", "")
    if not s:
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)k\+?", s)
    if m:
        return float(m.group(1)) * 1000
    m = re.fullmatch(r"(\d+)-(\d+)", s)
    if m:
        return (float(m.group(1)) + float(m.group(2))) / 2
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\+?", s)
    return float(m.group(1)) if m else None


def _truthy(v: Any) -> bool:
    return str(v).strip().lower() in ("1", "true", "yes", "y", "t")


def email_domain(email: str) -> str:
    return email.rsplit("@", 1)[-1].lower() if "@" in email else ""


_SENIORITY = (
    (
        re.compile(
            r"\b(ceo|cto|cfo|coo|cmo|chief|founder|co-founder|owner|president|vp|vice president)\b",
            re.I,
        ),
        15,
    ),
    (re.compile(r"\b(director|head)\b", re.I), 12),
    (re.compile(r"\b(manager|lead|principal)\b", re.I), 8),
    (re.compile(r"\b(student|intern)\b", re.I), -10),
)


def score_lead(lead: Lead, target_industries: list[str]) -> tuple[int, dict[str, int]]:
    """Fit (max 50) + intent (max 50), clipped to 0-100; returns the points per factor."""
    pts: dict[str, int] = {}
    n = parse_employees(lead.employees)
    pts["company_size"] = (
        0 if n is None or n <= 10 else 5 if n <= 50 else 10 if n <= 200 else 15 if n <= 1000 else 20
    )
    pts["seniority"] = next(
        (p for rx, p in _SENIORITY if rx.search(lead.title)), 3 if lead.title else 0
    )
    pts["target_industry"] = (
        10 if lead.industry.strip().lower() in {t.lower() for t in target_industries} else 0
    )
    domain = email_domain(lead.email)
    pts["business_email"] = (
        5 if domain and domain not in FREE_MAIL and domain not in DISPOSABLE else 0
    )
    pts["demo_request"] = 20 if lead.demo_requested else 0
    pts["pages_viewed"] = min(max(lead.pages_viewed, 0), 10)
    pts["pricing_visit"] = 8 if lead.visited_pricing else 0
    pts["email_engagement"] = min(max(lead.email_opens, 0), 6)
    d = lead.days_since_last_activity
    pts["recency"] = 0 if d is None else 6 if d <= 7 else 3 if d <= 30 else 0
    return max(0, min(100, sum(pts.values()))), pts


def grade(score: int) -> str:
    return "A" if score >= 75 else "B" if score >= 50 else "C" if score >= 25 else "D"


class ScoredLead(BaseModel):
    lead_id: str
    company: str
    score: int
    grade: str
    top_factors: list[str]


class LeadScoringInput(ToolInput):
    leads: list[Lead] = Field(default_factory=list)
    leads_path: str | None = Field(
        default=None, validation_alias=AliasChoices("leads_path", "data_path", "path")
    )
    target_industries: list[str] = Field(
        default_factory=lambda: ["software", "saas", "fintech", "ecommerce"]
    )
    sample_size: int = Field(default=200, ge=1, le=100_000)
    top_n: int = Field(default=10, ge=1, le=500)


class LeadScoringOutput(ToolOutput):
    top_leads: list[ScoredLead] = Field(default_factory=list)
    grade_counts: dict[str, int] = Field(default_factory=dict)
    scored_path: str = ""


def _records(path: str) -> list[dict[str, Any]]:
    df = read_table(path)
    return [
        {k: v for k, v in r.items() if not (isinstance(v, float) and math.isnan(v))}
        for r in df.to_dict("records")
    ]


def _sample_leads(inp: ToolInput, n: int) -> list[Lead]:
    rnd = rng(inp, "leads")
    titles = (
        "CEO",
        "VP Marketing",
        "Head of Growth",
        "Marketing Manager",
        "Analyst",
        "Engineer",
        "Intern",
        "Director of Sales",
    )
    industries = ("software", "saas", "retail", "fintech", "healthcare", "ecommerce", "education")
    out = []
    for i in range(n):
        company = rnd.choice(("acme", "globex", "initech", "hooli", "umbrella", "stark", "wayne"))
        out.append(
            Lead(
                lead_id=f"S{i + 1:04d}",
                company=company.title(),
                title=rnd.choice(titles),
                email=f"{rnd.choice(('ana', 'ben', 'kofi', 'lena'))}@"
                + rnd.choice((company + ".com", "gmail.com")),
                employees=rnd.choice((5, 30, 120, 450, 2500, 12000)),
                industry=rnd.choice(industries),
                pages_viewed=rnd.randint(0, 15),
                visited_pricing=rnd.random() < 0.3,
                email_opens=rnd.randint(0, 8),
                demo_requested=rnd.random() < 0.12,
                days_since_last_activity=rnd.randint(0, 60),
            )
        )
    return out


@tool(
    "lead_scoring",
    "Score leads 0-100 (fit + intent points) with grades A-D and the factors behind each score",
)
def lead_scoring(inp: LeadScoringInput) -> LeadScoringOutput:
    leads = list(inp.leads)
    if inp.leads_path:
        leads += [
            Lead.model_validate(
                {
                    k: (
                        str(v)
                        if k in ("lead_id", "email", "company", "title", "industry", "country")
                        else v
                    )
                    for k, v in r.items()
                }
            )
            for r in _records(inp.leads_path)
        ]
    source = "given leads"
    if not leads:
        leads, source = _sample_leads(inp, inp.sample_size), "sample leads"
    scored = []
    for i, lead in enumerate(leads):
        s, pts = score_lead(lead, inp.target_industries)
        factors = [
            f"{k} +{v}" if v >= 0 else f"{k} {v}"
            for k, v in sorted(pts.items(), key=lambda kv: -abs(kv[1]))
            if v
        ][:3]
        scored.append(
            ScoredLead(
                lead_id=lead.lead_id or f"#{i + 1}",
                company=lead.company,
                score=s,
                grade=grade(s),
                top_factors=factors,
            )
        )
    scored.sort(key=lambda x: -x.score)
    counts = {g: sum(1 for x in scored if x.grade == g) for g in "ABCD"}
    writer = ArtifactWriter(inp, "lead_scoring")
    path = writer.path("scored-leads", "csv")
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["lead_id", "company", "score", "grade", "top_factors"])
        for x in scored:
            w.writerow([x.lead_id, x.company, x.score, x.grade, "; ".join(x.top_factors)])
    avg = sum(x.score for x in scored) / len(scored)
    return LeadScoringOutput(
        headline=(
            f"Scored {len(scored)} {source}: {counts['A']} A, {counts['B']} "
            f"B, {counts['C']} C, {counts['D']} D; average {avg:.0f}/100, "
            f"top {scored[0].company} at {scored[0].score}."
        ),
        metrics={
            "leads": float(len(scored)),
            "average_score": avg,
            **{f"grade_{g}": float(v) for g, v in counts.items()},
        },
        recommendations=[
            f"Route the {counts['A']} A-grade leads to sales today.",
            "Nurture B/C leads by email; re-score weekly as intent changes.",
        ],
        artifacts=writer.written,
        top_leads=scored[: inp.top_n],
        grade_counts=counts,
        scored_path=str(path),
    )


# --------------------------------------------------------------------------- lead_routing

_REGIONS: dict[str, tuple[str, ...]] = {
    "amer": (
        "us",
        "usa",
        "u.s.",
        "u.s.a.",
        "united states",
        "united states of america",
        "america",
        "ca",
        "canada",
        "mx",
        "mexico",
        "méxico",
        "br",
        "brazil",
        "brasil",
        "ar",
        "argentina",
        "cl",
        "chile",
        "co",
        "colombia",
    ),
    "emea": (
        "gb",
        "uk",
        "u.k.",
        "united kingdom",
        "great britain",
        "england",
        "scotland",
        "de",
        "germany",
        "deutschland",
        "fr",
        "france",
        "nl",
        "netherlands",
        "the netherlands",
        "holland",
        "es",
        "spain",
        "españa",
        "it",
        "italy",
        "se",
        "sweden",
        "ie",
        "ireland",
        "ae",
        "uae",
        "united arab emirates",
        "za",
        "south africa",
        "ng",
        "nigeria",
        "pl",
        "poland",
        "ch",
        "switzerland",
    ),
    "apac": (
        "jp",
        "japan",
        "sg",
        "singapore",
        "in",
        "india",
        "au",
        "australia",
        "nz",
        "new zealand",
        "cn",
        "china",
        "kr",
        "korea",
        "south korea",
        "hk",
        "hong kong",
        "id",
        "indonesia",
    ),
}
_COUNTRY_REGION = {alias: region for region, aliases in _REGIONS.items() for alias in aliases}
TEAMS = (
    "discard",
    "account_management",
    "partnerships",
    "enterprise_amer",
    "enterprise_emea",
    "enterprise_apac",
    "mid_market_amer",
    "mid_market_emea",
    "mid_market_apac",
    "smb",
)


def region_of(country: str) -> str:
    """Region for a country name or code; unknown countries go to AMER, where HQ triages."""
    return _COUNTRY_REGION.get(
        country.strip().lower().rstrip("."), _COUNTRY_REGION.get(country.strip().lower(), "amer")
    )


def route(lead: Lead) -> tuple[str, str]:
    """(team, rule) by the routing policy, first matching rule wins:
    1 invalid or disposable email -> discard; 2 existing customer -> account_management;
    3 partnership interest -> partnerships; 4 1000+ employees -> enterprise_<region>;
    5 100-999 -> mid_market_<region>; 6 otherwise (incl. unknown size) -> smb."""
    email = lead.email.strip()
    if not _EMAIL.match(email) or email_domain(email) in DISPOSABLE:
        return "discard", "invalid or disposable email"
    if _truthy(lead.is_customer):
        return "account_management", "existing customer"
    if lead.product_interest.strip().lower() == "partnership":
        return "partnerships", "partnership interest"
    n = parse_employees(lead.employees)
    if n is not None and n >= 1000:
        return f"enterprise_{region_of(lead.country)}", f"{n:,.0f} employees"
    if n is not None and n >= 100:
        return f"mid_market_{region_of(lead.country)}", f"{n:,.0f} employees"
    return "smb", "under 100 employees or size unknown"


class Assignment(BaseModel):
    lead_id: str
    team: str
    rule: str
    expected_team: str | None = None


class LeadRoutingInput(ToolInput):
    leads: list[Lead] = Field(default_factory=list)
    leads_path: str | None = Field(
        default=None, validation_alias=AliasChoices("leads_path", "data_path", "path")
    )
    evaluate: bool = Field(default=False, description="also score against the shipped labelled set")


class LeadRoutingOutput(ToolOutput):
    assignments: list[Assignment] = Field(default_factory=list)
    team_counts: dict[str, int] = Field(default_factory=dict)
    accuracy: float | None = Field(default=None, description="on the labelled set, when evaluated")
    errors: list[Assignment] = Field(default_factory=list)
    assignments_path: str = ""


def load_labelled() -> list[tuple[Lead, str]]:
    if not LABELLED_LEADS.is_file():
        raise DataFileError(f"labelled lead set missing: {LABELLED_LEADS}")
    with LABELLED_LEADS.open(newline="") as f:
        return [
            (
                Lead.model_validate({k: v for k, v in row.items() if k != "expected_team"}),
                row["expected_team"],
            )
            for row in csv.DictReader(f)
        ]


@tool(
    "lead_routing",
    "Rule-based lead routing to sales teams; accuracy measured on a shipped labelled set",
)
def lead_routing(inp: LeadRoutingInput) -> LeadRoutingOutput:
    leads = list(inp.leads)
    if inp.leads_path:
        leads += [
            Lead.model_validate({k: str(v) for k, v in r.items()}) for r in _records(inp.leads_path)
        ]
    evaluate = inp.evaluate or not leads
    labelled = load_labelled() if evaluate else []
    assignments = []
    for i, lead in enumerate(leads):
        team, rule = route(lead)
        assignments.append(Assignment(lead_id=lead.lead_id or f"#{i + 1}", team=team, rule=rule))
    errors = []
    accuracy = None
    if labelled:
        correct = 0
        for lead, expected in labelled:
            team, rule = route(lead)
            correct += team == expected
            if team != expected:
                errors.append(
                    Assignment(lead_id=lead.lead_id, team=team, rule=rule, expected_team=expected)
                )
        accuracy = correct / len(labelled)
    shown = assignments or [
        Assignment(
            lead_id=lead.lead_id, team=route(lead)[0], rule=route(lead)[1], expected_team=exp
        )
        for lead, exp in labelled
    ]
    counts = {
        t: sum(1 for a in shown if a.team == t) for t in TEAMS if any(a.team == t for a in shown)
    }
    writer = ArtifactWriter(inp, "lead_routing")
    path = writer.path("assignments", "csv")
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["lead_id", "team", "rule", "expected_team"])
        for a in shown:
            w.writerow([a.lead_id, a.team, a.rule, a.expected_team or ""])
    head = f"Routed {len(shown)} leads to {len(counts)} teams" + (
        (
            f"; accuracy {accuracy:.1%} on the {len(labelled)}-lead labelled "
            f"set ({len(errors)} misrouted)."
        )
        if accuracy is not None
        else "."
    )
    recs = [
        f"{e.lead_id}: routed to {e.team}, expected {e.expected_team} ({e.rule})."
        for e in errors[:5]
    ]
    return LeadRoutingOutput(
        headline=head,
        metrics={
            "leads": float(len(shown)),
            "teams": float(len(counts)),
            **({"accuracy": accuracy} if accuracy is not None else {}),
            "discarded": float(counts.get("discard", 0)),
        },
        recommendations=recs or ["Routing matches the policy on every labelled lead."],
        artifacts=writer.written,
        assignments=shown,
        team_counts=counts,
        accuracy=accuracy,
        errors=errors,
        assignments_path=str(path),
    )


# --------------------------------------------------------------------------- revenue_forecast


def _fit_trend_season(y: list[float], period: int) -> tuple[list[float], float, float]:
    """OLS y = a + b*t + s[t % period] (seasonal effects sum to zero)."""
    import numpy as np

    n = len(y)
    t = np.arange(n, dtype=float)
    cols = [np.ones(n), t]
    if period > 1 and n >= 2 * period:
        for k in range(1, period):
            cols.append((t % period == k).astype(float) - (t % period == 0).astype(float))
    X = np.column_stack(cols)
    coef, *_ = np.linalg.lstsq(X, np.asarray(y, dtype=float), rcond=None)
    season = [0.0] * period
    if len(coef) > 2:
        season[1:] = list(coef[2:])
        season[0] = -float(sum(coef[2:]))
    return season, float(coef[0]), float(coef[1])


def forecast_model(name: str, y: list[float], h: int, period: int) -> list[float]:
    n = len(y)
    if name == "naive":
        return [y[-1]] * h
    if name == "seasonal_naive":
        if n < period:
            return [y[-1]] * h
        return [y[n - period + (i % period)] for i in range(h)]
    if name == "drift":
        slope = (y[-1] - y[0]) / (n - 1) if n > 1 else 0.0
        return [y[-1] + slope * (i + 1) for i in range(h)]
    if name == "trend_seasonal":
        season, a, b = _fit_trend_season(y, period)
        return [a + b * (n + i) + season[(n + i) % period] for i in range(h)]
    if name == "holt":
        best: tuple[float, list[float]] | None = None
        for alpha in (0.2, 0.4, 0.6, 0.8):
            for beta in (0.05, 0.1, 0.2, 0.4):
                level, trend, sse = y[0], (y[1] - y[0]) if n > 1 else 0.0, 0.0
                for v in y[1:]:
                    pred = level + trend
                    sse += (v - pred) ** 2
                    new_level = alpha * v + (1 - alpha) * pred
                    trend = beta * (new_level - level) + (1 - beta) * trend
                    level = new_level
                fc = [level + trend * (i + 1) for i in range(h)]
                if best is None or sse < best[0]:
                    best = (sse, fc)
        assert best is not None
        return best[1]
    raise InvalidToolInput(f"unknown model {name}")


MODELS = ("naive", "seasonal_naive", "drift", "holt", "trend_seasonal")


def mape(actual: list[float], pred: list[float]) -> float:
    pairs = [(a, p) for a, p in zip(actual, pred, strict=True) if a != 0]
    return 100.0 * sum(abs(a - p) / abs(a) for a, p in pairs) / len(pairs) if pairs else math.inf


def backtest_model(
    name: str, y: list[float], h: int, period: int, origins: int
) -> tuple[float, list[float]]:
    """Rolling-origin back-test: for each of the last `origins` cut points, fit on the data
    before it and forecast the next h periods; MAPE over all forecasts, plus the errors."""
    actual_all: list[float] = []
    pred_all: list[float] = []
    n = len(y)
    for k in range(origins, 0, -1):
        cut = n - h - (k - 1)
        if cut < max(4, period + 2):
            continue
        pred = forecast_model(name, y[:cut], h, period)
        actual = y[cut : cut + h]
        actual_all += actual
        pred_all += pred[: len(actual)]
    if not actual_all:
        return math.inf, []
    return mape(actual_all, pred_all), [a - p for a, p in zip(actual_all, pred_all, strict=True)]


class RevenueForecastInput(ToolInput):
    history: list[float] = Field(
        default_factory=list, description="revenue per period, oldest first"
    )
    history_path: str | None = Field(
        default=None,
        validation_alias=AliasChoices("history_path", "data_path", "path"),
        description="CSV/Parquet with a revenue (or value) column",
    )
    value_column: str = "revenue"
    period: str = Field(default="month", description="month | quarter (seasonality: 12 or 4)")
    horizon: int = Field(default=4, ge=1, le=36, description="periods to forecast")
    backtest_origins: int = Field(default=4, ge=1, le=24)


class RevenueForecastOutput(ToolOutput):
    model: str = ""
    forecast: list[float] = Field(default_factory=list)
    lower_80: list[float] = Field(default_factory=list)
    upper_80: list[float] = Field(default_factory=list)
    backtest_mape: float = 0.0
    model_errors: dict[str, float] = Field(
        default_factory=dict, description="back-test MAPE % per model"
    )
    forecast_path: str = ""


def _sample_history(inp: RevenueForecastInput, n: int, period: int) -> list[float]:
    rnd = rng(inp, "revenue")
    base, growth = rnd.uniform(2e5, 2e6), rnd.uniform(0.005, 0.03)
    amp = rnd.uniform(0.03, 0.12)
    return [
        round(
            base
            * (1 + growth) ** t
            * (1 + amp * math.sin(2 * math.pi * t / period))
            * (1 + rnd.gauss(0, 0.02)),
            2,
        )
        for t in range(n)
    ]


@tool(
    "revenue_forecast",
    "Revenue forecast with the model chosen by rolling back-test; back-test error (MAPE) reported",
)
def revenue_forecast(inp: RevenueForecastInput) -> RevenueForecastOutput:
    if inp.period not in ("month", "quarter"):
        raise InvalidToolInput("period must be month or quarter")
    period = 12 if inp.period == "month" else 4
    y = [float(v) for v in inp.history]
    source = "given history"
    if inp.history_path:
        df = read_table(inp.history_path)
        col = (
            inp.value_column
            if inp.value_column in df.columns
            else next((c for c in df.columns if df[c].dtype.kind in "fi"), None)
        )
        if col is None:
            raise DataFileError(f"{inp.history_path} has no numeric column for revenue")
        y += [float(v) for v in df[col].dropna().tolist()]
        source = inp.history_path
    if not y:
        y, source = _sample_history(inp, 36 if period == 12 else 16, period), "sample history"
    if len(y) < 6:
        raise InvalidToolInput(f"need at least 6 periods of history, got {len(y)}")
    h = inp.horizon
    errors: dict[str, float] = {}
    residuals: dict[str, list[float]] = {}
    for m in MODELS:
        err, res = backtest_model(m, y, min(h, max(1, len(y) // 4)), period, inp.backtest_origins)
        if math.isfinite(err):
            errors[m] = round(err, 3)
            residuals[m] = res
    if not errors:
        raise InvalidToolInput("history too short to back-test any model; give more periods")
    best = min(errors, key=lambda m: errors[m])
    fc = forecast_model(best, y, h, period)
    res = residuals[best]
    sd = math.sqrt(sum(r * r for r in res) / len(res)) if res else 0.0
    lower = [f - 1.2816 * sd for f in fc]
    upper = [f + 1.2816 * sd for f in fc]
    writer = ArtifactWriter(inp, "revenue_forecast")
    path = writer.path("forecast", "csv")
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "forecast", "lower_80", "upper_80"])
        for i, (a, lo, hi) in enumerate(zip(fc, lower, upper, strict=True)):
            w.writerow([i + 1, round(a, 2), round(lo, 2), round(hi, 2)])
    total = sum(fc)
    recs = [
        (
            f"Plan to {total:,.0f} over the next {h} {inp.period}s ({best} "
            f"model, back-test MAPE {errors[best]:.1f}%)."
        )
    ]
    if errors[best] > 10:
        recs.append("Back-test error is above 10%: treat the forecast as a range, not a number.")
    return RevenueForecastOutput(
        headline=(
            f"Next {h} {inp.period}s: {total:,.0f} total (first {fc[0]:,.0f}) "
            f"by {best}; back-test MAPE {errors[best]:.2f}% over {inp.backtest_origins} "
            f"origins ({source})."
        ),
        metrics={
            "forecast_total": total,
            "backtest_mape": errors[best],
            "history_periods": float(len(y)),
            **{f"mape_{k}": v for k, v in errors.items()},
        },
        recommendations=recs,
        artifacts=writer.written,
        model=best,
        forecast=fc,
        lower_80=lower,
        upper_80=upper,
        backtest_mape=errors[best],
        model_errors=errors,
        forecast_path=str(path),
    )
