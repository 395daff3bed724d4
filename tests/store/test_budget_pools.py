"""Budget pools on SQLite and PostgreSQL: reservations hold a call's worst case against the
run's cap, settle to the bill once, dead attempts are charged in full (or settled to the bill
they journalled), alerts are written once per threshold, and concurrent reservers — in one
process or several — never take the pool past its cap."""

from __future__ import annotations

import asyncio
import random
import uuid

from store import BilledCall, CallKey, Store, StoreSettings


def _pool() -> str:
    return f"pool-{uuid.uuid4().hex[:10]}/r1"


async def test_reserve_refuses_what_would_pass_the_cap_and_settle_turns_it_into_spending(
    store: Store,
) -> None:
    pool = _pool()
    assert await store.reserve(pool, f"{pool}/k1", 600, 1000)
    assert await store.reserve(pool, f"{pool}/k1", 600, 1000)  # the same call again: no second hold
    assert not await store.reserve(pool, f"{pool}/k2", 500, 1000)  # 600 + 500 > 1000
    assert await store.reserve(pool, f"{pool}/k2", 400, 1000)  # 600 + 400 = 1000: fits exactly

    totals = await store.pool_totals(pool)
    assert (totals.reserved_nanos, totals.spent_nanos, totals.cap_nanos) == (1000, 0, 1000)
    assert totals.refusals == 1

    assert await store.settle(f"{pool}/k1", 250)
    assert not await store.settle(f"{pool}/k1", 999)  # idempotent: the first bill stands
    assert not await store.settle(f"{pool}/unknown", 5)
    totals = await store.pool_totals(pool)
    assert (totals.settled_nanos, totals.reserved_nanos) == (250, 400)
    # What k1 did not use is free again.
    assert await store.reserve(pool, f"{pool}/k3", 350, 1000)
    assert not await store.reserve(pool, f"{pool}/k4", 1, 1000)

    rows = {r.key: r for r in await store.reservations(pool)}
    assert (rows[f"{pool}/k1"].state, rows[f"{pool}/k1"].billed_nanos) == ("settled", 250)
    assert rows[f"{pool}/k2"].state == "reserved" and rows[f"{pool}/k2"].billed_nanos is None


async def test_a_call_that_got_no_answer_settles_at_zero(store: Store) -> None:
    pool = _pool()
    assert await store.reserve(pool, f"{pool}/k1", 1000, 1000)
    assert await store.settle(f"{pool}/k1", 0)
    totals = await store.pool_totals(pool)
    assert (totals.spent_nanos, totals.reserved_nanos) == (0, 0)
    assert await store.reserve(pool, f"{pool}/k2", 1000, 1000)


async def test_a_raised_cap_lets_later_calls_through(store: Store) -> None:
    pool = _pool()
    assert await store.reserve(pool, f"{pool}/k1", 800, 1000)
    assert not await store.reserve(pool, f"{pool}/k2", 800, 1000)
    assert await store.reserve(pool, f"{pool}/k2", 800, 2000)  # a person approved spending past it
    assert (await store.pool_totals(pool)).cap_nanos == 2000


async def test_alerts_are_recorded_once_per_threshold(store: Store) -> None:
    pool = _pool()
    for i, bill in enumerate([700, 60, 10, 90, 100]):
        assert await store.reserve(pool, f"{pool}/k{i}", bill, 1000)
        assert await store.settle(f"{pool}/k{i}", bill)
        totals = await store.pool_totals(pool)
        spent = totals.spent_nanos
        assert totals.alerts == [t for t in (75, 90, 100) if spent * 100 >= 1000 * t], spent
    alerts = await store.budget_alerts(pool)
    # 700 -> none; 760 -> 75; 770 -> -; 860 -> -; 960 -> 90 (100 is not reached until 1000)
    assert [(a.threshold, a.spent_nanos, a.cap_nanos) for a in alerts] == [
        (75, 760, 1000),
        (90, 960, 1000),
    ]
    assert await store.reserve(pool, f"{pool}/k9", 40, 1000)
    assert await store.settle(f"{pool}/k9", 40)
    assert [a.threshold for a in await store.budget_alerts(pool)] == [75, 90, 100]


def _billed(wf: str, attempt: int, request_hash: str, nanos: int) -> BilledCall:
    return BilledCall(
        key=CallKey(workflow_id=wf, run_id="r1", step_key="s1", request_hash=request_hash),
        attempt=attempt,
        agent="a",
        mode="m",
        provider="openai",
        model="gpt-4o-mini",
        tokens_in=1,
        tokens_out=1,
        usd_nanos=nanos,
        response="Final Answer: {}",
    )


async def test_a_dead_attempt_is_charged_its_reservation_unless_its_bill_was_journalled(
    store: Store,
) -> None:
    wf = f"wf-{uuid.uuid4().hex[:8]}"
    pool = f"{wf}/r1"
    paid = _billed(wf, 1, "a" * 64, 300)
    unknown = _billed(wf, 1, "b" * 64, 0)
    step = {"workflow_id": wf, "run_id": "r1", "step_key": "s1"}
    # Attempt 1 reserved two calls and died: the first was answered and written to the
    # ledger (but not settled), the second never came back.
    assert await store.reserve(pool, paid.ledger_key, 1000, 10_000, attempt=1, **step)
    assert await store.reserve(pool, unknown.ledger_key, 2000, 10_000, attempt=1, **step)
    await store.record_billed_call(paid)
    # A reservation of the attempt that is starting now is not touched.
    assert await store.reserve(pool, f"{pool}/attempt-2-call", 500, 10_000, attempt=2, **step)

    report = await store.settle_dead_attempts(wf, "r1", "s1", before_attempt=2)
    assert (report.settled, report.charged) == (1, 1)
    totals = await store.pool_totals(pool)
    assert (totals.settled_nanos, totals.charged_nanos, totals.reserved_nanos) == (300, 2000, 500)
    assert totals.spent_nanos == 2300
    again = await store.settle_dead_attempts(wf, "r1", "s1", before_attempt=2)
    assert (again.settled, again.charged) == (0, 0)

    # The "dead" attempt was only slow: its bill replaces the charge.
    assert await store.settle(unknown.ledger_key, 700)
    totals = await store.pool_totals(pool)
    assert (totals.settled_nanos, totals.charged_nanos) == (1000, 0)


async def test_concurrent_reservers_never_take_the_pool_past_its_cap(
    store: Store, settings: StoreSettings
) -> None:
    """Reservers on two engines (as two worker processes would be) and many tasks each."""
    other = await Store.open(settings)
    pool = _pool()
    cap = 100_000
    rng = random.Random(7)
    worst = [rng.randint(1_000, 9_000) for _ in range(80)]

    async def call(i: int) -> bool:
        s = store if i % 2 else other
        key = f"{pool}/k{i}"
        if not await s.reserve(pool, key, worst[i], cap):
            return False
        totals = await s.pool_totals(pool)
        assert totals.committed_nanos <= cap
        await s.settle(key, worst[i] * rng.randint(0, 100) // 100)
        return True

    try:
        granted = await asyncio.gather(*(call(i) for i in range(len(worst))))
    finally:
        await other.close()
    totals = await store.pool_totals(pool)
    rows = await store.reservations(pool)
    assert totals.reserved_nanos == 0
    assert totals.settled_nanos == sum(r.billed_nanos or 0 for r in rows) <= cap
    assert len(rows) == sum(granted) and sum(granted) < len(worst)
    assert totals.refusals == len(worst) - sum(granted)
    assert all(r.billed_nanos is not None and r.billed_nanos <= r.worst_nanos for r in rows)


async def test_concurrent_holds_alone_never_pass_the_cap(
    store: Store, settings: StoreSettings
) -> None:
    """Nothing settles: what is granted is exactly what fits."""
    other = await Store.open(settings)
    pool = _pool()
    try:
        granted = await asyncio.gather(
            *(
                (store if i % 2 else other).reserve(pool, f"{pool}/k{i}", 1_000, 10_500)
                for i in range(40)
            )
        )
    finally:
        await other.close()
    assert sum(granted) == 10
    assert (await store.pool_totals(pool)).reserved_nanos == 10_000
