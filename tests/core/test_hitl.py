"""Human decisions that hold up: escalation levels with their own timeouts (on the
time-skipping server), approver groups snapshotted per level, decisions bound to the digest
of what was seen, revise rounds that re-run the loop with the feedback, and the store's
decision log — on the real servers, with the store the workers use."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from store import Store
from store.records import ApproverMember
from tests.core.conftest import start_time_skipping
from tests.support import eventually, progress
from worker.pools import build_worker
from workflows.models import (
    WORKFLOWS_TASK_QUEUE,
    Decision,
    DecisionReceipt,
    Progress,
    RunInput,
    RunResult,
    StepProgress,
)
from workflows.registry import SpecRegistry


@pytest.fixture(scope="module")
async def store() -> AsyncIterator[Store]:
    """The store the in-process workers' local activities use (settings from the env)."""
    s = await Store.open()
    try:
        yield s
    finally:
        await s.close()


async def tenant_with_groups(store: Store) -> str:
    tenant = f"hitl-{uuid.uuid4().hex[:8]}"
    await store.create_tenant(tenant)
    await store.put_approver_group(tenant, "editors", [ApproverMember(principal="alice")])
    await store.put_approver_group(tenant, "directors", [ApproverMember(principal="dana")])
    return tenant


async def start(client: Client, tenant: str, topic: str = "durable agents") -> WorkflowHandle:
    return await client.start_workflow(
        "Hitl",
        RunInput(params={"topic": topic}, tenant=tenant),
        id=f"{tenant}.hitl.{uuid.uuid4().hex[:8]}",
        task_queue=WORKFLOWS_TASK_QUEUE,
        result_type=RunResult,
    )


def review(p: Progress) -> StepProgress:
    return next(s for s in p.steps if s.id == "review")


async def asking(handle: WorkflowHandle, *, level: int = 0, round: int = 0) -> StepProgress:
    async def check() -> StepProgress | None:
        p = await progress(handle)
        if not p.steps:
            assert p.status == "running", f"the run ended: {p}"
            return None
        r = review(p)
        return r if r.status == "waiting" and (r.level, r.round) == (level, round) else None

    return await eventually(check, what=f"review waiting at level {level}, round {round}")


async def decide(handle: WorkflowHandle, **d: Any) -> DecisionReceipt:
    d.setdefault("step", "review")
    d.setdefault("via", "api")
    return await handle.execute_update("decide", Decision(**d), result_type=DecisionReceipt)


async def refused(handle: WorkflowHandle, **d: Any) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as e:
        await decide(handle, **d)
    return str(e.value.cause)


# ---------------------------------------------------------------- on the dev server


async def test_a_decision_is_bound_to_the_digest_and_the_levels_group(
    client: Client, registry: SpecRegistry, store: Store
) -> None:
    tenant = await tenant_with_groups(store)
    h = await start(client, tenant)
    r = await asking(h)
    assert (r.levels, r.group, r.approvers, r.bind) == (2, "editors", ["alice"], ["polish"])
    assert r.digest is not None and r.digest.startswith("sha256:")
    assert r.deadline is not None

    # someone outside the level's group is refused, with who may decide
    why = await refused(h, decision="approve", by="bob", digest=r.digest)
    assert "`bob` is not in approver group `editors`" in why and "members: alice" in why
    # a decision without the digest, or with a stale one, is refused with the reason
    assert "needs the digest of what you judged" in await refused(h, decision="approve", by="alice")
    stale = "sha256:" + "0" * 64
    why = await refused(h, decision="approve", by="alice", digest=stale)
    assert "stale digest" in why and r.digest in why
    # a director is not asked yet: level 1 is the editors'
    assert "not in approver group `editors`" in await refused(
        h, decision="approve", by="dana", digest=r.digest
    )

    receipt = await decide(h, decision="approve", by="alice", digest=r.digest, comment="ship it")
    assert receipt.applied and (receipt.level, receipt.round) == (0, 0)
    result = await h.result()
    record = result.approvals["review"]
    assert (record.by, record.via, record.digest, record.level, record.group) == (
        "alice",
        "api",
        r.digest,
        0,
        "editors",
    )
    assert result.statuses["publish"] == "succeeded"

    # the store's decision log has it, per run and per approver
    async def logged() -> list[Any] | None:
        rows = await store.list_decisions(tenant, workflow_id=h.id)
        return rows or None

    rows = await eventually(logged, what="the decision in the store's log")
    assert [(x.kind, x.by, x.level, x.round, x.digest) for x in rows] == [
        ("approve", "alice", 0, 0, r.digest)
    ]
    assert [x.workflow_id for x in await store.list_decisions(tenant, by="alice")] == [h.id]


async def test_revise_reruns_the_loop_with_feedback_until_revisions_run_out(
    client: Client, registry: SpecRegistry, store: Store
) -> None:
    tenant = await tenant_with_groups(store)
    h = await start(client, tenant)
    first = await asking(h)
    assert first.max_revisions == 2
    why = await refused(h, decision="revise", by="alice", digest=first.digest)
    assert "a revise decision needs feedback" in why

    await decide(h, decision="revise", by="alice", digest=first.digest, comment="shorter, please")
    second = await asking(h, round=1)
    # round 2 is new work: the loop's outputs (and so the digest) changed, the feedback reached
    # the revise target, and the first round's output and cost are kept
    assert second.digest != first.digest
    p = await progress(h)
    draft = next(s for s in p.steps if s.id == "draft")
    polish = next(s for s in p.steps if s.id == "polish")
    assert (draft.round, polish.round) == (1, 1)
    assert [r["round"] for r in draft.rounds] == [0] and [r["round"] for r in polish.rounds] == [0]
    # the first round's digest no longer decides anything
    assert "stale digest" in await refused(h, decision="approve", by="alice", digest=first.digest)

    await decide(h, decision="revise", by="alice", digest=second.digest, comment="now longer")
    third = await asking(h, round=2)
    why = await refused(h, decision="revise", by="alice", digest=third.digest, comment="again")
    assert "has used its 2 revisions" in why
    await decide(h, decision="approve", by="alice", digest=third.digest)
    result = await h.result()
    assert result.statuses["publish"] == "succeeded"
    assert [d.decision for d in review(await progress(h)).decisions] == [
        "revise",
        "revise",
        "approve",
    ]

    # each round ran the loop's activities again, with the round and the feedback in its input
    scheduled = [
        e.activity_task_scheduled_event_attributes
        for e in (await h.fetch_history()).events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    inputs = [
        client.data_converter.payload_converter.from_payloads(a.input.payloads)[0]
        for a in scheduled
    ]
    drafts = [i for i in inputs if i["step_id"] == "draft"]
    assert [d.get("round", 0) for d in drafts] == [0, 1, 2]
    assert [d["inputs"].get("revision", {}).get("feedback") for d in drafts] == [
        None,
        "shorter, please",
        "now longer",
    ]
    # what was published is the last round's polish, not the first's
    publish = next(i for i in inputs if i["step_id"] == "publish")
    assert "now longer" in str(publish["inputs"]) and "shorter" not in str(publish["inputs"])


async def test_an_operators_signal_skips_the_group_check_and_is_recorded_as_such(
    client: Client, registry: SpecRegistry, store: Store
) -> None:
    tenant = await tenant_with_groups(store)
    h = await start(client, tenant)
    r = await asking(h)
    await h.signal("approve", {"step": "review", "by": "ops-oncall", "digest": r.digest})
    result = await h.result()
    record = result.approvals["review"]
    assert (record.approved, record.by, record.via) == (True, "ops-oncall", "signal")


async def test_a_missing_group_asks_nobody_and_says_so(
    client: Client, registry: SpecRegistry, store: Store
) -> None:
    tenant = f"hitl-{uuid.uuid4().hex[:8]}"  # no groups at all
    h = await start(client, tenant)
    r = await asking(h)
    assert r.approvers == []
    why = await refused(h, decision="approve", by="alice", digest=r.digest)
    assert "members: nobody (the group is empty or missing)" in why
    await h.cancel()


# ---------------------------------------------------------------- time skipping


@pytest.fixture(scope="module")
async def skipping(registry: SpecRegistry) -> AsyncIterator[WorkflowEnvironment]:
    env = await start_time_skipping()
    try:
        async with build_worker(env.client, "workflows"), build_worker(env.client, "system"):
            yield env
    finally:
        await env.shutdown()


async def test_each_level_times_out_on_its_own_and_escalates(
    skipping: WorkflowEnvironment, store: Store
) -> None:
    tenant = await tenant_with_groups(store)
    h = await start(skipping.client, tenant)
    first = await asking(h)
    assert first.group == "editors" and first.deadline is not None
    await skipping.sleep(timedelta(minutes=61))  # past the editors' hour
    second = await asking(h, level=1)
    assert (second.group, second.approvers) == ("directors", ["dana"])
    assert second.deadline is not None and second.deadline - first.deadline >= timedelta(hours=2)
    [move] = second.escalations
    assert (move.from_group, move.to_group, move.from_level, move.to_level) == (
        "editors",
        "directors",
        0,
        1,
    )
    # the editors' turn is over
    assert "not in approver group `directors`" in await refused(
        h, decision="approve", by="alice", digest=second.digest
    )
    # the director sends it back: the revised draft comes back to the directors, not to the
    # editors who let their hour pass
    await decide(h, decision="revise", by="dana", digest=second.digest, comment="cut it")
    again = await asking(h, level=1, round=1)
    assert again.approvers == ["dana"] and again.digest != second.digest
    await decide(h, decision="reject", by="dana", digest=again.digest, comment="not now")
    result = await h.result()
    record = result.approvals["review"]
    assert (record.approved, record.by, record.level, record.round, record.group) == (
        False,
        "dana",
        1,
        1,
        "directors",
    )
    kinds = [(x.kind, x.level) for x in await store.list_decisions(tenant, workflow_id=h.id)]
    assert sorted(kinds) == [("escalated", 0), ("reject", 1), ("revise", 1)]


async def test_only_the_last_levels_timeout_applies_on_timeout(
    skipping: WorkflowEnvironment, store: Store
) -> None:
    tenant = await tenant_with_groups(store)
    h = await start(skipping.client, tenant)
    result = await h.result()  # nobody answers: 1 h at level 1, then 2 h at level 2
    record = result.approvals["review"]
    assert (record.approved, record.timed_out, record.level) == (False, True, 1)
    assert result.statuses["review"] == "rejected" and result.statuses["publish"] == "skipped"
    timers = [
        e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        for e in (await h.fetch_history()).events
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    ]
    assert timedelta(hours=1) in timers and timedelta(hours=2) in timers
