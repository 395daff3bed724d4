"""The executions index: one row per run the service started (workflow id, tenant, template
or agent, status, times, cost), so listing a tenant's runs is one indexed query instead of
a Temporal visibility search. Temporal stays the truth; the service keeps the row current.

Pages are newest first, keyed by (started_at, workflow_id): the cursor is that pair of the
page's last row, so rows started meanwhile never shift a page.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from store.engine import write_transaction
from store.records import ExecutionInfo, ExecutionPage
from store.tables import NANOS_PER_USD, Execution, as_utc, utcnow
from store.upsert import insert_ignore

_EXECUTIONS = Execution.__table__  # type: ignore[attr-defined]
MAX_PAGE = 500
CLOSED_STATUSES = frozenset(
    {"completed", "failed", "cancelled", "terminated", "timed_out", "continued_as_new"}
)


class InvalidCursor(ValueError):
    """The cursor was not made by `list_executions`."""


def _info(row: object) -> ExecutionInfo:
    closed = row.closed_at  # type: ignore[attr-defined]
    return ExecutionInfo(
        workflow_id=row.workflow_id,  # type: ignore[attr-defined]
        run_id=row.run_id,  # type: ignore[attr-defined]
        tenant=row.tenant,  # type: ignore[attr-defined]
        kind=row.kind,  # type: ignore[attr-defined]
        name=row.name,  # type: ignore[attr-defined]
        status=row.status,  # type: ignore[attr-defined]
        started_at=as_utc(row.started_at),  # type: ignore[attr-defined]
        closed_at=None if closed is None else as_utc(closed),
        cost_usd=row.cost_nanos / NANOS_PER_USD,  # type: ignore[attr-defined]
        idempotency_key=row.idempotency_key,  # type: ignore[attr-defined]
    )


def encode_cursor(started_at: datetime, workflow_id: str) -> str:
    raw = json.dumps([as_utc(started_at).isoformat(), workflow_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, wf = json.loads(raw)
        return as_utc(datetime.fromisoformat(at)), str(wf)
    except (ValueError, TypeError) as e:
        raise InvalidCursor(
            f"invalid cursor {cursor[:40]!r}: pass the next_cursor of a page"
        ) from e


async def record_execution(
    engine: AsyncEngine,
    *,
    workflow_id: str,
    run_id: str,
    tenant: str,
    kind: str,
    name: str,
    status: str = "running",
    started_at: datetime | None = None,
    idempotency_key: str | None = None,
) -> bool:
    """Index a run the service started. Idempotent by workflow id: a repeat is a no-op
    (False); a new run of the same workflow id (another ``run_id``) replaces the row."""
    if kind not in ("template", "agent"):
        raise ValueError(f"execution kind must be template or agent, not {kind!r}")
    values = {
        "workflow_id": workflow_id,
        "run_id": run_id,
        "tenant": tenant,
        "kind": kind,
        "name": name,
        "status": status,
        "started_at": as_utc(started_at) if started_at is not None else utcnow(),
        "closed_at": None,
        "cost_nanos": 0,
        "idempotency_key": idempotency_key,
    }
    async with write_transaction(engine) as conn:
        if await insert_ignore(conn, _EXECUTIONS, values):
            return True
        result = await conn.execute(
            update(_EXECUTIONS)
            .where(
                _EXECUTIONS.c.workflow_id == workflow_id,
                _EXECUTIONS.c.tenant == tenant,
                _EXECUTIONS.c.run_id != run_id,
            )
            .values(**{k: v for k, v in values.items() if k != "workflow_id"})
        )
        return bool(result.rowcount)


async def update_execution_status(
    engine: AsyncEngine,
    workflow_id: str,
    status: str,
    *,
    run_id: str | None = None,
    closed_at: datetime | None = None,
    cost_usd: float | None = None,
) -> bool:
    """Set a run's status (and cost); a closing status sets ``closed_at`` (now unless given).
    With ``run_id`` only that run's row changes. False when no row matched."""
    values: dict[str, object] = {"status": status}
    if closed_at is not None or status in CLOSED_STATUSES:
        values["closed_at"] = as_utc(closed_at) if closed_at is not None else utcnow()
    if cost_usd is not None:
        values["cost_nanos"] = round(cost_usd * NANOS_PER_USD)
    query = update(_EXECUTIONS).where(_EXECUTIONS.c.workflow_id == workflow_id)
    if run_id is not None:
        query = query.where(_EXECUTIONS.c.run_id == run_id)
    async with write_transaction(engine) as conn:
        result = await conn.execute(query.values(**values))
    return bool(result.rowcount)


async def get_execution(engine: AsyncEngine, tenant: str, workflow_id: str) -> ExecutionInfo | None:
    """A run of ``tenant`` (another tenant's run is None, like a missing one)."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(_EXECUTIONS).where(
                    _EXECUTIONS.c.tenant == tenant, _EXECUTIONS.c.workflow_id == workflow_id
                )
            )
        ).first()
    return None if row is None else _info(row)


async def execution_for_idempotency_key(
    engine: AsyncEngine, tenant: str, idempotency_key: str
) -> ExecutionInfo | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(_EXECUTIONS).where(
                    _EXECUTIONS.c.tenant == tenant,
                    _EXECUTIONS.c.idempotency_key == idempotency_key,
                )
            )
        ).first()
    return None if row is None else _info(row)


async def list_executions(
    engine: AsyncEngine,
    tenant: str,
    *,
    template: str | None = None,
    agent: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> ExecutionPage:
    """A page of ``tenant``'s runs, newest first. ``since`` inclusive, ``until`` exclusive
    (on ``started_at``); ``cursor`` = the previous page's ``next_cursor``."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}")
    c = _EXECUTIONS.c
    query = select(_EXECUTIONS).where(c.tenant == tenant)
    if template is not None:
        query = query.where(c.kind == "template", c.name == template)
    if agent is not None:
        query = query.where(c.kind == "agent", c.name == agent)
    if status is not None:
        query = query.where(c.status == status)
    if since is not None:
        query = query.where(c.started_at >= as_utc(since))
    if until is not None:
        query = query.where(c.started_at < as_utc(until))
    if cursor is not None:
        at, wf = decode_cursor(cursor)
        query = query.where(or_(c.started_at < at, and_(c.started_at == at, c.workflow_id < wf)))
    query = query.order_by(c.started_at.desc(), c.workflow_id.desc()).limit(limit + 1)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    items = [_info(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = encode_cursor(last.started_at, last.workflow_id)
    return ExecutionPage(items=items, next_cursor=next_cursor)
