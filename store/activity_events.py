"""Live agent activity: the events a running agent step appends as it works (step started,
tool started/finished, model messages, step finished or failed), and the reads the admin
console's event stream tails (`api.console.live`).

Each event has a natural key, (workflow id, run id, step, attempt, seq), so a repeated write
is a no-op, and a database id that is the stream's event id: a viewer resumes after the last id it
saw (``Last-Event-ID``) and must never miss an event. Ids are monotonic, but on PostgreSQL
concurrent transactions can commit out of id order, so a viewer could see id 10 before id 9
commits and then resume past 9. Writers of one workflow therefore take a transaction-scoped
advisory lock first: within a workflow, ids become visible in order. (SQLite has one writer
at a time anyway.) Viewers only ever read one workflow, so that is the order that counts.

Payloads are bounded: every string longer than `MAX_TEXT` is cut and the row says so
(``truncated``), so one tool's 5 MB result never reaches a browser.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from store.engine import write_transaction
from store.tables import ActivityEventRecord, as_utc, utcnow

_EVENTS = ActivityEventRecord.__table__  # type: ignore[attr-defined]
_KEY = ["workflow_id", "run_id", "step", "attempt", "seq"]

MAX_TEXT = 4000
"""Longest string kept in a payload (characters); longer ones end in `ELLIPSIS`."""
MAX_ITEMS = 50
"""Most list items / object keys kept per level of a payload."""
MAX_DEPTH = 6
ELLIPSIS = "…"
MAX_LIMIT = 5000
# `pg_advisory_xact_lock(int4, int4)`: this class id ("actv") + a hash of the workflow id
# (the store's migration lock uses the one-argument form, a separate key space).
PG_LOCK_CLASS = 0x61637476

"""The kinds agent steps write (the column takes any short name)."""


@dataclass(frozen=True)
class NewActivityEvent:
    """An event to append; ``created_at`` None = now."""

    workflow_id: str
    run_id: str
    step: str
    attempt: int
    seq: int
    kind: str
    agent: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None


class ActivityEvent(BaseModel):
    """A stored event; ``id`` orders a workflow's events and is the stream's event id."""

    id: int
    workflow_id: str
    run_id: str
    step: str
    attempt: int
    seq: int
    kind: str
    agent: str
    payload: dict[str, Any]
    truncated: bool = False
    created_at: datetime


def bound(value: Any, depth: int = 0) -> tuple[Any, bool]:
    """``value`` as JSON-ready data with long strings, long lists and deep nesting cut;
    True when something was cut."""
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            return value[: MAX_TEXT - 1] + ELLIPSIS, True
        return value, False
    if value is None or isinstance(value, bool | int | float):
        return value, False
    if depth >= MAX_DEPTH:
        return bound(repr(value), depth)[0], True
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        cut = len(value) > MAX_ITEMS
        for i, (k, v) in enumerate(value.items()):
            if i >= MAX_ITEMS:
                break
            out[str(k)[:200]], c = bound(v, depth + 1)
            cut |= c
        return out, cut
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)
        kept = []
        cut = len(items) > MAX_ITEMS
        for v in items[:MAX_ITEMS]:
            b, c = bound(v, depth + 1)
            kept.append(b)
            cut |= c
        return kept, cut
    return bound(str(value), depth)


def _row(event: NewActivityEvent, now: datetime) -> dict[str, Any]:
    payload, truncated = bound(event.payload)
    return {
        "workflow_id": event.workflow_id[:256],
        "run_id": event.run_id[:64],
        "step": event.step[:200],
        "attempt": event.attempt,
        "seq": event.seq,
        "kind": event.kind[:32],
        "agent": event.agent[:64],
        "payload": json.dumps(payload, ensure_ascii=False, default=str),
        "truncated": truncated,
        "created_at": as_utc(event.created_at) if event.created_at is not None else now,
    }


async def _lock_workflows(conn: AsyncConnection, workflow_ids: set[str]) -> None:
    for wf in sorted(workflow_ids):  # one order everywhere: no deadlock between batches
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(:cls, hashtext(:wf))"),
            {"cls": PG_LOCK_CLASS, "wf": wf},
        )


async def append_activity_events(engine: AsyncEngine, rows: Sequence[NewActivityEvent]) -> None:
    """Append ``rows`` in one transaction, in their order; rows whose key exists already are
    skipped (a repeated flush is a no-op)."""
    if not rows:
        return
    async with write_transaction(engine) as conn:
        await append_in(conn, rows)


async def append_in(conn: AsyncConnection, rows: Sequence[NewActivityEvent]) -> None:
    """`append_activity_events` inside the caller's transaction (the ids of its workflows
    are held back from other writers until it ends)."""
    if not rows:
        return
    now = utcnow()
    values = [_row(r, now) for r in rows]
    if conn.dialect.name == "postgresql":
        await _lock_workflows(conn, {v["workflow_id"] for v in values})
        stmt: Any = postgresql.insert(_EVENTS).on_conflict_do_nothing(index_elements=_KEY)
    elif conn.dialect.name == "sqlite":
        stmt = sqlite.insert(_EVENTS).on_conflict_do_nothing(index_elements=_KEY)
    else:  # pragma: no cover - the store supports exactly these two
        raise NotImplementedError(f"unsupported database dialect {conn.dialect.name!r}")
    await conn.execute(stmt, values)


async def list_activity_events(
    engine: AsyncEngine, workflow_id: str, after_id: int = 0, limit: int = 500
) -> list[ActivityEvent]:
    """A workflow's events with id > ``after_id``, oldest first, at most ``limit``
    (one indexed range read: the stream polls it)."""
    limit = max(1, min(limit, MAX_LIMIT))
    query = (
        select(_EVENTS)
        .where(_EVENTS.c.workflow_id == workflow_id, _EVENTS.c.id > after_id)
        .order_by(_EVENTS.c.id)
        .limit(limit)
    )
    async with engine.connect() as conn:
        result = (await conn.execute(query)).all()
    return [
        ActivityEvent(
            id=r.id,
            workflow_id=r.workflow_id,
            run_id=r.run_id,
            step=r.step,
            attempt=r.attempt,
            seq=r.seq,
            kind=r.kind,
            agent=r.agent,
            payload=json.loads(r.payload),
            truncated=bool(r.truncated),
            created_at=as_utc(r.created_at),
        )
        for r in result
    ]


async def delete_activity_events(
    engine: AsyncEngine, workflow_id: str, run_id: str | None = None
) -> int:
    """Forget a run's events (every run of the workflow id when ``run_id`` is None); how
    many rows went."""
    query = delete(_EVENTS).where(_EVENTS.c.workflow_id == workflow_id)
    if run_id is not None:
        query = query.where(_EVENTS.c.run_id == run_id)
    async with write_transaction(engine) as conn:
        result = await conn.execute(query)
    return int(result.rowcount or 0)
