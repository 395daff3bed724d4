"""Schedules, costs and health pages: schedules made from the form are real Temporal
schedules of the tenant (paused, triggered, deleted from the page); a bad cron or bad params
re-show the form with the field's message and create nothing; the costs page shows what the
ledger holds for a priced offline run, as table and chart, with the budget meter and the
alerts sent; the health page shows the pools' pollers and readiness. Another tenant sees
none of it (404 on its ids); a viewer cannot change anything (403)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import httpx
import pytest
from temporalio.client import ScheduleActionExecutionStartWorkflow

from activities.catalog import CATEGORIES
from api.console.charts import bar_chart_svg, daily_chart_svg
from starters.schedules import SCHEDULE_MEMO_KEY, describe_schedule
from tests.api.app_support import Api
from tests.console.support import Console, signed_in
from tests.support import eventually
from workflows import search_attributes as sa

PRICE_AS = "openai:gpt-4o-mini"


def _widths(svg: str) -> list[float]:
    return [float(w) for w in re.findall(r'<rect class="chart-bar"[^>]* width="([\d.]+)"', svg)]


# ---------------------------------------------------------------- charts (no server)


def test_bar_chart_escapes_labels_and_draws_bars_in_proportion() -> None:
    svg = bar_chart_svg([("<script>alert(1)</script>", 2.0), ('a"b&c', 1.0), ("zero", 0.0)])
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "a&quot;b&amp;c" in svg
    assert "style=" not in svg
    assert 'viewBox="0 0 ' in svg and 'width="100%"' in svg
    big, half, zero = _widths(svg)
    assert big > 0 and half == pytest.approx(big / 2) and zero == 0
    assert svg.count("<title>") == 3 and "$2.00" in svg and "$0.0000" in svg


def test_daily_chart_fills_missing_days_and_scales_columns() -> None:
    svg = daily_chart_svg([(date(2026, 11, 1), 1.0), (date(2026, 11, 4), 4.0)])
    heights = [float(h) for h in re.findall(r'<rect class="chart-bar"[^>]* height="([\d.]+)"', svg)]
    assert len(heights) == 4  # 1, 2 (none), 3 (none), 4 November
    assert heights[1] == heights[2] == 0 and heights[3] == pytest.approx(heights[0] * 4)
    assert "<title>2026-11-02: $0.0000</title>" in svg and "style=" not in svg
    assert "no data" in daily_chart_svg([])


# ---------------------------------------------------------------- schedules


async def _row(api: Api, tenant: str, short: str) -> Any:
    return await describe_schedule(api.temporal, f"{tenant}.{short}")


async def _listing(browser: Console, needle: str) -> httpx.Response:
    """The schedules page once it shows `needle`."""

    async def shown() -> httpx.Response | None:
        page = await browser.get("/admin/schedules")
        assert page.status_code == 200
        return page if needle in page.text else None

    return await eventually(shown, what=f"{needle} on the schedules page")


async def test_schedule_made_in_the_form_is_the_tenants_temporal_schedule(console: Api) -> None:
    short = "console-weekly"
    async with signed_in(console, "acme:operator") as browser:
        # a bad cron and bad params: both fields say what is wrong, what was typed stays
        bad = await browser.post(
            "/admin/schedules",
            {
                "template": "approval_flow",
                "schedule_id": short,
                "cron": "61 * * * *",
                "params": '{"channels": "blog", "tone": 1}',
                "note": "kept <b>note</b>",
            },
        )
        assert bad.status_code == 422
        assert "`61 * * * *`" in bad.text and "minute" in bad.text
        assert "`topic`: required" in bad.text
        assert "`tone`: not a param of approval_flow" in bad.text
        assert 'value="61 * * * *"' in bad.text and "kept &lt;b&gt;note&lt;/b&gt;" in bad.text
        assert "{&#34;channels&#34;: &#34;blog&#34;, &#34;tone&#34;: 1}" in bad.text
        bad_json = await browser.post(
            "/admin/schedules",
            {"template": "approval_flow", "schedule_id": short, "interval": "7m", "params": "{"},
        )
        assert bad_json.status_code == 422 and "not valid JSON" in bad_json.text
        assert "does not divide an hour or a day evenly" in bad_json.text
        assert await _row(console, "acme", short) is None

        r = await browser.post(
            "/admin/schedules",
            {
                "template": "approval_flow",
                "schedule_id": short,
                "cron": "0 9 * * MON",
                "params": '{"topic": "weekly"}',
                "note": "from the console",
            },
        )
        assert r.status_code == 303, r.text
        desc = await _row(console, "acme", short)
        assert desc is not None and not desc.schedule.state.paused
        assert desc.typed_search_attributes.get(sa.TENANT) == "acme"
        assert desc.typed_search_attributes.get(sa.TEMPLATE) == "approval_flow"
        assert (await desc.memo())[SCHEDULE_MEMO_KEY]["origin"] == "cli"
        listed = await browser.get(r.headers["location"])
        assert f'data-testid="schedule-row-{short}"' in listed.text
        assert "0 9 * * MON" in listed.text and "created" in listed.text
        assert "style=" not in listed.text
        again = await browser.post(
            "/admin/schedules",
            {
                "template": "approval_flow",
                "schedule_id": short,
                "interval": "1h",
                "params": '{"topic": "x"}',
            },
        )
        assert again.status_code == 409 and "exists" in again.text

        # another tenant: not listed, its actions are 404
        async with signed_in(console, "globex:admin") as other:
            page = await other.get("/admin/schedules")
            assert short not in page.text
            for action in ("pause", "trigger", "delete"):
                r = await other.post(f"/admin/schedules/{short}/{action}")
                assert r.status_code == 404, action
        # a viewer sees it (once visibility has it: the list lags a moment behind creates)
        # but changes nothing
        async with signed_in(console, "acme:viewer") as viewer:
            page = await _listing(viewer, f"schedule-row-{short}")
            assert f"schedule-pause-{short}" not in page.text
            assert "schedule-create" not in page.text
            for action in ("pause", "trigger", "delete"):
                r = await viewer.post(f"/admin/schedules/{short}/{action}")
                assert r.status_code == 403, action
            r = await viewer.post(
                "/admin/schedules",
                {
                    "template": "approval_flow",
                    "schedule_id": "v",
                    "cron": "@daily",
                    "params": '{"topic": "x"}',
                },
            )
            assert r.status_code == 403 and await _row(console, "acme", "v") is None

        r = await browser.post(f"/admin/schedules/{short}/pause")
        assert r.status_code == 303
        desc = await _row(console, "acme", short)
        assert desc is not None and desc.schedule.state.paused
        page = await _listing(browser, f'data-testid="schedule-unpause-{short}"')
        assert "paused" in page.text
        await browser.post(f"/admin/schedules/{short}/unpause")
        desc = await _row(console, "acme", short)
        assert desc is not None and not desc.schedule.state.paused

        r = await browser.post(f"/admin/schedules/{short}/trigger")
        assert r.status_code == 303

        async def started() -> str | None:
            d = await _row(console, "acme", short)
            acts = [a.action for a in d.info.recent_actions] if d else []
            ids = [
                a.workflow_id for a in acts if isinstance(a, ScheduleActionExecutionStartWorkflow)
            ]
            return ids[0] if ids else None

        wid = await eventually(started, what="the triggered run")
        assert wid.startswith(f"acme.approval_flow.acme.{short}-")
        run = console.temporal.get_workflow_handle(wid)
        assert (await run.describe()).typed_search_attributes.get(sa.TENANT) == "acme"
        await _listing(browser, wid)
        await run.terminate("test over")

        r = await browser.post(f"/admin/schedules/{short}/delete")
        assert r.status_code == 303
        assert await _row(console, "acme", short) is None
        page = await browser.get("/admin/schedules")
        assert f"schedule-row-{short}" not in page.text and "deleted" in page.text


async def test_v1_pause_unpause_and_trigger_are_tenant_scoped_and_audited(console: Api) -> None:
    who = console.as_("acme:operator")
    r = await console.http.post(
        "/v1/schedules",
        json={
            "schedule_id": "api-nightly",
            "template": "approval_flow",
            "cron": ["@daily"],
            "params": {"topic": "nightly"},
        },
        headers=who,
    )
    assert r.status_code == 201, r.text
    try:
        for path in ("pause", "unpause", "trigger"):
            r = await console.http.post(
                f"/v1/schedules/api-nightly/{path}", headers=console.as_("globex:admin")
            )
            assert r.status_code == 404, path
            r = await console.http.post(
                f"/v1/schedules/api-nightly/{path}", headers=console.as_("acme:viewer")
            )
            assert r.status_code == 403, path
        r = await console.http.post(
            "/v1/schedules/api-nightly/pause", json={"note": "holiday"}, headers=who
        )
        assert r.status_code == 200 and r.json()["paused"] is True
        assert r.json()["note"] == "holiday"
        r = await console.http.post("/v1/schedules/api-nightly/unpause", headers=who)
        assert r.status_code == 200 and r.json()["paused"] is False
        r = await console.http.post("/v1/schedules/api-nightly/trigger", headers=who)
        assert r.status_code == 202
        actions = {e.action for e in await console.store.audit_entries("acme", limit=50)}
        assert {"schedule.pause", "schedule.unpause", "schedule.trigger"} <= actions
    finally:
        desc = await _row(console, "acme", "api-nightly")
        for a in desc.info.recent_actions if desc else []:
            if isinstance(a.action, ScheduleActionExecutionStartWorkflow):
                await console.temporal.get_workflow_handle(a.action.workflow_id).terminate()
        await console.http.delete("/v1/schedules/api-nightly", headers=who)


# ---------------------------------------------------------------- costs


def _cell(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{re.escape(testid)}"[^>]*>(.*?)</tr>', html, re.S)
    assert found, f"no {testid} in the page"
    return found.group(1)


async def test_costs_show_a_priced_run_the_budget_meter_and_its_alerts(console: Api) -> None:
    # a tenant of this test only, with a budget the first priced run overspends
    tenant = "initech"
    await console.store.create_tenant(tenant, monthly_budget_usd=0.000001)
    for role in ("operator", "viewer"):
        _, raw = await console.store.create_key(tenant, f"{role}@{tenant}", role)
        console.keys[f"{tenant}:{role}"] = raw
    who = console.as_(f"{tenant}:operator")
    body = {
        "mode": "marketing_research",
        "inputs": {"topic": "pins", "region": "EU"},
        "price_as": PRICE_AS,
        "wait": True,
    }
    r = await console.http.post("/v1/agents/market_research/execute", json=body, headers=who)
    assert r.status_code == 200, r.text
    assert r.json()["result"]["cost_usd"] > 0
    # the month's budget is spent now: the next start is refused and the alerts are sent
    r = await console.http.post("/v1/agents/market_research/execute", json=body, headers=who)
    assert r.status_code == 402

    lines = await console.store.costs_by(tenant, "agent")
    assert [line.key for line in lines] == ["market_research"]
    total = lines[0].usd
    shown = f"${total:,.4f}"
    async with signed_in(console, f"{tenant}:viewer") as browser:
        page = await browser.get("/admin/costs")
        assert page.status_code == 200
        assert shown in _cell(page.text, "costs-row-market_research")
        chart = page.text.split('data-testid="costs-chart"', 1)[1].split("</figure>", 1)[0]
        assert "<svg" in chart and f"market_research: {shown}</title>" in chart
        assert 'class="meter over" data-testid="budget-meter"' in page.text
        assert all(f"{t} % reached" in page.text for t in (75, 90, 100))
        assert "style=" not in page.text
        assert "error-rate-agent.market_research" in page.text

        by_model = await browser.get("/admin/costs?group_by=model")
        assert 'data-testid="costs-group-model"' in by_model.text
        model = (await console.store.costs_by(tenant, "model"))[0].key
        assert shown in _cell(by_model.text, f"costs-row-{model}")
        today = date.today().isoformat()
        by_day = await browser.get(f"/admin/costs?group_by=day&since={today}&until={today}")
        assert shown in _cell(by_day.text, f"costs-row-{today}")
        assert "chart-daily" in by_day.text
        empty = await browser.get("/admin/costs?since=2001-01-01&until=2001-01-02")
        assert "costs-row-market_research" not in empty.text and "Nothing spent" in empty.text
        wrong = await browser.get("/admin/costs?since=yesterday")
        assert wrong.status_code == 422 and "is not a date" in wrong.text

    for other in ("globex:viewer", "acme:viewer"):
        theirs = {line.key for line in await console.store.costs_by(other.split(":")[0], "agent")}
        async with signed_in(console, other) as browser:
            page = await browser.get("/admin/costs")
        assert page.status_code == 200
        if "market_research" not in theirs:  # nothing of initech's shows
            assert "costs-row-market_research" not in page.text
            assert "error-rate-agent.market_research" not in page.text


# ---------------------------------------------------------------- health


async def test_health_shows_every_pools_pollers_and_readiness(console: Api) -> None:
    async with signed_in(console, "acme:viewer") as browser:

        async def polled() -> str | None:
            page = await browser.get("/admin/health")
            assert page.status_code == 200
            counts = {
                pool: int(n)
                for kind, pool, n in re.findall(
                    r'data-testid="pool-(workflow|activity)-pollers-([a-z_]+)">(\d+)<', page.text
                )
                if (kind == "workflow") == (pool == "workflows")
            }
            wanted = {"workflows", *CATEGORIES}
            return page.text if set(counts) == wanted and all(counts.values()) else None

        html = await eventually(polled, what="pollers on every pool")
        assert all(f'data-testid="pool-row-{p}"' in html for p in ("workflows", *CATEGORIES))
        assert 'data-testid="readiness"' in html
        assert re.search(r'data-testid="readiness-temporal"><span class="badge status-ok">', html)
        assert re.search(r'data-testid="readiness-database"><span class="badge status-ok">', html)
        assert "style=" not in html
