"""The executions pages: the tenant's run history with filters (estimates hidden unless
asked), one run's DAG with its step states, steps, cost and actions (cancel, resume), and
its agent activity as server-sent events resumed from `Last-Event-ID`. Runs are started
through the `/v1` API as acme; another tenant sees none of it (404) and a viewer cannot
cancel or resume (403)."""

from __future__ import annotations

import re
from html import unescape as html_unescape
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus

from api.console.pages import executions as executions_pages
from starters.runs import start_run
from store.activity_events import NewActivityEvent
from tests.api.app_support import Api
from tests.console.support import signed_in
from tests.support import eventually
from workflows.models import Progress, RunInput
from workflows.registry import default_registry


async def _execute(console: Api, template: str = "approval_flow", **params: Any) -> str:
    r = await console.http.post(
        f"/v1/workflows/{template}/execute",
        json={"params": params or {"topic": "console", "channels": ["blog"]}},
        headers=console.as_("acme:operator"),
    )
    assert r.status_code == 202, r.text
    return str(r.json()["execution_id"])


async def _waiting(console: Api, wid: str, step: str = "review") -> None:
    async def check() -> bool:
        p = await console.temporal.get_workflow_handle(wid).query("progress", result_type=Progress)
        return step in p.waiting

    await eventually(check, what=f"{wid} waiting on {step}")


async def _status(console: Api, wid: str) -> WorkflowExecutionStatus | None:
    return (await console.temporal.get_workflow_handle(wid).describe()).status


async def _cancel(console: Api, *wids: str) -> None:
    for wid in wids:
        await console.http.post(
            f"/v1/executions/{wid}/cancel", headers=console.as_("acme:operator")
        )


def _sse(body: str) -> tuple[list[int], list[str]]:
    """(event ids in order, event names in order) of an event-stream body."""
    ids, names = [], []
    for message in body.split("\n\n"):
        for line in message.splitlines():
            if line.startswith("id: "):
                ids.append(int(line[4:]))
            elif line.startswith("event: "):
                names.append(line[7:])
    return ids, names


async def test_history_filters_and_one_run_with_its_dag_and_steps(
    console: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    waiting = await _execute(console)
    r = await console.http.post(
        "/v1/agents/noop/execute",
        json={
            "mode": "echo",
            "inputs": {"k": "<script>alert(1)</script>", "cost_usd": 0.25},
            "wait": True,
        },
        headers=console.as_("acme:operator"),
    )
    agent_run = str(r.json()["execution_id"])
    estimate = await start_run(
        console.temporal,
        default_registry().by_name("approval_flow"),
        RunInput(params={"topic": "priced"}, tenant="acme", price_as="chain"),
        key="estimate-console1",
    )
    await _waiting(console, waiting)
    async with signed_in(console, "acme:viewer") as browser:

        async def listed(query: str, *present: str) -> str | None:
            page = await browser.get(f"/admin/executions?{query}")
            assert page.status_code == 200, page.text
            rows = page.text
            return (
                rows if all(f'data-testid="execution-row-{w}"' in rows for w in present) else None
            )

        by_template = await eventually(
            lambda: listed("template=approval_flow&status=running", waiting),
            what="the waiting run in the filtered list",
        )
        assert 'data-testid="filter-form"' in by_template
        assert f'data-testid="execution-row-{agent_run}"' not in by_template
        assert f'data-testid="execution-row-{estimate.id}"' not in by_template  # hidden
        assert 'data-testid="waiting-marker"' in by_template
        completed = await eventually(
            lambda: listed("status=completed&agent=noop", agent_run), what="the agent run"
        )
        assert f'data-testid="execution-row-{waiting}"' not in completed  # it is running
        shown = await eventually(
            lambda: listed("template=approval_flow&estimates=1", estimate.id, waiting),
            what="the estimate, when asked for",
        )
        assert 'data-testid="estimate-marker"' in shown
        bad = await browser.get("/admin/executions?since=yesterday")
        assert bad.status_code == 422 and "is not a date" in bad.text
        monkeypatch.setattr(executions_pages, "PAGE_SIZE", 1)
        newest = await browser.get("/admin/executions?template=approval_flow&estimates=1")
        older = re.search(r'href="([^"]+)" data-testid="older"', newest.text)
        assert older and newest.text.count('data-testid="execution-row-') == 1
        following = await browser.get(html_unescape(older.group(1)))
        assert following.text.count('data-testid="execution-row-') == 1
        first = re.findall(r'data-testid="execution-row-([^"]+)"', newest.text)
        assert first != re.findall(r'data-testid="execution-row-([^"]+)"', following.text)
        assert "template=approval_flow" in older.group(1)  # the filters carry over
        monkeypatch.undo()

        detail = await browser.get(f"/admin/executions/{waiting}")
        assert detail.status_code == 200, detail.text
        html = detail.text
        assert 'data-testid="dag"' in html and "<svg" in html
        draft = re.search(r'<g [^>]*data-step="draft"[^>]*>', html)
        review = re.search(r'<g [^>]*data-step="review"[^>]*>', html)
        assert draft and "state-completed" in draft.group(0)
        assert review and "state-waiting" in review.group(0)
        assert 'data-testid="step-row-draft" data-status="completed"' in html
        assert 'data-testid="step-row-review" data-status="waiting"' in html
        assert 'data-testid="exec-cost">$0.0000' in html
        assert 'data-testid="exec-status" data-status="running"' in html
        assert "waiting for a person: review" in html
        assert 'data-testid="temporal-link"' in html and "/workflows/" in html
        assert f'data-src="/admin/executions/{waiting}/events"' in html
        assert 'data-testid="cancel"' not in html  # a viewer gets no operator buttons
        fragment = await browser.get(f"/admin/executions/{waiting}/fragment")
        assert 'data-finished="0"' in fragment.text and "<html" not in fragment.text
        assert 'data-testid="step-row-review"' in fragment.text

        one = await browser.get(f"/admin/executions/{agent_run}")
        assert one.status_code == 200 and 'data-testid="exec-agent">noop / echo' in one.text
        assert 'data-testid="agent-result"' in one.text and 'data-testid="dag"' not in one.text
        assert 'data-testid="exec-cost">$0.2500' in one.text
        assert "<script>alert(1)</script>" not in one.text  # the output is escaped
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in one.text
    await _cancel(console, waiting, estimate.id)


async def test_cancel_and_resume_from_the_page(console: Api) -> None:
    wid = await _execute(console)
    await _waiting(console, wid)
    async with signed_in(console, "acme:viewer") as viewer:
        refused = await viewer.post(f"/admin/executions/{wid}/cancel")
        assert refused.status_code == 403 and "operator" in refused.text
    async with signed_in(console, "acme:operator") as browser:
        page = await browser.get(f"/admin/executions/{wid}")
        form = re.search(
            r'<form [^>]*/cancel"[^>]*data-confirm="[^"]+">(.*?)</form>', page.text, re.S
        )
        assert form, "no cancel form asking for confirmation"
        assert f'value="{browser.csrf}"' in form.group(1) and 'data-testid="cancel"' in form.group(
            1
        )
        r = await browser.post(f"/admin/executions/{wid}/cancel")
        assert r.status_code == 303 and r.headers["location"] == f"/admin/executions/{wid}"

        async def cancelled() -> bool:
            return await _status(console, wid) == WorkflowExecutionStatus.CANCELED

        await eventually(cancelled, what="the run cancelled in Temporal")
        after = await browser.get(f"/admin/executions/{wid}")
        assert "Cancel requested" in after.text  # the flash
        assert 'data-testid="resume"' in after.text and 'data-testid="cancel"' not in after.text
        assert 'data-testid="exec-status" data-status="cancelled"' in after.text
        fragment = await browser.get(f"/admin/executions/{wid}/fragment")
        assert 'data-finished="1"' in fragment.text  # the page stops refreshing
        async with signed_in(console, "acme:viewer") as viewer:
            assert (await viewer.post(f"/admin/executions/{wid}/resume")).status_code == 403
        r = await browser.post(f"/admin/executions/{wid}/resume")
        assert r.status_code == 303 and r.headers["location"] == f"/admin/executions/{wid}~r1"
        await _waiting(console, f"{wid}~r1")
        resumed = await browser.get(f"/admin/executions/{wid}~r1")
        assert f"Resumed {wid} as {wid}~r1" in resumed.text
        assert 'data-testid="step-row-draft" data-status="completed"' in resumed.text
    await _cancel(console, f"{wid}~r1")


async def test_activity_events_replay_after_last_event_id_and_end(console: Api) -> None:
    r = await console.http.post(
        "/v1/agents/noop/execute",
        json={"mode": "echo", "inputs": {"k": 1}, "wait": True},
        headers=console.as_("acme:operator"),
    )
    wid = str(r.json()["execution_id"])
    run_id = (await console.temporal.get_workflow_handle(wid).describe()).run_id
    await console.store.append_activity_events(
        [
            NewActivityEvent(
                workflow_id=wid,
                run_id=run_id if i != 2 else "an-earlier-run-of-the-same-id",
                step="agent",
                attempt=1,
                seq=1000 + i,
                kind="tool_finished",
                agent="noop",
                payload={"tool": "probe", "result": f"<b>{i}</b>"},
            )
            for i in range(6)
        ]
    )
    stored = [e.id for e in await console.store.list_activity_events(wid) if e.run_id == run_id]
    assert len(stored) >= 5
    async with signed_in(console, "acme:viewer") as browser:
        everything = await browser.get(f"/admin/executions/{wid}/events")
        assert everything.headers["content-type"].startswith("text/event-stream")
        assert everything.headers["cache-control"] == "no-cache"
        ids, names = _sse(everything.text)
        assert ids == stored and names[-1] == "end"  # every event once, then the end
        middle = stored[-3]
        async with browser.http.stream(
            "GET",
            f"/admin/executions/{wid}/events",
            headers={"Accept": "text/event-stream", "Last-Event-ID": str(middle)},
        ) as stream:
            body = "".join([chunk async for chunk in stream.aiter_text()])
        ids, names = _sse(body)
        assert ids == stored[-2:] and names[-1] == "end"
        after = await browser.get(f"/admin/executions/{wid}/events?after={stored[0]}")
        assert _sse(after.text)[0] == stored[1:]


async def test_another_tenant_sees_none_of_it(console: Api) -> None:
    wid = await _execute(console)
    async with signed_in(console, "globex:admin") as other:
        for path in ("", "/fragment", "/events"):
            r = await other.get(f"/admin/executions/{wid}{path}")
            assert r.status_code == 404, (path, r.status_code)
        for action in ("cancel", "resume"):
            r = await other.post(f"/admin/executions/{wid}/{action}")
            assert r.status_code == 404, (action, r.status_code)
        listed = await other.get("/admin/executions")
        assert wid not in listed.text
    assert await _status(console, wid) == WorkflowExecutionStatus.RUNNING
    await _cancel(console, wid)


async def test_a_real_agent_steps_activity_is_on_the_page_stream(console: Api) -> None:
    wid = await _execute(console, "cost_probe", topic="electric bikes")
    await _waiting(console, wid)  # research has run on the real agent loop (offline)
    await _cancel(console, wid)

    async def cancelled() -> bool:
        return await _status(console, wid) == WorkflowExecutionStatus.CANCELED

    await eventually(cancelled, what="the run cancelled")
    async with signed_in(console, "acme:viewer") as browser:
        body = (await browser.get(f"/admin/executions/{wid}/events")).text
        page = (await browser.get(f"/admin/executions/{wid}")).text
        files = re.search(r'data-testid="artifacts-research">\s*<li><a href="([^"]+)"', page)
        assert files, "the research step's file is not linked"
        assert (await browser.get(html_unescape(files.group(1)))).status_code == 200
    ids, names = _sse(body)
    assert ids == sorted(set(ids)) and names[-1] == "end"
    assert names[0] == "step_started" and "step_finished" in names
    assert '"step": "research"' in body and '"agent": "market_research"' in body
