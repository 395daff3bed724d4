"""Costs: the tenant's ledger grouped by agent, template, provider, model or day over an
optional date range, as a table and a chart (server-drawn SVG); the monthly budget and this
month's spend as a meter with the alerts already sent (the audit log's `budget.alert`
entries); the error rate per template over the last 7 days (Temporal visibility)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.admission import ALERT_ACTION, month_bounds
from api.console.charts import bar_chart_svg, daily_chart_svg
from api.console.pages.health import error_summary
from api.console.render import page
from api.console.session import ConsoleUser, Viewer
from api.routes.costs import GROUPS, GroupBy, cost_report

router = APIRouter()
CHART_BARS = 25  # the chart shows the biggest groups; the table shows them all
GROUP_LABELS = {
    "agent": "Agent",
    "template": "Template",
    "provider": "Provider",
    "model": "Model",
    "day": "Day",
}


def _day(text: str, field: str, errors: dict[str, str]) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors[field] = f"`{text}` is not a date (YYYY-MM-DD)"
        return None


def meter_class(pct: float) -> str:
    """`over` at 100 % and beyond, `high` from 75 %, else none."""
    return "over" if pct >= 100 else "high" if pct >= 75 else ""


def meter_step(pct: float) -> int:
    """The width class (`w0` … `w100`, steps of 5) for a share of the budget."""
    return 0 if pct <= 0 else min(100, int(-(-pct // 5) * 5))


async def budget_use(request: Request, user: ConsoleUser) -> dict[str, Any]:
    """The monthly budget, this calendar month's spend (UTC, as admission counts it) and
    the alerts already sent this month."""
    store = request.app.state.store
    start, end = month_bounds(datetime.now(UTC))
    month = start.strftime("%Y-%m")
    info, lines, audit = await asyncio.gather(
        store.get_tenant(user.tenant),
        store.costs_by(user.tenant, "day", since=start, until=end),
        store.audit_entries(user.tenant, action=ALERT_ACTION, since=start),
    )
    spent = sum(line.usd_nanos for line in lines) / 1e9
    budget = getattr(info, "monthly_budget_usd", None)
    pct: float | None = None
    if budget is not None:
        pct = spent / budget * 100 if budget > 0 else 100.0  # $0: nothing may be spent
    alerts = sorted(
        (
            {
                "threshold": e.detail.get("threshold_pct"),
                "spent": e.detail.get("spent_usd"),
                "budget": e.detail.get("budget_usd"),
                "at": e.at,
            }
            for e in audit
            if e.detail.get("month") == month
        ),
        key=lambda a: a["at"],
    )
    return {
        "month": month,
        "budget": budget,
        "spent": spent,
        "pct": pct,
        "meter_class": meter_class(pct) if pct is not None else "",
        "meter_step": meter_step(pct) if pct is not None else 0,
        "alerts": alerts,
    }


@router.get("/costs")
async def costs_page(
    request: Request, user: Viewer, group_by: str = "agent", since: str = "", until: str = ""
) -> HTMLResponse:
    errors: dict[str, str] = {}
    if group_by not in GROUPS:
        errors["group_by"] = f"group by one of {', '.join(GROUPS)}"
        group_by = "agent"
    first, last = _day(since, "since", errors), _day(until, "until", errors)
    if first and last and last < first:
        errors["until"] = "the range ends before it starts"
        last = None
    since_at = datetime.combine(first, time(), UTC) if first else None
    # `until` is inclusive on the page: the ledger query ends at the next midnight
    until_at = datetime.combine(last + timedelta(days=1), time(), UTC) if last else None
    report, budget, error_rate = await asyncio.gather(
        cost_report(
            request.app.state.store,
            user.tenant,
            cast(GroupBy, group_by),  # checked against GROUPS above
            since=since_at,
            until=until_at,
        ),
        budget_use(request, user),
        error_summary(request, user),
    )
    groups = report["groups"]
    if group_by == "day":
        groups = sorted(groups, key=lambda g: g["key"])
        chart = daily_chart_svg([(date.fromisoformat(g["key"]), g["usd"]) for g in groups])
    else:
        chart = bar_chart_svg([(g["key"], g["usd"]) for g in groups[:CHART_BARS]])
    return await page(
        request,
        user,
        "costs/index.html",
        {
            "group_by": group_by,
            "groups": groups,
            "total": report["total_usd"],
            "chart": chart,
            "chart_capped": group_by != "day" and len(groups) > CHART_BARS,
            "since": first.isoformat() if first else since if "since" in errors else "",
            "until": until if "until" in errors else (last.isoformat() if last else ""),
            "errors": errors,
            "labels": GROUP_LABELS,
            "budget": budget,
            "errors_summary": error_rate,
        },
        status=422 if errors else 200,
        section="costs",
    )
