"""The DAG runtime on a real Temporal dev server: every step kind and key, skips,
decisions, failures, budgets, ids, search attributes, cancellation."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment

from tests.conftest import namespace_client
from tests.support import ET, events, eventually, of_type, progress, start, wait_until_waiting
from worker.pools import build_worker
from workflows.models import ApprovalSignal, ChoiceSignal, Decision, DecisionReceipt, RunResult
from workflows.registry import SpecRegistry
from workflows.search_attributes import PENDING_APPROVALS


async def test_approval_by_update_then_foreach_in_input_order(client: Client) -> None:
    h = await start(
        client, "approval_flow", {"topic": "Temporal", "channels": ["blog", "x", "y", "z"]}
    )
    await wait_until_waiting(h, "review")
    receipt = await h.execute_update(
        "decide", Decision(step="review", decision="approve", by="ana", comment="ship it")
    )
    assert receipt["applied"] is True
    result: RunResult = await h.result()
    publish = result.outputs["publish"]
    assert [o["echo"]["channel"] for o in publish] == ["blog", "x", "y", "z"]
    assert [o["index"] for o in publish] == [0, 1, 2, 3]
    assert all(o["echo"]["title"] == "About Temporal" for o in publish)
    assert (
        result.approvals["review"].by == "ana" and result.approvals["review"].comment == "ship it"
    )


async def test_foreach_respects_max_parallel(client: Client) -> None:
    h = await start(
        client, "approval_flow", {"topic": "t", "channels": [f"c{i}" for i in range(6)]}
    )
    await wait_until_waiting(h, "review")
    await h.signal("approve", ApprovalSignal(step="review"))
    await h.result()
    # Replaying the history: never more than max_parallel (2) publish activities open at once.
    open_now = peak = 0
    for e in await events(h):
        if e.event_type == ET.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            open_now += 1
            peak = max(peak, open_now)
        elif e.event_type == ET.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            open_now -= 1
    assert peak == 2


async def test_early_signal_is_kept_until_the_step_is_reached(client: Client) -> None:
    h = await start(client, "approval_flow", {"topic": "early"})
    await h.signal("approve", ApprovalSignal(step="review", by="early-bird"))
    result: RunResult = await h.result()
    assert result.approvals["review"].by == "early-bird"
    assert result.statuses["publish"] == "succeeded"


async def test_rejection_skips_all_success_dependants(client: Client) -> None:
    h = await start(client, "approval_flow", {"topic": "no"})
    await wait_until_waiting(h, "review")
    await h.signal("reject", ApprovalSignal(step="review", by="bo", comment="not yet"))
    result: RunResult = await h.result()
    assert result.statuses == {"draft": "succeeded", "review": "rejected", "publish": "skipped"}
    assert result.approvals["review"].approved is False


async def test_decide_validator_refuses_unknown_decided_and_wrong_kind(client: Client) -> None:
    h = await start(client, "branching", {"depth": "deep"})
    await wait_until_waiting(h, "route")
    with pytest.raises(WorkflowUpdateFailedError) as e:
        await h.execute_update("decide", Decision(step="nope", decision="approve"))
    assert "unknown step `nope`" in str(e.value.cause)
    with pytest.raises(WorkflowUpdateFailedError) as e:
        await h.execute_update("decide", Decision(step="route", decision="approve"))
    assert "is a choice" in str(e.value.cause)
    with pytest.raises(WorkflowUpdateFailedError) as e:
        await h.execute_update("decide", Decision(step="route", decision="choose", option="warp"))
    assert "`warp` is not an option" in str(e.value.cause)
    with pytest.raises(WorkflowUpdateFailedError) as e:
        await h.execute_update(
            "decide", Decision(step="auto_route", decision="choose", option="quick")
        )
    assert "chosen by its expression" in str(e.value.cause) or "already" in str(e.value.cause)
    await h.execute_update("decide", Decision(step="route", decision="choose", option="slow"))
    with pytest.raises(WorkflowUpdateFailedError) as e:
        await h.execute_update("decide", Decision(step="route", decision="choose", option="fast"))
    assert "already" in str(e.value.cause)
    result: RunResult = await h.result()
    assert result.choices["route"].option == "slow"


async def test_branching_skips_choices_and_all_done(client: Client) -> None:
    h = await start(client, "branching", {"depth": "deep", "go_extra": False})
    await wait_until_waiting(h, "route")
    await h.signal("choose", ChoiceSignal(step="route", option="fast", by="cy"))
    result: RunResult = await h.result()
    s = result.statuses
    assert s["left"] == s["right"] == "succeeded"
    assert s["extra"] == "skipped" and s["after_extra"] == "skipped"  # when false, then all_success
    assert s["cleanup"] == "succeeded"  # all_done runs after a skip
    assert result.outputs["cleanup"]["echo"] == {"extra_status": "skipped"}
    assert s["fast_path"] == "succeeded" and s["slow_path"] == "skipped"
    assert result.outputs["fast_path"]["echo"] == {"route": "fast"}
    assert s["deep_scan"] == "succeeded" and s["quick_scan"] == "skipped"  # chosen by `by`
    assert result.choices["auto_route"].by == "expression"


async def test_parallel_ready_steps_are_scheduled_together(client: Client) -> None:
    h = await start(client, "branching", {"go_extra": True})
    await wait_until_waiting(h, "route")
    await h.signal("choose", ChoiceSignal(step="route", option="slow"))
    await h.result()
    evs = await events(h)
    scheduled = of_type(evs, ET.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    # left and right both come from the first workflow task: same completion event.
    first_two = scheduled[:2]
    assert {e.activity_task_scheduled_event_attributes.activity_id for e in first_two} == {"1", "2"}
    assert (
        first_two[0].activity_task_scheduled_event_attributes.workflow_task_completed_event_id
        == first_two[1].activity_task_scheduled_event_attributes.workflow_task_completed_event_id
    )


async def test_retries_continue_and_foreach_error_entries(client: Client) -> None:
    h = await start(client, "failures")
    result: RunResult = await h.result()
    s = result.statuses
    assert s["flaky"] == "succeeded"
    assert s["optional"] == "failed" and result.errors["optional"] == "optional step broke"
    assert s["needs_optional"] == "skipped"
    assert s["after_optional"] == "succeeded"
    assert result.outputs["after_optional"]["echo"] == {"optional": "failed", "flaky_attempt": 3}
    fan = result.outputs["fan"]
    assert fan[0]["echo"]["n"] == 1 and fan[2]["echo"]["n"] == 3
    assert fan[1] == {"error": "boom", "index": 1}
    p = await progress(h)
    assert next(x for x in p.steps if x.id == "flaky").attempts == 3


async def test_failing_step_fails_the_run_naming_it_and_cancels_siblings(client: Client) -> None:
    h = await start(client, "fatal")
    with pytest.raises(WorkflowFailureError) as e:
        await h.result()
    cause = e.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "StepFailed"
    assert "step `breaks`" in cause.message and "the database is on fire" in cause.message
    evs = await events(h)
    # the long sibling was cancelled through its heartbeat, not left running
    assert of_type(evs, ET.EVENT_TYPE_ACTIVITY_TASK_CANCELED)
    p = await progress(h)
    assert p.status == "failed"
    assert {x.id: x.status for x in p.steps}["never"] == "pending"


async def test_child_workflows_ids_results_and_costs(client: Client) -> None:
    h = await start(client, "parent_child", {"labels": ["x", "y", "z"]})
    result: RunResult = await h.result()
    assert result.outputs["summary"]["echo"] == {"solo": "solo", "count": 3}
    assert result.cost_usd == pytest.approx(0.25 * 4)
    evs = await events(h)
    child_ids = sorted(
        e.start_child_workflow_execution_initiated_event_attributes.workflow_id
        for e in of_type(evs, ET.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED)
    )
    assert child_ids == sorted(
        [f"{h.id}.single", f"{h.id}.many.0", f"{h.id}.many.1", f"{h.id}.many.2"]
    )


def result_run_id(h: WorkflowHandle[Any, Any]) -> str:
    assert h.result_run_id is not None
    return h.result_run_id


async def test_budget_waits_for_approval_then_continues(client: Client) -> None:
    h = await start(client, "budgeted")
    p = await wait_until_waiting(h, "second")
    step = next(x for x in p.steps if x.id == "second")
    assert step.waiting_for == "budget" and "$0.60 budget" in (step.prompt or "")
    await h.execute_update("decide", Decision(step="second", decision="approve", by="cfo"))
    result: RunResult = await h.result()
    assert result.cost_usd == pytest.approx(1.0)
    assert result.statuses["second"] == "succeeded"
    # every call of the run reserves from one pool capped at the budget; the person who
    # approved passing it raised the cap by the step's estimate ($0.50), no more
    conv = client.data_converter.payload_converter
    pools, caps = set(), {}
    for e in of_type(await events(h), ET.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED):
        inp = conv.from_payload(e.activity_task_scheduled_event_attributes.input.payloads[0], dict)
        pools.add(inp["budget_pool"])
        caps[inp["step_id"]] = inp["budget_cap_usd"]
    assert pools == {f"{h.id}/{result_run_id(h)}"}
    assert caps == {"first": pytest.approx(0.6), "second": pytest.approx(1.1)}
    p = await progress(h)
    assert p.budget_extended_usd == pytest.approx(0.5)
    assert p.budget_alerts == [75, 90]  # $1.00 of $1.10


async def test_budget_rejection_stops_the_run(client: Client) -> None:
    h = await start(client, "budgeted", budget_usd=0.75)
    await wait_until_waiting(h, "second")
    await h.signal("reject", ApprovalSignal(step="second", by="cfo"))
    with pytest.raises(WorkflowFailureError) as e:
        await h.result()
    assert isinstance(e.value.cause, ApplicationError)
    assert e.value.cause.type == "BudgetExceeded"
    assert "$0.75" in e.value.cause.message and "cfo" in e.value.cause.message


async def test_budget_from_run_input_overrides_spec(client: Client) -> None:
    h = await start(client, "budgeted", budget_usd=5.0)
    result: RunResult = await h.result()
    assert result.cost_usd == pytest.approx(1.0)


async def test_bad_params_fail_at_once_without_retrying(client: Client) -> None:
    h = await start(client, "approval_flow", {"channels": "blog", "colour": "red"})
    with pytest.raises(WorkflowFailureError) as e:
        await h.result()
    cause = e.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidParams"
    assert cause.non_retryable
    assert "missing required param `topic`" in cause.message
    assert "unknown param `colour`" in cause.message
    assert "param `channels`" in cause.message
    evs = await events(h)
    assert len(of_type(evs, ET.EVENT_TYPE_WORKFLOW_TASK_FAILED)) == 0


async def test_same_key_returns_the_existing_run(client: Client) -> None:
    key = uuid.uuid4().hex[:8]
    h1 = await start(client, "approval_flow", {"topic": "once"}, key=key)
    h2 = await start(client, "approval_flow", {"topic": "once"}, key=key)
    assert h1.id == h2.id == f"default.approval_flow.{key}"
    assert h1.result_run_id == h2.result_run_id
    await h1.signal("approve", ApprovalSignal(step="review"))
    await h1.result()


async def test_waiting_runs_are_found_by_search_attribute(client: Client) -> None:
    marker = uuid.uuid4().hex[:8]
    handles = [
        await start(client, "approval_flow", {"topic": marker}, tenant=f"t{marker}")
        for _ in range(3)
    ]
    for h in handles:
        await wait_until_waiting(h, "review")
    query = f"BizosPendingApprovals = 'review' AND BizosTenant = 't{marker}'"

    async def listed() -> list[str]:
        return sorted([w.id async for w in client.list_workflows(query)])

    found = await eventually(
        lambda: _when(listed(), lambda ids: len(ids) == 3), what="3 runs listed"
    )
    assert found == sorted(h.id for h in handles)
    # batch-approve everything found, then nothing is pending any more
    for wid in found:
        await client.get_workflow_handle(wid).signal("approve", ApprovalSignal(step="review"))
    for h in handles:
        await h.result()
    desc = await handles[0].describe()
    assert not desc.typed_search_attributes.get(PENDING_APPROVALS)  # cleared once decided
    await eventually(lambda: _when(listed(), lambda ids: ids == []), what="no run listed")


async def _when(coro, pred):  # type: ignore[no-untyped-def]
    value = await coro
    return (value if value else True) if pred(value) else None


async def test_cancel_reaches_the_running_activity(client: Client) -> None:
    h = await start(client, "slow", {"sleep_s": 120})

    async def long_running() -> bool:
        pending = (await h.describe()).raw_description.pending_activities
        # state 2 = STARTED: a worker is executing (and heartbeating) the long step
        return any(
            a.activity_type.name == "run_agent" and a.state == 2 and a.heartbeat_details.payloads
            for a in pending
        )

    await eventually(long_running, what="the long step to start")
    await h.cancel()
    with pytest.raises(WorkflowFailureError) as e:
        await h.result()
    assert isinstance(e.value.cause, CancelledError)
    evs = await events(h)
    assert len(of_type(evs, ET.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED)) == 1
    assert len(of_type(evs, ET.EVENT_TYPE_ACTIVITY_TASK_CANCELED)) == 1
    assert of_type(evs, ET.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED)
    # cancelled means cancelled: the run and its in-flight step, never running or failed
    p = await progress(h)
    assert p.status == "cancelled"
    statuses = {s.id: s.status for s in p.steps}
    assert statuses["quick"] == "succeeded" and statuses["long"] == "cancelled"
    assert statuses["last"] == "pending"


async def test_cancel_while_waiting_clears_the_pending_search_attribute(client: Client) -> None:
    h = await start(client, "approval_flow", {"topic": "cancelled"})
    await wait_until_waiting(h, "review")
    await h.cancel()
    with pytest.raises(WorkflowFailureError):
        await h.result()
    p = await progress(h)
    assert p.status == "cancelled" and p.waiting == []
    assert {s.id: s.status for s in p.steps}["review"] == "cancelled"
    desc = await h.describe()
    assert not desc.typed_search_attributes.get(PENDING_APPROVALS)


async def test_outputs_key_limits_the_result(client: Client) -> None:
    result: RunResult = await (await start(client, "limits")).result()
    assert set(result.outputs) == {"kept"}
    assert result.statuses["dropped"] == "succeeded"


@pytest.mark.parametrize(
    ("case", "step", "message"),
    [
        ("timeout", "too_slow", "activity StartToClose timeout (all attempts used)"),
        ("deadline", "past_deadline", "(deadline reached: no time left for another attempt)"),
        ("items", "fan", "foreach gave 5 items; the step allows max_items=3"),
        ("expr", "bad_ref", "`steps.kept.output.nope`: no such member in mapping: 'nope'"),
    ],
)
async def test_limits_fail_the_step_with_a_clear_message(
    client: Client, case: str, step: str, message: str
) -> None:
    h = await start(client, "limits", {"case": case})
    with pytest.raises(WorkflowFailureError) as e:
        await h.result()
    cause = e.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "StepFailed"
    assert f"step `{step}`" in cause.message and message in cause.message, cause.message


async def test_a_decision_arriving_with_its_timeout_is_taken(
    temporal_env: WorkflowEnvironment, registry: SpecRegistry
) -> None:
    """The approval and the timer ending its wait land in the same workflow task (the worker
    is away while both happen): the decision, which was accepted, is the one taken."""
    ns = await namespace_client(temporal_env, "isolated-plans")
    async with build_worker(ns, "workflows"):
        h = await start(ns, "late_decision")
        await wait_until_waiting(h, "gate")

    async def timer_fired() -> bool:
        return bool(of_type(await events(h), ET.EVENT_TYPE_TIMER_FIRED))

    await eventually(timer_fired, what="the approval's timer to fire")
    # the update waits for a worker; both reach the next workflow task together
    decided = asyncio.create_task(
        h.execute_update(
            "decide",
            Decision(step="gate", decision="approve", by="just-in-time"),
            result_type=DecisionReceipt,
        )
    )
    async with build_worker(ns, "workflows"), build_worker(ns, "system"):
        receipt = await decided
        result: RunResult = await h.result()
    assert receipt.applied
    assert result.approvals["gate"].by == "just-in-time"
    assert result.statuses["after"] == "succeeded"
