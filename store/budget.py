"""Budget pools: one pool of money per run, so the run's cap is a hard cap on what all its
model calls together may cost — parallel branches, foreach items, child runs and every
attempt of each.

Each model call first *reserves* its worst case (input tokens * input price + max output
tokens * output price). The reservation is refused when the pool's spent + outstanding
reservations + this worst case would pass the cap, so at every moment::

    settled + charged + reserved <= cap      (up to a provider billing past its worst case)

After the call it is *settled* to the bill (the ledger row of the call: same key), or to $0
when no provider answered. A reservation of an attempt that died without settling stays
outstanding and counts in full; when a later attempt of the same step starts, it settles
such reservations to the bill their call journalled if there is one, and *charges* the rest
in full (`settle_dead_attempts`). A charged reservation that is settled after all (the
attempt was only slow) turns into its bill.

Every change takes the pool row's lock first — ``SELECT … FOR UPDATE`` on PostgreSQL, the
database's write lock on SQLite (`store.engine.write_transaction`) — so concurrent
reservers, in one process or many, never overshoot the cap. Alerts: when spent (settled +
charged) reaches 75 / 90 / 100 % of the cap, a `budget_alerts` row is written once per
threshold, in the same transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from store.engine import write_transaction
from store.records import (
    BUDGET_ALERT_THRESHOLDS,
    BudgetAlert,
    DeadAttemptSettlement,
    PoolTotals,
    Reservation,
)
from store.tables import (
    BudgetAlertRecord,
    BudgetPool,
    BudgetReservation,
    LedgerEntry,
    utcnow,
)
from store.upsert import insert_ignore

_POOLS = BudgetPool.__table__  # type: ignore[attr-defined]
_RESERVATIONS = BudgetReservation.__table__  # type: ignore[attr-defined]
_ALERTS = BudgetAlertRecord.__table__  # type: ignore[attr-defined]
_LEDGER = LedgerEntry.__table__  # type: ignore[attr-defined]

RESERVED, SETTLED, CHARGED = "reserved", "settled", "charged"


async def _lock_pool(conn: AsyncConnection, pool: str) -> dict[str, Any] | None:
    stmt = select(_POOLS).where(_POOLS.c.pool == pool).with_for_update()
    row = (await conn.execute(stmt)).mappings().first()
    return None if row is None else dict(row)


async def reserve(
    engine: AsyncEngine,
    pool: str,
    key: str,
    worst_nanos: int,
    cap_nanos: int,
    *,
    workflow_id: str = "",
    run_id: str = "",
    step_key: str = "",
    attempt: int = 0,
) -> bool:
    """Hold ``worst_nanos`` against ``pool`` under ``key`` (the ledger key of the call about
    to be made), or refuse (False) when spent + reserved + worst would pass ``cap_nanos``.
    Idempotent: a key already reserved (in any state) is granted again without a second
    hold. The pool row is made on first use; it keeps the largest cap any call brought."""
    if worst_nanos < 0 or cap_nanos < 0:
        raise ValueError("a reservation and a cap are never negative")
    now = utcnow()
    async with write_transaction(engine) as conn:
        await insert_ignore(
            conn,
            _POOLS,
            {
                "pool": pool,
                "cap_nanos": cap_nanos,
                "settled_nanos": 0,
                "charged_nanos": 0,
                "reserved_nanos": 0,
                "refusals": 0,
                "created_at": now,
                "updated_at": now,
            },
        )
        row = await _lock_pool(conn, pool)
        assert row is not None
        held = await conn.execute(select(_RESERVATIONS.c.key).where(_RESERVATIONS.c.key == key))
        if held.first() is not None:
            return True
        committed = row["settled_nanos"] + row["charged_nanos"] + row["reserved_nanos"]
        if committed + worst_nanos > cap_nanos:
            await conn.execute(
                update(_POOLS)
                .where(_POOLS.c.pool == pool)
                .values(refusals=_POOLS.c.refusals + 1, updated_at=now)
            )
            return False
        await conn.execute(
            _RESERVATIONS.insert().values(
                key=key,
                pool=pool,
                workflow_id=workflow_id,
                run_id=run_id,
                step_key=step_key,
                attempt=attempt,
                worst_nanos=worst_nanos,
                billed_nanos=None,
                state=RESERVED,
                created_at=now,
                settled_at=None,
            )
        )
        await conn.execute(
            update(_POOLS)
            .where(_POOLS.c.pool == pool)
            .values(
                reserved_nanos=_POOLS.c.reserved_nanos + worst_nanos,
                cap_nanos=max(row["cap_nanos"], cap_nanos),
                updated_at=now,
            )
        )
        return True


async def settle(engine: AsyncEngine, key: str, billed_nanos: int) -> bool:
    """Turn the reservation ``key`` into spending of ``billed_nanos`` (0: no provider
    answered). True when this call settled it; False when there is no such reservation or
    it was settled already (idempotent: the first settlement stands)."""
    if billed_nanos < 0:
        raise ValueError("a bill is never negative")
    async with write_transaction(engine, reads_first=True) as conn:
        found = await conn.execute(select(_RESERVATIONS.c.pool).where(_RESERVATIONS.c.key == key))
        first = found.first()
        if first is None:
            return False
        pool = str(first[0])
        await _lock_pool(conn, pool)
        return await _settle_locked(conn, key, billed_nanos)


async def _settle_locked(conn: AsyncConnection, key: str, billed_nanos: int) -> bool:
    """Settle with the pool row already locked (the reservation's state is read under it)."""
    stmt = select(_RESERVATIONS).where(_RESERVATIONS.c.key == key)
    res = (await conn.execute(stmt)).mappings().first()
    if res is None or res["state"] == SETTLED:
        return False
    worst = int(res["worst_nanos"])
    released = {"reserved_nanos": _POOLS.c.reserved_nanos - worst}
    if res["state"] == CHARGED:
        released = {"charged_nanos": _POOLS.c.charged_nanos - worst}
    now = utcnow()
    await conn.execute(
        update(_RESERVATIONS)
        .where(_RESERVATIONS.c.key == key)
        .values(state=SETTLED, billed_nanos=billed_nanos, settled_at=now)
    )
    await conn.execute(
        update(_POOLS)
        .where(_POOLS.c.pool == res["pool"])
        .values(settled_nanos=_POOLS.c.settled_nanos + billed_nanos, updated_at=now, **released)
    )
    await _record_alerts(conn, str(res["pool"]))
    return True


async def settle_dead_attempts(
    engine: AsyncEngine, workflow_id: str, run_id: str, step_key: str, before_attempt: int
) -> DeadAttemptSettlement:
    """A new attempt of a step starts: earlier attempts of it are over (failed, timed out,
    their worker gone). Their reservations still outstanding are settled to the bill their
    call left in the ledger, or — no bill known — charged in full (the call may have been
    billed by the provider without the ledger hearing of it). An earlier attempt still
    running after all can settle its own reservation later; the bill then replaces the
    charge."""
    report = DeadAttemptSettlement()
    cond = (
        (_RESERVATIONS.c.workflow_id == workflow_id)
        & (_RESERVATIONS.c.run_id == run_id)
        & (_RESERVATIONS.c.step_key == step_key)
        & (_RESERVATIONS.c.attempt < before_attempt)
        & (_RESERVATIONS.c.state == RESERVED)
    )
    async with engine.connect() as conn:
        pools = sorted(
            {str(r[0]) for r in await conn.execute(select(_RESERVATIONS.c.pool).where(cond))}
        )
    if not pools:
        return report
    async with write_transaction(engine, reads_first=True) as conn:
        for pool in pools:  # in order: two steps locking the same pools never deadlock
            await _lock_pool(conn, pool)
        rows = (
            await conn.execute(
                select(_RESERVATIONS.c.key, _RESERVATIONS.c.pool, _RESERVATIONS.c.worst_nanos)
                .where(cond, _RESERVATIONS.c.pool.in_(pools))
                .order_by(_RESERVATIONS.c.key)
            )
        ).all()
        now = utcnow()
        for key, pool, worst in rows:
            bill = await _ledger_bill(conn, str(key))
            if bill is not None:
                await _settle_locked(conn, str(key), bill)
                report.settled += 1
                continue
            await conn.execute(
                update(_RESERVATIONS)
                .where(_RESERVATIONS.c.key == key)
                .values(state=CHARGED, settled_at=now)
            )
            await conn.execute(
                update(_POOLS)
                .where(_POOLS.c.pool == pool)
                .values(
                    reserved_nanos=_POOLS.c.reserved_nanos - worst,
                    charged_nanos=_POOLS.c.charged_nanos + worst,
                    updated_at=now,
                )
            )
            await _record_alerts(conn, str(pool))
            report.charged += 1
    return report


async def _ledger_bill(conn: AsyncConnection, key: str) -> int | None:
    # The row its call wrote under the same key (a reused answer has a key of its own).
    stmt = select(_LEDGER.c.usd_nanos).where(
        _LEDGER.c.idempotency_key == key, _LEDGER.c.kind != "reused"
    )
    row = (await conn.execute(stmt)).first()
    return None if row is None else int(row[0])


async def _record_alerts(conn: AsyncConnection, pool: str) -> None:
    row = (await conn.execute(select(_POOLS).where(_POOLS.c.pool == pool))).mappings().first()
    if row is None:
        return
    cap = int(row["cap_nanos"])
    spent = int(row["settled_nanos"]) + int(row["charged_nanos"])
    if cap <= 0:
        return
    for threshold in BUDGET_ALERT_THRESHOLDS:
        if spent * 100 >= cap * threshold:
            await insert_ignore(
                conn,
                _ALERTS,
                {
                    "pool": pool,
                    "threshold": threshold,
                    "spent_nanos": spent,
                    "cap_nanos": cap,
                    "at": utcnow(),
                },
            )


async def pool_totals(engine: AsyncEngine, pool: str) -> PoolTotals:
    """The pool's figures and the alert thresholds crossed so far (zeros for a pool no call
    has reserved from yet)."""
    async with engine.connect() as conn:
        row = (await conn.execute(select(_POOLS).where(_POOLS.c.pool == pool))).mappings().first()
        alerts = await conn.execute(
            select(_ALERTS.c.threshold).where(_ALERTS.c.pool == pool).order_by(_ALERTS.c.threshold)
        )
        thresholds = [int(r[0]) for r in alerts]
    if row is None:
        return PoolTotals(pool=pool, alerts=thresholds)
    return PoolTotals(
        pool=pool,
        cap_nanos=int(row["cap_nanos"]),
        settled_nanos=int(row["settled_nanos"]),
        charged_nanos=int(row["charged_nanos"]),
        reserved_nanos=int(row["reserved_nanos"]),
        refusals=int(row["refusals"]),
        alerts=thresholds,
    )


async def budget_alerts(engine: AsyncEngine, pool: str) -> list[BudgetAlert]:
    stmt = select(_ALERTS).where(_ALERTS.c.pool == pool).order_by(_ALERTS.c.threshold)
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    return [
        BudgetAlert(
            pool=r["pool"],
            threshold=r["threshold"],
            spent_nanos=r["spent_nanos"],
            cap_nanos=r["cap_nanos"],
            at=r["at"],
        )
        for r in rows
    ]


async def reservations(engine: AsyncEngine, pool: str) -> list[Reservation]:
    stmt = (
        select(_RESERVATIONS)
        .where(_RESERVATIONS.c.pool == pool)
        .order_by(_RESERVATIONS.c.created_at, _RESERVATIONS.c.key)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    return [Reservation.model_validate(dict(r)) for r in rows]
