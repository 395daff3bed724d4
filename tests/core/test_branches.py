"""Reject branches written the natural way (`after: [signoff]` + `when:
"!approvals.signoff.approved"`) run when the approval is rejected; a `when` that can never
hold given its trigger is refused by the compiler."""

from __future__ import annotations

import pytest
from temporalio.client import Client

from tests.support import start, wait_until_waiting
from workflows.compiler import CompileError, compile_spec
from workflows.models import ApprovalSignal, RunResult


async def test_rejected_approval_runs_the_reject_branch(client: Client) -> None:
    h = await start(client, "reject_branch")
    await wait_until_waiting(h, "signoff")
    await h.signal("reject", ApprovalSignal(step="signoff", by="ed", comment="too long"))
    result: RunResult = await h.result()
    s = result.statuses
    assert s["signoff"] == "rejected"  # the approval keeps its status
    assert s["rework"] == "succeeded"  # dependant with a `when`: evaluated, true
    assert result.outputs["rework"]["echo"] == {"did": "rework", "why": "too long"}
    assert s["publish"] == "skipped" and s["notify"] == "skipped"  # no `when`: skipped


async def test_approved_approval_runs_the_approve_branch(client: Client) -> None:
    h = await start(client, "reject_branch")
    await wait_until_waiting(h, "signoff")
    await h.signal("approve", ApprovalSignal(step="signoff"))
    s = (await h.result()).statuses
    assert s["publish"] == s["notify"] == "succeeded"
    assert s["rework"] == "skipped"


NEVER = {
    "name": "never",
    "version": 1,
    "description": "a reject branch behind a step the rejection skips",
    "steps": [
        {"id": "signoff", "approval": {"prompt": "ok?"}},
        {"id": "publish", "agent": "noop", "mode": "echo", "after": ["signoff"]},
        {
            "id": "rework",
            "agent": "noop",
            "mode": "echo",
            "after": ["publish"],
            "when": "!approvals.signoff.approved",
        },
    ],
}


def test_a_when_that_can_never_hold_is_refused() -> None:
    with pytest.raises(CompileError) as e:
        compile_spec(NEVER, "never.yaml")
    (problem,) = e.value.problems
    assert problem.startswith("never.yaml: step rework: when `!approvals.signoff.approved`")
    assert "`publish` (in after) is skipped whenever `signoff` is rejected" in problem
    assert "put `signoff` in `after` directly" in problem


def test_a_reject_branch_after_the_approval_itself_compiles() -> None:
    ok = dict(NEVER)
    ok["steps"] = [*NEVER["steps"][:2], {**NEVER["steps"][2], "after": ["signoff"]}]
    assert compile_spec(ok, "never.yaml").steps["rework"].when is not None
