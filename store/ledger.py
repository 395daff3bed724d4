"""The cost ledger and the call journal.

A billed call writes its journal row and its ledger row in one transaction, both keyed, so
a call is in the ledger exactly once however often the write is repeated. A retried attempt
that finds its request in the journal writes a ``reused`` ledger row ($0, pointing at the
billed row) instead of paying again. Calls of the offline policy write a ledger row only
(`record_estimated_calls`): their token estimates, $0 or priced as a real model.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from store.engine import write_transaction
from store.records import (
    BilledCall,
    CallKey,
    EstimatedCall,
    JournalHit,
    LedgerTotals,
    ReusedCall,
)
from store.tables import CallJournalEntry, LedgerEntry, utcnow
from store.upsert import insert_ignore

_LEDGER = LedgerEntry.__table__  # type: ignore[attr-defined]
_JOURNAL = CallJournalEntry.__table__  # type: ignore[attr-defined]


def _ledger_row(
    key: CallKey,
    *,
    ledger_key: str,
    attempt: int,
    kind: str,
    agent: str,
    mode: str,
    provider: str,
    model: str,
    tokens_in: int,
    tokens_out: int,
    usd_nanos: int,
    now: datetime,
    reused_from: str | None = None,
    priced_as: str | None = None,
) -> dict[str, object]:
    """One ledger row: billed, estimated (offline) and reused calls differ only in these."""
    row: dict[str, object] = {
        "idempotency_key": ledger_key,
        "tenant": key.tenant,
        "workflow_id": key.workflow_id,
        "run_id": key.run_id,
        "step_key": key.step_key,
        "attempt": attempt,
        "call_index": key.call_index,
        "request_hash": key.request_hash,
        "kind": kind,
        "agent": agent,
        "mode": mode,
        "provider": provider,
        "model": model,
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "usd_nanos": usd_nanos,
        "reused_from": reused_from,
        "created_at": now,
    }
    if priced_as is not None:
        row["priced_as"] = priced_as
    return row


async def record_billed_call(engine: AsyncEngine, call: BilledCall) -> bool:
    """Journal + ledger for one answered call. False when it was already recorded."""
    key = call.key
    now = utcnow()
    async with write_transaction(engine) as conn:
        inserted = await insert_ignore(
            conn,
            _LEDGER,
            _ledger_row(
                key,
                ledger_key=call.ledger_key,
                attempt=call.attempt,
                kind="billed",
                agent=call.agent,
                mode=call.mode,
                provider=call.provider,
                model=call.model,
                tokens_in=call.tokens_in,
                tokens_out=call.tokens_out,
                usd_nanos=call.usd_nanos,
                now=now,
            ),
        )
        # A duplicate attempt racing this one may have journalled the same request first:
        # the first answer wins, and this call still shows in the ledger (it was billed).
        await insert_ignore(
            conn,
            _JOURNAL,
            {
                "workflow_id": key.workflow_id,
                "run_id": key.run_id,
                "step_key": key.step_key,
                "request_hash": key.request_hash,
                "call_index": key.call_index,
                "provider": call.provider,
                "model": call.model,
                "response": call.response,
                "tokens_in": call.tokens_in,
                "tokens_out": call.tokens_out,
                "usd_nanos": call.usd_nanos,
                "ledger_key": call.ledger_key,
                "created_at": now,
            },
        )
    return inserted


async def record_estimated_call(engine: AsyncEngine, call: EstimatedCall) -> bool:
    """The ledger row of one offline call (no journal). False when it was already recorded."""
    return await record_estimated_calls(engine, [call]) == 1


async def record_estimated_calls(engine: AsyncEngine, calls: Sequence[EstimatedCall]) -> int:
    """Ledger rows of offline calls, in one transaction; how many were new."""
    inserted = 0
    now = utcnow()
    async with write_transaction(engine) as conn:
        for call in calls:
            inserted += await insert_ignore(
                conn,
                _LEDGER,
                _ledger_row(
                    call.key,
                    ledger_key=call.ledger_key,
                    attempt=call.attempt,
                    kind="billed",
                    agent=call.agent,
                    mode=call.mode,
                    provider=call.provider,
                    model=call.model,
                    tokens_in=call.tokens_in,
                    tokens_out=call.tokens_out,
                    usd_nanos=call.usd_nanos,
                    now=now,
                    priced_as=call.priced_as,
                ),
            )
    return inserted


async def lookup_call(engine: AsyncEngine, key: CallKey) -> JournalHit | None:
    stmt = select(_JOURNAL).where(
        _JOURNAL.c.workflow_id == key.workflow_id,
        _JOURNAL.c.run_id == key.run_id,
        _JOURNAL.c.step_key == key.step_key,
        _JOURNAL.c.request_hash == key.request_hash,
        _JOURNAL.c.call_index == key.call_index,
    )
    async with engine.connect() as conn:
        row = (await conn.execute(stmt)).mappings().first()
    if row is None:
        return None
    return JournalHit(
        provider=row["provider"],
        model=row["model"],
        response=row["response"],
        tokens_in=row["tokens_in"],
        tokens_out=row["tokens_out"],
        usd_nanos=row["usd_nanos"],
        ledger_key=row["ledger_key"],
    )


async def record_reuse(engine: AsyncEngine, reuse: ReusedCall) -> bool:
    async with write_transaction(engine) as conn:
        return await insert_ignore(
            conn,
            _LEDGER,
            _ledger_row(
                reuse.key,
                ledger_key=reuse.ledger_key,
                attempt=reuse.attempt,
                kind="reused",
                agent=reuse.agent,
                mode=reuse.mode,
                provider=reuse.hit.provider,
                model=reuse.hit.model,
                tokens_in=reuse.hit.tokens_in,
                tokens_out=reuse.hit.tokens_out,
                usd_nanos=0,
                now=utcnow(),
                reused_from=reuse.hit.ledger_key,
            ),
        )


async def ledger_entries(
    engine: AsyncEngine, workflow_id: str, run_id: str | None = None, step_key: str | None = None
) -> list[LedgerEntry]:
    stmt = select(LedgerEntry).where(LedgerEntry.workflow_id == workflow_id)  # type: ignore[arg-type]
    if run_id is not None:
        stmt = stmt.where(LedgerEntry.run_id == run_id)  # type: ignore[arg-type]
    if step_key is not None:
        stmt = stmt.where(LedgerEntry.step_key == step_key)  # type: ignore[arg-type]
    stmt = stmt.order_by(LedgerEntry.id)  # type: ignore[arg-type]
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    return [LedgerEntry.model_validate(dict(r)) for r in rows]


async def ledger_entries_under(engine: AsyncEngine, workflow_id: str) -> list[LedgerEntry]:
    """Rows of a run and of its child runs (whose ids extend it: ``<id>.<step>[.<index>]``)."""
    col = _LEDGER.c.workflow_id
    stmt = (
        select(_LEDGER)
        .where(or_(col == workflow_id, col.startswith(workflow_id + ".", autoescape=True)))
        .order_by(_LEDGER.c.id)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    return [LedgerEntry.model_validate(dict(r)) for r in rows]


async def ledger_totals(
    engine: AsyncEngine, workflow_id: str, run_id: str | None = None, step_key: str | None = None
) -> LedgerTotals:
    """Billed money and tokens (reused rows count as calls saved, not as spend)."""
    conds = [_LEDGER.c.workflow_id == workflow_id]
    if run_id is not None:
        conds.append(_LEDGER.c.run_id == run_id)
    if step_key is not None:
        conds.append(_LEDGER.c.step_key == step_key)
    stmt = (
        select(
            _LEDGER.c.kind,
            func.count(),
            func.coalesce(func.sum(_LEDGER.c.tokens_in), 0),
            func.coalesce(func.sum(_LEDGER.c.tokens_out), 0),
            func.coalesce(func.sum(_LEDGER.c.usd_nanos), 0),
        )
        .where(*conds)
        .group_by(_LEDGER.c.kind)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    totals = LedgerTotals()
    for kind, count, t_in, t_out, nanos in rows:
        if kind == "billed":
            totals.billed_calls = int(count)
            totals.tokens_in = int(t_in)
            totals.tokens_out = int(t_out)
            totals.usd_nanos = int(nanos)
        elif kind == "reused":
            totals.reused_calls = int(count)
    return totals
