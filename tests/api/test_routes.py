"""The HTTP service end to end: real Temporal (the session's dev server, in-process workflow
and noop workers), a real store, keys of two tenants. Every request goes through the app's
middleware, auth, problem details and routes (httpx on the ASGI app)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.settings import ApiSettings
from tests.api.app_support import Api, running_api
from tests.support import eventually


@pytest.fixture(scope="module")
async def api(
    temporal_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Api]:
    home = tmp_path_factory.mktemp("api-home")
    async with running_api(temporal_env, home, tenants=("acme", "globex")) as running:
        yield running


async def _execute(api: Api, who: str = "acme:operator") -> str:
    r = await api.http.post(
        "/v1/workflows/approval_flow/execute",
        json={"params": {"topic": "api", "channels": ["blog"]}},
        headers=api.as_(who),
    )
    assert r.status_code == 202, r.text
    return str(r.json()["execution_id"])


async def _waiting(api: Api, execution_id: str, step: str) -> bool:
    r = await api.http.get(f"/v1/workflows/{execution_id}/status", headers=api.as_("acme:viewer"))
    return r.status_code == 200 and step in r.json()["progress"]["waiting"]


async def test_health_and_templates(api: Api) -> None:
    assert (await api.http.get("/healthz")).json() == {"status": "ok"}
    ready = await api.http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {
        "temporal": "ok",
        "database": "ok",
    }
    names = [t["name"] for t in (await api.http.get("/v1/templates", headers=api.as_("acme:viewer"))).json()]
    assert "content_creation" in names
    one = (await api.http.get("/v1/templates/content_creation", headers=api.as_("acme:viewer"))).json()
    assert one["params"]["properties"]["topic"]["type"] == "string"
    assert one["mermaid"].startswith("flowchart")


async def test_execute_approve_over_http_and_see_it_complete(api: Api) -> None:
    wid = await _execute(api)
    assert wid.startswith("acme.approval_flow.")
    await eventually(lambda: _waiting(api, wid, "review"), what="the run waiting on review")
    inbox = (await api.http.get("/v1/approvals", headers=api.as_("acme:approver"))).json()
    assert any(a["execution_id"] == wid and a["step"] == "review" for a in inbox)
    r = await api.http.post(
        f"/v1/executions/{wid}/decisions",
        json={"step": "review", "decision": "approve", "comment": "ship it"},
        headers=api.as_("acme:approver"),
    )
    assert r.status_code == 200 and r.json()["applied"] is True

    async def done() -> dict[str, object] | None:
        s = (await api.http.get(f"/v1/workflows/{wid}/status", headers=api.as_("acme:viewer"))).json()
        return s if s["progress"]["status"] == "completed" else None

    status = await eventually(done, what="the run to complete")
    review = next(s for s in status["progress"]["steps"] if s["id"] == "review")  # type: ignore[index]
    assert review["decision"]["by"] == "approver@acme"  # the key's principal, never the client's


async def test_a_refused_decision_names_why(api: Api) -> None:
    wid = await _execute(api)
    await eventually(lambda: _waiting(api, wid, "review"), what="waiting")
    r = await api.http.post(
        f"/v1/executions/{wid}/decisions",
        json={"step": "nope", "decision": "approve"},
        headers=api.as_("acme:approver"),
    )
    assert r.status_code == 409 and "unknown step `nope`" in r.json()["detail"]
    assert r.headers["content-type"] == "application/problem+json"
    await api.http.post(f"/v1/executions/{wid}/cancel", headers=api.as_("acme:operator"))


async def test_keys_and_roles(api: Api) -> None:
    r = await api.http.get("/v1/templates")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    r = await api.http.get("/v1/templates", headers={"X-API-Key": "bizos_nope_nope"})
    assert r.status_code == 401
    r = await api.http.post(
        "/v1/workflows/approval_flow/execute", json={"params": {"topic": "x"}}, headers=api.as_("acme:viewer")
    )
    assert r.status_code == 403 and "needs the operator role" in r.json()["detail"]


async def test_another_tenants_execution_is_not_found(api: Api) -> None:
    wid = await _execute(api)
    for method, path, body in (
        ("GET", f"/v1/workflows/{wid}/status", None),
        ("POST", f"/v1/executions/{wid}/cancel", None),
        ("POST", f"/v1/executions/{wid}/resume", {}),
        ("POST", f"/v1/executions/{wid}/decisions", {"step": "review", "decision": "approve"}),
    ):
        r = await api.http.request(method, path, json=body, headers=api.as_("globex:admin"))
        assert r.status_code == 404, (path, r.status_code, r.text)
    inbox = (await api.http.get("/v1/approvals", headers=api.as_("globex:viewer"))).json()
    assert all(not a["execution_id"].startswith("acme.") for a in inbox)
    await api.http.post(f"/v1/executions/{wid}/cancel", headers=api.as_("acme:operator"))


async def test_bad_requests_are_problem_details(api: Api) -> None:
    r = await api.http.post(
        "/v1/workflows/approval_flow/execute", json={"params": {}}, headers=api.as_("acme:operator")
    )
    assert r.status_code == 422 and "topic" in r.json()["detail"]
    r = await api.http.post(
        "/v1/workflows/approval_flow/execute", json={"parms": {}}, headers=api.as_("acme:operator")
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "parms"
    r = await api.http.get("/v1/workflows/approval_flow/execute", headers=api.as_("acme:operator"))
    assert r.status_code == 405 and "POST" in r.json()["detail"]
    big = {"params": {"topic": "x" * (1024 * 1024 + 10)}}
    r = await api.http.post(
        "/v1/workflows/approval_flow/execute", json=big, headers=api.as_("acme:operator")
    )
    assert r.status_code == 413
    r = await api.http.get("/v1/templates/nope", headers=api.as_("acme:viewer"))
    assert r.status_code == 404 and "unknown template `nope`" in r.json()["detail"]


async def test_execute_one_agent_and_wait(api: Api) -> None:
    r = await api.http.post(
        "/v1/agents/noop/execute",
        json={"mode": "echo", "inputs": {"hello": "api"}, "wait": True},
        headers=api.as_("acme:operator"),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["execution_id"].startswith("acme.agent.noop.")
    assert body["result"]["output"]["echo"] == {"hello": "api"}
    r = await api.http.post(
        "/v1/agents/noop/execute", json={"mode": "nope"}, headers=api.as_("acme:operator")
    )
    assert r.status_code == 422 and "no mode `nope`" in r.json()["detail"]


async def test_costs_by_group(api: Api) -> None:
    # Ledger rows as a priced offline run writes them (gpt-4o-mini prices), for two tenants.
    from activities.providers.prices import NANOS_PER_USD, listed_price
    from store.records import CallKey, EstimatedCall

    price = listed_price("openai:gpt-4o-mini")
    for tenant, wid, n in (("acme", "acme.content_creation.c1", 3), ("globex", "globex.x.c2", 1)):
        await api.store.record_estimated_calls(
            [
                EstimatedCall(
                    key=CallKey(
                        tenant=tenant,
                        workflow_id=wid,
                        run_id="r",
                        step_key="draft",
                        request_hash=f"h{i}",
                        call_index=0,
                    ),
                    attempt=1,
                    agent="content_generation",
                    mode="marketing_content",
                    provider="offline",
                    model="offline-policy",
                    tokens_in=1000,
                    tokens_out=500,
                    usd_nanos=round(
                        (1000 * price.in_per_mtok + 500 * price.out_per_mtok)
                        * NANOS_PER_USD
                        / 1e6
                    ),
                    priced_as="openai:gpt-4o-mini",
                )
                for i in range(n)
            ]
        )
    r = await api.http.get("/v1/costs?group_by=template", headers=api.as_("acme:viewer"))
    body = r.json()
    assert r.status_code == 200 and body["tenant"] == "acme"
    line = next(g for g in body["groups"] if g["key"] == "content_creation")
    assert line["calls"] == 3 and line["tokens_in"] == 3000 and line["usd"] > 0
    assert all(g["key"] != "x" for g in body["groups"])  # globex's row is not acme's
    r = await api.http.get("/v1/costs?group_by=nope", headers=api.as_("acme:viewer"))
    assert r.status_code == 422


async def test_metrics(api: Api) -> None:
    await api.http.get("/healthz")
    text = (await api.http.get("/metrics")).text
    assert 'bizos_api_requests_total{method="GET",route="/healthz",status="200"}' in text


def test_openapi_lists_the_routes() -> None:
    app = create_app(ApiSettings(), store=object(), temporal=object())
    paths = set(app.openapi()["paths"])
    assert {"/v1/workflows/{template}/execute", "/v1/agents/{agent_id}/execute"} <= paths


async def test_list_executions_of_the_tenant_only(api: Api) -> None:
    wid = await _execute(api)

    async def listed() -> list[dict[str, object]] | None:
        r = await api.http.get(
            "/v1/executions?template=approval_flow&status=running", headers=api.as_("acme:viewer")
        )
        items = r.json()["items"]
        return items if any(i["execution_id"] == wid for i in items) else None

    items = await eventually(listed, what="the run in the list")
    assert all(str(i["execution_id"]).startswith("acme.") for i in items)
    page = (await api.http.get("/v1/executions?limit=1", headers=api.as_("acme:viewer"))).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    more = await api.http.get(
        f"/v1/executions?limit=1&cursor={page['next_cursor']}", headers=api.as_("acme:viewer")
    )
    assert more.json()["items"][0]["execution_id"] != page["items"][0]["execution_id"]
    other = (await api.http.get("/v1/executions", headers=api.as_("globex:viewer"))).json()
    assert all(not str(i["execution_id"]).startswith("acme.") for i in other["items"])
    await api.http.post(f"/v1/executions/{wid}/cancel", headers=api.as_("acme:operator"))


async def _config_version_scheduled(api: Api, execution_id: str) -> int | None:
    async def scheduled() -> int | None:
        handle = api.temporal.get_workflow_handle(execution_id)
        for e in (await handle.fetch_history()).events:
            if e.HasField("activity_task_scheduled_event_attributes"):
                data = e.activity_task_scheduled_event_attributes.input.payloads[0].data
                return int(json.loads(data)["config_version"]) + 1  # +1: 0 is a version too
        return None

    found = await eventually(scheduled, what="the agent step scheduled")
    return found - 1


async def test_configure_history_diff_and_rollback_reach_new_runs_only(api: Api) -> None:
    who = api.as_("acme:operator")
    r = await api.http.post(
        "/v1/agents/market_research/configure",
        json={"config": {"temperature": 0.1, "tools_off": ["swot_analysis"]}, "note": "calm"},
        headers=who,
    )
    assert r.status_code == 201, r.text
    v1 = r.json()["version"]
    r = await api.http.post(
        "/v1/agents/market_research_001/configure",  # the seed's alias
        json={"config": {"temperature": 0.9, "targets": {"latency_ms": 900}}, "note": "bold"},
        headers=who,
    )
    v2 = r.json()["version"]
    bad = await api.http.post(
        "/v1/agents/market_research/configure",
        json={"config": {"tools_off": ["no_such_tool"]}},
        headers=who,
    )
    assert bad.status_code == 422 and "no_such_tool" in bad.json()["detail"]
    hist = (await api.http.get("/v1/agents/market_research/configurations", headers=who)).json()
    assert hist["active"] == v2
    assert [(h["version"], h["by"]) for h in hist["versions"]][-2:] == [
        (v1, "operator@acme"),
        (v2, "operator@acme"),
    ]
    d = (
        await api.http.get(
            f"/v1/agents/market_research/configurations/diff?from={v1}&to={v2}", headers=who
        )
    ).json()
    assert {"path": "temperature", "from": 0.1, "to": 0.9} in d["changes"]
    # globex sees none of acme's versions
    other = (
        await api.http.get("/v1/agents/market_research/configurations", headers=api.as_("globex:viewer"))
    ).json()
    assert other["versions"] == [] and other["active"] is None

    body = {"mode": "marketing_research", "inputs": {"topic": "pins"}}
    running = (await api.http.post("/v1/agents/market_research/execute", json=body, headers=who)).json()
    assert await _config_version_scheduled(api, running["execution_id"]) == v2
    r = await api.http.post(
        f"/v1/agents/market_research/configurations/{v1}/activate", headers=who
    )
    assert r.status_code == 200
    after = (await api.http.post("/v1/agents/market_research/execute", json=body, headers=who)).json()
    assert await _config_version_scheduled(api, after["execution_id"]) == v1
    # the running one keeps the version it pinned when it started
    assert await _config_version_scheduled(api, running["execution_id"]) == v2
    for wid in (running["execution_id"], after["execution_id"]):
        await api.temporal.get_workflow_handle(wid).terminate("test over")


async def test_agent_status(api: Api) -> None:
    await api.http.post(
        "/v1/agents/noop/execute",
        json={"mode": "echo", "inputs": {"n": 1}, "wait": True},
        headers=api.as_("acme:operator"),
    )

    async def seen() -> dict[str, object] | None:
        s = (await api.http.get("/v1/agents/noop/status", headers=api.as_("acme:viewer"))).json()
        return s if s["recent_executions"] else None

    status = await eventually(seen, what="the agent's run in its status")
    assert status["pool"] == {"task_queue": "bizos-agents-system", "pollers": 1}
    assert status["error_rate"] == 0.0 and "echo" in status["modes"]  # type: ignore[operator]
    none = (await api.http.get("/v1/agents/noop/status", headers=api.as_("globex:viewer"))).json()
    assert none["recent_executions"] == []


async def test_artifacts_only_of_their_execution_and_tenant(api: Api) -> None:
    wid, other = await _execute(api), await _execute(api)
    ref = await api.store.put_blob(
        "acme", b"# the draft\n", "draft.md", workflow_id=wid, run_id="r1"
    )
    listed = (await api.http.get(f"/v1/executions/{wid}/artifacts", headers=api.as_("acme:viewer"))).json()
    assert [a["ref"] for a in listed] == [str(ref)]
    r = await api.http.get(listed[0]["url"], headers=api.as_("acme:viewer"))
    assert r.status_code == 200 and r.content == b"# the draft\n"
    assert 'filename="draft.md"' in r.headers["content-disposition"]
    # the same ref through another execution of the tenant, or by another tenant: not found
    r = await api.http.get(
        listed[0]["url"].replace(wid, other), headers=api.as_("acme:viewer")
    )
    assert r.status_code == 404
    r = await api.http.get(listed[0]["url"], headers=api.as_("globex:admin"))
    assert r.status_code == 404
    for w in (wid, other):
        await api.http.post(f"/v1/executions/{w}/cancel", headers=api.as_("acme:operator"))


async def test_schedules_of_the_tenant(api: Api) -> None:
    who = api.as_("acme:operator")
    r = await api.http.post(
        "/v1/schedules",
        json={
            "schedule_id": "weekly-note",
            "template": "approval_flow",
            "cron": ["0 9 * * MON"],
            "params": {"topic": "weekly"},
            "paused": True,
        },
        headers=who,
    )
    assert r.status_code == 201, r.text
    assert r.json()["tenant"] == "acme" and r.json()["paused"] is True
    bad = await api.http.post(
        "/v1/schedules",
        json={"schedule_id": "x", "template": "approval_flow", "cron": ["61 * * * *"]},
        headers=who,
    )
    assert bad.status_code == 422 and "cron" in bad.json()["detail"]

    async def listed() -> bool:
        rows = (await api.http.get("/v1/schedules", headers=api.as_("acme:viewer"))).json()
        return any(row["schedule_id"] == "acme.weekly-note" for row in rows)

    await eventually(listed, what="the schedule listed")
    others = (await api.http.get("/v1/schedules", headers=api.as_("globex:viewer"))).json()
    assert all(row["tenant"] == "globex" for row in others)
    r = await api.http.delete("/v1/schedules/weekly-note", headers=api.as_("globex:admin"))
    assert r.status_code == 404
    r = await api.http.delete("/v1/schedules/weekly-note", headers=who)
    assert r.status_code == 204


async def test_the_audit_log_says_who_did_what(api: Api) -> None:
    wid = await _execute(api)
    await eventually(lambda: _waiting(api, wid, "review"), what="waiting")
    await api.http.post(
        f"/v1/executions/{wid}/decisions",
        json={"step": "review", "decision": "reject"},
        headers=api.as_("acme:approver"),
    )
    entries = [(e.actor, e.action) for e in await api.store.audit_entries("acme", limit=500) if e.target == wid]
    assert ("operator@acme", "execution.start") in entries
    assert ("approver@acme", "decision") in entries
    assert (await api.store.get_execution("acme", wid)) is not None
    assert await api.store.get_execution("globex", wid) is None


async def test_one_execution_of_either_kind(api: Api) -> None:
    r = await api.http.post(
        "/v1/agents/noop/execute",
        json={"mode": "echo", "inputs": {"k": 2}, "wait": True},
        headers=api.as_("acme:operator"),
    )
    url = r.json()["status_url"]
    got = (await api.http.get(url, headers=api.as_("acme:viewer"))).json()
    assert got["type"] == "AgentStep" and got["status"] == "completed"
    assert got["result"]["output"]["echo"] == {"k": 2}
    wid = await _execute(api)
    got = (await api.http.get(f"/v1/executions/{wid}", headers=api.as_("acme:viewer"))).json()
    assert got["progress"]["template"] == "approval_flow"
    assert (await api.http.get(url, headers=api.as_("globex:viewer"))).status_code == 404
    await api.http.post(f"/v1/executions/{wid}/cancel", headers=api.as_("acme:operator"))
