"""Decisions through the API against a run with approver levels and outputs bound to the
decision: the workflow refuses a principal outside the level's group and a stale or missing
digest (409 with its reason); the approvals inbox shows level, group, approvers, deadline,
digest and round; the decision log lists every decision per run and per approver, tenant by
tenant."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner, Result

from starters.cli import app
from tests.conftest import server_address
from tests.hitl.conftest import Hitl
from tests.hitl.support import EDITOR, OUTSIDER, start, waiting_at
from tests.support import eventually


def _decision(digest: str | None, decision: str = "approve", **extra: Any) -> dict[str, Any]:
    return {"step": "review", "decision": decision, "digest": digest, **extra}


async def test_a_wrong_approver_and_a_stale_digest_are_refused_with_the_reason(
    hitl: Hitl,
) -> None:
    api = hitl.api
    handle = await start(api.temporal, hitl.reg)
    state = await waiting_at(handle)
    url = f"/v1/executions/{handle.id}/decisions"

    # operator@acme may approve by role, but is not in the editors' group of level 1
    r = await api.http.post(url, json=_decision(state.digest), headers=api.as_("acme:operator"))
    assert r.status_code == 409, r.text
    problem = r.json()
    assert problem["type"].endswith("/decision-refused")
    assert OUTSIDER in problem["detail"] and "editors" in problem["detail"]

    stale = "sha256:" + "0" * 64
    r = await api.http.post(url, json=_decision(stale), headers=api.as_("acme:approver"))
    assert r.status_code == 409 and "digest" in r.json()["detail"]
    r = await api.http.post(url, json=_decision(None), headers=api.as_("acme:approver"))
    assert r.status_code == 409 and "digest" in r.json()["detail"]
    r = await api.http.post(
        url, json=_decision(state.digest, "revise"), headers=api.as_("acme:approver")
    )
    assert r.status_code == 422 and "feedback" in r.json()["detail"]
    assert (await waiting_at(handle)).decision is None  # nothing of that was taken

    r = await api.http.post(url, json=_decision(state.digest), headers=api.as_("acme:approver"))
    assert r.status_code == 200, r.text
    assert r.json()["applied"] is True and r.json()["level"] == 0
    await handle.result()


async def test_the_inbox_shows_the_level_and_the_log_lists_decisions_per_run_and_approver(
    hitl: Hitl,
) -> None:
    api = hitl.api
    handle = await start(api.temporal, hitl.reg)
    state = await waiting_at(handle)

    inbox = await api.http.get("/v1/approvals", headers=api.as_("acme:approver"))
    assert inbox.status_code == 200
    [item] = [a for a in inbox.json() if a["execution_id"] == handle.id]
    assert item["level"] == 0 and item["levels"] == 2 and item["group"] == "editors"
    assert item["approvers"] == [EDITOR] and item["digest"] == state.digest
    assert item["round"] == 0 and item["max_revisions"] == 2 and item["bind"] == ["draft"]
    assert item["deadline"] is not None
    other = await api.http.get("/v1/approvals", headers=api.as_("globex:admin"))
    assert all(a["execution_id"] != handle.id for a in other.json())

    url = f"/v1/executions/{handle.id}/decisions"
    revise = _decision(state.digest, "revise", comment="add a summary")
    assert (await api.http.post(url, json=revise, headers=api.as_("acme:approver"))).is_success
    second = await waiting_at(handle, round=1)
    approve = _decision(second.digest, comment="good now")
    assert (await api.http.post(url, json=approve, headers=api.as_("acme:approver"))).is_success
    await handle.result()

    async def logged() -> list[dict[str, Any]] | None:
        r = await api.http.get(url, headers=api.as_("acme:viewer"))
        assert r.status_code == 200, r.text
        rows = [d for d in r.json() if d["step"] == "review"]
        return rows if len(rows) >= 2 else None

    rows = await eventually(logged, what="both decisions in the log")
    assert [(d["kind"], d["round"], d["by"], d["via"]) for d in rows] == [
        ("approve", 1, EDITOR, "api"),
        ("revise", 0, EDITOR, "api"),
    ]
    assert rows[1]["comment"] == "add a summary" and rows[1]["digest"] == state.digest
    assert rows[0]["digest"] == second.digest and rows[0]["group"] == "editors"

    mine = await api.http.get(
        "/v1/decisions", params={"by": EDITOR}, headers=api.as_("acme:viewer")
    )
    assert {(d["workflow_id"], d["kind"]) for d in mine.json()} >= {
        (handle.id, "revise"),
        (handle.id, "approve"),
    }
    assert all(d["by"] == EDITOR for d in mine.json())

    # Another tenant: the run is 404, and its log holds nothing of acme's.
    assert (await api.http.get(url, headers=api.as_("globex:admin"))).status_code == 404
    theirs = await api.http.get(
        "/v1/decisions", params={"by": EDITOR}, headers=api.as_("globex:admin")
    )
    assert theirs.status_code == 200 and theirs.json() == []
    unknown = await api.http.get(
        "/v1/executions/acme.hitl_review.nope/decisions", headers=api.as_("acme:viewer")
    )
    assert unknown.status_code == 404


async def test_the_cli_revises_and_approves_with_the_digest_it_reads_and_lists_the_log(
    hitl: Hitl, temporal_env: WorkflowEnvironment
) -> None:
    api = hitl.api
    handle = await start(api.temporal, hitl.reg)
    first = await waiting_at(handle)
    runner = CliRunner()
    env = {
        "TEMPORAL_ADDRESS": server_address(temporal_env),
        "TEMPORAL_NAMESPACE": api.temporal.namespace,
        "BIZOS_HOME": str(api.store.settings.home),
    }

    async def bizos(*args: str) -> Result:
        return await asyncio.to_thread(runner.invoke, app, list(args), env=env)

    revised = await bizos(
        "revise", handle.id, "review", "--feedback", "tighter", "--by", EDITOR, "--digest", "auto"
    )
    assert revised.exit_code == 0, revised.output
    assert "asked for a revision of review" in revised.output
    second = await waiting_at(handle, round=1)
    assert second.digest != first.digest
    stale = await bizos(
        "approve", handle.id, "review", "--by", EDITOR, "--digest", first.digest or ""
    )
    assert stale.exit_code == 1 and "digest" in stale.output  # refused: the draft changed
    approved = await bizos("approve", handle.id, "review", "--by", EDITOR, "--digest", "auto")
    assert approved.exit_code == 0, approved.output
    await handle.result()

    async def logged() -> list[dict[str, Any]] | None:
        shown = await bizos("decisions", handle.id, "-o", "json")
        rows = [r for r in json.loads(shown.stdout) if r["step"] == "review"]
        return rows if len(rows) == 2 else None

    rows = await eventually(logged, what="the CLI's decisions in the log")
    assert [(r["kind"], r["via"], r["round"], r["comment"]) for r in rows] == [
        ("approve", "cli", 1, ""),
        ("revise", "cli", 0, "tighter"),
    ]
