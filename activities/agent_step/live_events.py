"""Live agent activity: what a running agent step does (its tool calls, the agent's thoughts
and answers, model calls), appended to the store as it happens, so the admin console can
stream it (`api.console.live`) without asking Temporal anything.

One `recording` per step attempt::

    async with live_events.recording(inp, host.store, attempt=attempt) as live:
        ...run the crew (in the pool: `_in_pool` copies this context)...
        live.finished({"summary": ...})

Entering records ``step_started``; leaving records ``step_finished`` (with what
`StepRecorder.finished` gave) or ``step_failed`` (with the exception that left the block).

Capture. CrewAI's event bus publishes every event it emits, synchronously on the emitting
thread and in emission order, to the "stream sinks" of the emitting context
(`crewai.events.stream_context`, the hook CrewAI's own streaming uses). The recording adds
its sink to the activity's context; the pool thread gets a copy of that context, and CrewAI
copies it again into the threads its agent loop uses, so the sink sees exactly this step's
events, even with many steps running at once in one process. (Handlers registered with
`crewai_event_bus.on` would not do: they are process-global and run on a pool of ten
threads, so a quick tool's started and finished events could be handled out of order.)

Writes never fail or slow the step: the sink only appends to a buffer under a lock (no I/O,
no blocking) and at most once per batch wakes a flusher task on the activity's event loop,
which lets the batch fill for `FLUSH_EVERY_S` (or until the step ends) and writes it in one
transaction: a short step costs one write. A store error is logged
and the batch retried with backoff; events beyond `MAX_BUFFERED` are dropped and counted
(``dropped`` in ``step_finished``/``step_failed``). Leaving the block drains the buffer for at
most `FINAL_FLUSH_TIMEOUT_S`.

Keys: (workflow id, run id, step key, attempt, seq), seq counting from 0 per attempt in the
order the events happened; a repeated write of a batch is a no-op (`store.activity_events`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from activities.agent_step.keys import step_attempt, step_key
from activities.agent_step.tuning import step_speedups
from activities.contract import AgentStepInput
from store.activity_events import MAX_TEXT, NewActivityEvent

if TYPE_CHECKING:
    from store import Store

log = logging.getLogger(__name__)

FLUSH_EVERY_S = 0.2
FINAL_FLUSH_TIMEOUT_S = 2.0
MAX_BUFFERED = 2000
MAX_BACKOFF_S = 5.0
LOG_FAILURE_EVERY_S = 30.0

try:  # CrewAI's per-context sinks: see the module docstring
    from crewai.events.stream_context import add_stream_sink, reset_stream_sinks
except ImportError:  # pragma: no cover - a CrewAI without them: no live tool events
    add_stream_sink = None  # type: ignore[assignment]
    reset_stream_sinks = None  # type: ignore[assignment]


@dataclass(frozen=True)
class StepIds:
    """Whose events these are: the stream's workflow and its run, the step key (step,
    ``#item``, ``@r<round>``), the attempt, the agent; ``details`` go into ``step_started``."""

    workflow_id: str
    run_id: str
    step: str
    attempt: int
    agent: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, inp: AgentStepInput, attempt: int) -> StepIds:
        return cls(
            workflow_id=inp.workflow_id,
            run_id=inp.run_id,
            step=step_key(inp),
            attempt=attempt,
            agent=inp.agent,
            details={
                "agent": inp.agent,
                "mode": inp.mode,
                "step_id": inp.step_id,
                "item_index": inp.item_index,
                "round": inp.round,
                "template": inp.template,
            },
        )


def _clip(value: Any) -> Any:
    """Cheap cut before buffering (the store bounds and flags the rest): never keep a tool's
    megabytes in memory for a preview."""
    if isinstance(value, str):
        return value[: MAX_TEXT + 1]
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return {str(k): _clip(v) for k, v in list(value.items())[:100]}
    if isinstance(value, list | tuple):
        return [_clip(v) for v in value[:100]]
    return str(value)[: MAX_TEXT + 1]


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value[: MAX_TEXT + 1]
    if hasattr(value, "model_dump_json"):  # a pydantic final answer
        try:
            return str(value.model_dump_json())[: MAX_TEXT + 1]
        except Exception:  # a preview, never an error
            pass
    return str(value)[: MAX_TEXT + 1]


def _tool(event: Any) -> dict[str, Any]:
    return {"tool": str(getattr(event, "tool_name", "") or "")}


def translate(event: Any) -> tuple[str, dict[str, Any]] | None:
    """A CrewAI event as (kind, payload), or None for events the console does not show."""
    kind = getattr(event, "type", "")
    if kind == "tool_usage_started":
        return "tool_started", {**_tool(event), "args": _clip(getattr(event, "tool_args", None))}
    if kind == "tool_usage_finished":
        payload = {**_tool(event), "result": _text(getattr(event, "output", ""))}
        started, finished = getattr(event, "started_at", None), getattr(event, "finished_at", None)
        if isinstance(started, datetime) and isinstance(finished, datetime):
            payload["ms"] = round((finished - started).total_seconds() * 1000, 1)
        if getattr(event, "from_cache", False):
            payload["from_cache"] = True
        failure = getattr(event, "failure", None)
        if failure is not None:  # ran, but says the work was not done
            return "tool_failed", {**payload, "error": _text(failure)}
        return "tool_finished", payload
    if kind in (
        "tool_usage_error",
        "tool_execution_error",
        "tool_validate_input_error",
        "tool_selection_error",
    ):
        return "tool_failed", {
            **_tool(event),
            "error": _text(getattr(event, "error", "")),
            "stage": kind,
        }
    if kind == "agent_logs_execution":
        answer: Any = getattr(event, "formatted_answer", None)
        payload = {"thought": _text(getattr(answer, "thought", "") or "")}
        if hasattr(answer, "tool"):  # AgentAction: the agent decided to call a tool
            payload["action"] = str(answer.tool)[:200]
            payload["action_input"] = _text(getattr(answer, "tool_input", ""))
        elif hasattr(answer, "output"):  # AgentFinish
            payload["final_answer"] = _text(answer.output)
        else:
            payload["text"] = _text(answer)
        return "llm_message", payload
    if kind == "llm_call_completed":
        payload = {
            "model": str(getattr(event, "model", "") or ""),
            "response": _text(getattr(event, "response", "")),
        }
        usage = getattr(event, "usage", None)
        if isinstance(usage, dict):
            payload["usage"] = _clip(usage)
        return "llm_call", payload
    if kind == "llm_call_failed":
        return "llm_failed", {
            "model": str(getattr(event, "model", "") or ""),
            "error": _text(getattr(event, "error", "")),
        }
    return None


class StepRecorder:
    """One step attempt's events: `record` from any thread, flushed from the event loop."""

    def __init__(
        self,
        ids: StepIds,
        store: Store | Callable[[], Awaitable[Store]],
        loop: asyncio.AbstractEventLoop,
        *,
        flush_every_s: float = FLUSH_EVERY_S,
    ) -> None:
        self.ids = ids
        self._store_source = store
        self._loop = loop
        self._every = flush_every_s
        self._lock = threading.Lock()
        self._buffer: list[NewActivityEvent] = []
        self._seq = 0
        self._wake_pending = False
        self._closed = False
        self.dropped = 0
        self.written = 0
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._failures = 0
        self._last_failure_log = 0.0
        self._result: dict[str, Any] = {}
        self._coalesce = step_speedups("events")

    # -- any thread ------------------------------------------------------------------------

    def record(self, kind: str, payload: dict[str, Any], at: datetime | None = None) -> None:
        """Buffer one event (never blocks on I/O, never raises)."""
        try:
            with self._lock:
                if self._closed:
                    return
                if len(self._buffer) >= MAX_BUFFERED:
                    self.dropped += 1
                    return
                self._buffer.append(
                    NewActivityEvent(
                        workflow_id=self.ids.workflow_id,
                        run_id=self.ids.run_id,
                        step=self.ids.step,
                        attempt=self.ids.attempt,
                        seq=self._seq,
                        kind=kind,
                        agent=self.ids.agent,
                        payload=payload,
                        created_at=at or datetime.now(UTC),
                    )
                )
                self._seq += 1
                wake = not self._wake_pending
                self._wake_pending = True
            if wake:
                self._loop.call_soon_threadsafe(self._wake.set)
        except Exception:  # a closed loop, a bad payload: never the step's problem
            log.debug("live event %s of %s not recorded", kind, self.ids.step, exc_info=True)

    def sink(self, source: Any, event: Any) -> None:
        """CrewAI stream sink: runs on the emitting thread, inside CrewAI's emit."""
        try:
            found = translate(event)
            if found is not None:
                at = getattr(event, "timestamp", None)
                self.record(found[0], found[1], at if isinstance(at, datetime) else None)
        except Exception:  # never break CrewAI's loop over a preview
            log.debug("live event of %s not translated", self.ids.step, exc_info=True)

    def finished(self, details: dict[str, Any]) -> None:
        """What ``step_finished`` says (a summary, the tool count …)."""
        self._result = dict(details)

    @contextlib.contextmanager
    def attached(self) -> Iterator[None]:
        """Send the CrewAI events of the current context (thread) here; `recording` does
        this for the activity's context, which the pool thread copies."""
        if add_stream_sink is None:
            yield
            return
        token = add_stream_sink(self.sink)
        try:
            yield
        finally:
            reset_stream_sinks(token)

    # -- the event loop --------------------------------------------------------------------

    async def _store(self) -> Store:
        source = self._store_source
        if callable(source):
            source = await source()
            self._store_source = source
        return source

    async def flush(self) -> None:
        """Write what is buffered (one transaction); on failure keep it for the next try."""
        with self._lock:
            batch, self._buffer = self._buffer, []
            self._wake_pending = False
        self._wake.clear()
        if not batch:
            return
        try:
            await (await self._store()).append_activity_events(batch)
        except asyncio.CancelledError:
            self._put_back(batch)
            raise
        except Exception:  # the console's view, never the step's failure
            self._failures += 1
            self._put_back(batch)
            now = time.monotonic()
            if now - self._last_failure_log >= LOG_FAILURE_EVERY_S:
                self._last_failure_log = now
                log.warning(
                    "live events of %s/%s not written (will retry)",
                    self.ids.workflow_id,
                    self.ids.step,
                    exc_info=True,
                )
            return
        self._failures = 0
        self.written += len(batch)

    def _put_back(self, batch: list[NewActivityEvent]) -> None:
        with self._lock:  # before anything newer: a step's ids stay in seq order
            room = MAX_BUFFERED - len(self._buffer)
            if room < len(batch):
                self.dropped += len(batch) - max(room, 0)
                batch = batch[: max(room, 0)]
            self._buffer[:0] = batch
            if self._buffer:
                self._wake_pending = True
                self._wake.set()

    async def run(self) -> None:
        """The flusher: one write per wake-up, at most one per `FLUSH_EVERY_S` (longer
        after failures); returns once closing and drained."""
        while not self._closing.is_set():
            await self._wake.wait()
            if self._coalesce:
                # Let the batch fill for one period (or until the step ends): a step of a
                # few tens of ms then costs one transaction, not one for `step_started`
                # and another for the rest; the console sees events <= one period later.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), self._every)
            await self.flush()
            pause = min(self._every * 2**self._failures, MAX_BACKOFF_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), pause)
        await self.flush()

    async def close(self, task: asyncio.Task[None]) -> None:
        """Stop taking events, drain the buffer (bounded), stop the flusher."""
        with self._lock:
            self._closed = True
        self._closing.set()
        self._wake.set()
        try:
            await asyncio.wait_for(task, FINAL_FLUSH_TIMEOUT_S)
        except TimeoutError:
            log.warning(
                "live events of %s/%s: gave up draining after %.1f s (%d not written)",
                self.ids.workflow_id,
                self.ids.step,
                FINAL_FLUSH_TIMEOUT_S,
                len(self._buffer),
            )
        except Exception:
            log.warning("live events flusher of %s failed", self.ids.step, exc_info=True)


def _failure(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, asyncio.CancelledError):
        return {"error": "cancelled", "message": "the step was cancelled"}
    payload: dict[str, Any] = {
        "error": str(getattr(exc, "type", None) or type(exc).__name__),
        "message": _text(getattr(exc, "message", None) or str(exc)),
    }
    if getattr(exc, "non_retryable", None) is not None:
        payload["retryable"] = not exc.non_retryable  # type: ignore[attr-defined]
    return payload


@contextlib.asynccontextmanager
async def recording(
    ids: StepIds | AgentStepInput,
    store: Store | Callable[[], Awaitable[Store]],
    *,
    attempt: int | None = None,
    flush_every_s: float = FLUSH_EVERY_S,
) -> AsyncIterator[StepRecorder]:
    """Record the step's live events while the block runs (see the module docstring).
    ``store``: the store, or an async function giving it (opened on the first flush).
    ``attempt`` defaults to the current activity's (`keys.step_attempt`)."""
    if isinstance(ids, AgentStepInput):
        if attempt is None:
            attempt = step_attempt(ids)
        ids = StepIds.of(ids, attempt)
    recorder = StepRecorder(ids, store, asyncio.get_running_loop(), flush_every_s=flush_every_s)
    task = asyncio.create_task(recorder.run(), name=f"live-events {ids.step}")
    recorder.record("step_started", dict(ids.details))
    try:
        with recorder.attached():
            yield recorder
    except BaseException as exc:
        recorder.record("step_failed", {**_failure(exc), "dropped": recorder.dropped})
        await recorder.close(task)
        raise
    recorder.record("step_finished", {**recorder._result, "dropped": recorder.dropped})
    await recorder.close(task)
