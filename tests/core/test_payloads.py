"""No payload near Temporal's 2 MB limit: a foreach of 100 items x 64 KiB, a big output read
by a later step's `when:` and `with:`, a child whose outputs pass its result's share, and
people's comments past their limit."""

from __future__ import annotations

import pytest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError

from activities.contract import COMMENT_LIMIT, REF_KEY
from store import Store
from tests.support import events, start, wait_until_waiting
from workflows.models import ApprovalSignal, Decision, RunResult

MAX_PAYLOAD_BYTES = 1024 * 1024  # half of Temporal's limit: nothing should come near it


def _biggest_event(evs: list) -> int:  # type: ignore[type-arg]
    """The largest event of a history: its payloads are what make an event big."""
    return max(e.ByteSize() for e in evs)


async def test_big_outputs_travel_by_reference_and_stay_readable(client: Client) -> None:
    h: WorkflowHandle = await start(client, "payloads", {"items": list(range(100))})
    result: RunResult = await h.result()
    assert set(result.statuses.values()) == {"succeeded"}

    # 100 items of 64 KiB: each carries a bounded view (its share of 512 KiB), never 6.4 MB
    fan = result.outputs["fan"]
    assert len(fan) == 100 and all(REF_KEY in item for item in fan)
    assert [item["index"] for item in fan] == list(range(100))
    assert all("padding" in item["$omitted"] for item in fan)

    # `when:` read a field of the stored output's view; the step got the whole output
    assert result.outputs["big"]["echo"]["flag"] is True
    reader = result.outputs["reader"]
    store = await Store.open()
    try:
        stored = await store.get_output(reader[REF_KEY])
        assert len(stored["echo"]["whole"]["padding"]) == 200_000
        # the child's outputs (20 x 50 KB) went by reference as one stored object
        kid = result.outputs["kid"]
        kid_outputs = await store.get_output(kid[REF_KEY])
        assert len(kid_outputs["left"]) == 10 and len(kid_outputs["right"]) == 10
    finally:
        await store.close()

    assert _biggest_event(await events(h)) < MAX_PAYLOAD_BYTES
    child = client.get_workflow_handle(f"{h.id}.kid", result_type=RunResult)
    assert (await child.result()).outputs_ref == kid[REF_KEY]
    assert _biggest_event(await events(child)) < MAX_PAYLOAD_BYTES


async def test_comments_past_their_limit(client: Client) -> None:
    h = await start(client, "approval_flow", {"topic": "limits"})
    await wait_until_waiting(h, "review")
    long = "y" * (COMMENT_LIMIT + 500)
    with pytest.raises(Exception, match="at most 4000 characters"):
        await h.execute_update("decide", Decision(step="review", decision="approve", comment=long))
    with pytest.raises(WorkflowUpdateFailedError):
        await h.execute_update("decide", {"step": "review", "decision": "approve", "comment": long})
    # a signal cannot be refused: it is kept, cut to the limit, and says so
    await h.signal("approve", ApprovalSignal(step="review", comment=long))
    result: RunResult = await h.result()
    comment = result.approvals["review"].comment
    assert len(comment) <= COMMENT_LIMIT and comment.endswith("(truncated)")
