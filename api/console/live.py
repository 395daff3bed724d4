"""Live agent activity over server-sent events: what a run's agent steps do (tool calls,
agent messages, steps started/finished/failed) as they happen, from the events the steps
append to the store (`activities.agent_step.live_events`, `store.activity_events`).

Each event's id is its store id, monotonic within a workflow. A viewer that connects, or
reconnects (the browser's `EventSource` sends ``Last-Event-ID`` by itself), first gets
every event after the last id it saw, then the stream tails the store: one indexed range
read per poll per viewer, never a Temporal query or a long-poll per viewer (DESIGN §10).
A comment line every `HEARTBEAT_S` keeps proxies from closing an idle stream.

The route (``GET /admin/executions/{id}/events``, api/console/pages/executions.py) checks
the session and the execution's tenant as every console page does, then hands
`event_stream(store, workflow_id, resume_after(request), run_id=…, stop=…)` to a
`StreamingResponse` with `SSE_HEADERS`. Its stop condition: the viewer went away, or the run
has closed (one Temporal describe per run every few seconds, shared by all its viewers in
the process) and its last events have had time to land.

After the stop condition says done the stream sends what is left, then one ``end`` event
(no id): `static/live.js` closes the `EventSource` on it instead of reconnecting forever.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from store.activity_events import ActivityEvent

POLL_S = 0.5
HEARTBEAT_S = 15.0
RETRY_MS = 2000
BATCH = 500
SSE_HEADERS = {
    "cache-control": "no-cache",
    "x-accel-buffering": "no",  # a buffering proxy in front must pass events at once
}

StopCondition = Callable[[], bool | Awaitable[bool]] | asyncio.Event


class ActivityEventSource(Protocol):
    """What the stream reads (`store.Store` is one)."""

    async def list_activity_events(
        self, workflow_id: str, after_id: int = 0, limit: int = 500
    ) -> list[ActivityEvent]: ...


def resume_after(request: Any) -> int:
    """Where a (re)connecting viewer resumes: the ``Last-Event-ID`` header its EventSource
    sends, else a ``?after=<id>`` query parameter (a first page load that rendered events
    up to some id), else 0 (everything). Anything unparsable counts as 0."""
    headers: Mapping[str, str] = getattr(request, "headers", {}) or {}
    params: Mapping[str, str] = getattr(request, "query_params", {}) or {}
    for raw in (headers.get("last-event-id"), params.get("after")):
        if raw:
            try:
                return max(0, int(str(raw).strip()))
            except ValueError:
                continue
    return 0


def format_event(event: ActivityEvent) -> str:
    """One event as an SSE message: ``id``, ``event`` (its kind), one ``data`` line of JSON."""
    data = {
        "id": event.id,
        "run_id": event.run_id,
        "step": event.step,
        "attempt": event.attempt,
        "seq": event.seq,
        "kind": event.kind,
        "agent": event.agent,
        "at": event.created_at.isoformat(),
        "payload": event.payload,
        "truncated": event.truncated,
    }
    kind = "".join(ch for ch in event.kind if ch.isalnum() or ch in "_-.") or "message"
    # json.dumps escapes newlines inside strings: the data stays one line
    return f"id: {event.id}\nevent: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _stopped(stop: StopCondition | None) -> bool:
    if stop is None:
        return False
    if isinstance(stop, asyncio.Event):
        return stop.is_set()
    answer = stop()
    if inspect.isawaitable(answer):
        answer = await answer
    return bool(answer)


async def event_stream(
    store: ActivityEventSource,
    workflow_id: str,
    last_event_id: int = 0,
    *,
    poll_s: float = POLL_S,
    heartbeat_s: float = HEARTBEAT_S,
    stop: StopCondition | None = None,
    batch: int = BATCH,
    retry_ms: int | None = RETRY_MS,
    run_id: str | None = None,
) -> AsyncIterator[str]:
    """SSE messages for ``workflow_id``'s events after ``last_event_id``: the catch-up, then
    the tail, polling every ``poll_s``, until ``stop`` (a callable returning a bool or an
    awaitable of one, or an `asyncio.Event`) says the run is done; then what is left and an
    ``end`` event. Without ``stop`` the stream runs until the client goes away (the server
    cancels the generator). Each event is sent once, in id order. ``run_id``: only that
    run's events (a workflow id started again after its run closed has several)."""
    last = max(0, int(last_event_id))
    if retry_ms is not None:
        yield f"retry: {int(retry_ms)}\n\n"
    next_beat = time.monotonic() + heartbeat_s
    while True:
        # Asked before the read: everything written before the run was seen done is sent.
        done = await _stopped(stop)
        while True:
            events = await store.list_activity_events(workflow_id, last, batch)
            for event in events:
                last = event.id
                if run_id is None or event.run_id == run_id:
                    yield format_event(event)
            if events:
                next_beat = time.monotonic() + heartbeat_s
            if len(events) < batch:
                break
        if done:
            yield "event: end\ndata: {}\n\n"
            return
        if time.monotonic() >= next_beat:
            yield ": keepalive\n\n"
            next_beat = time.monotonic() + heartbeat_s
        await asyncio.sleep(poll_s)
