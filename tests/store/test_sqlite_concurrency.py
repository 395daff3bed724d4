"""Issue #14: many agent steps writing to the embedded SQLite store from one worker process.

SQLite has one writer at a time and no queue for the others: a connection that finds the
write lock taken polls for it (the busy timeout) and is not served in order, so under load
some writers starved past the timeout ("database is locked"). The store serialises its own
writes per process instead (`store.engine.write_transaction`), so in-process writers never
meet on SQLite's lock. These tests set the busy timeout to 0 — any such meeting fails at
once instead of being hidden in a wait — and run 100 step-like write sequences at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import store.engine
from store import BilledCall, CallKey, Store, StoreSettings
from store.activity_events import NewActivityEvent

STEPS = 100
CALLS = 2  # model calls per step: reserve, journal lookup, billed call (twice), settle
POOL_CAP_NANOS = 10**12


@pytest.fixture
def no_busy_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite answers "database is locked" at once when two connections want to write."""
    monkeypatch.setattr(store.engine, "SQLITE_BUSY_TIMEOUT_S", 0)


@pytest.fixture
async def sqlite_store(tmp_path: Path, no_busy_wait: None) -> AsyncIterator[Store]:
    opened = await Store.open(StoreSettings(home=tmp_path))
    try:
        yield opened
    finally:
        await opened.close()


def _ids(i: int) -> tuple[str, str, str, str]:
    wf, run = f"acme/wf-{i}", f"run-{i}"
    return wf, run, "research", f"{wf}/{run}"


def _call(i: int, c: int) -> BilledCall:
    wf, run, step, _ = _ids(i)
    return BilledCall(
        key=CallKey(
            tenant="acme",
            workflow_id=wf,
            run_id=run,
            step_key=step,
            request_hash=f"{c:064x}",
            call_index=c,
        ),
        attempt=1,
        agent="market_research",
        mode="industry_trends",
        provider="openai",
        model="gpt-4o-mini",
        tokens_in=1000,
        tokens_out=200,
        usd_nanos=1_000 + c,
        response=f"Final Answer: {{}} {i}/{c}",
    )


def _event(i: int, seq: int, kind: str) -> NewActivityEvent:
    wf, run, step, _ = _ids(i)
    return NewActivityEvent(wf, run, step, 1, seq, kind, payload={"n": seq})


async def _step(s: Store, i: int) -> None:
    """The store traffic of one agent step attempt, in its order."""
    wf, run, step, pool = _ids(i)
    await s.append_activity_events([_event(i, 0, "step_started")])
    for c in range(CALLS):
        call = _call(i, c)
        granted = await s.reserve(
            pool,
            call.ledger_key,
            5_000,
            POOL_CAP_NANOS,
            workflow_id=wf,
            run_id=run,
            step_key=step,
            attempt=1,
        )
        assert granted
        assert await s.lookup_call(call.key) is None
        # a repeated write (a retried store call) must not add a second row
        recorded = await asyncio.gather(s.record_billed_call(call), s.record_billed_call(call))
        assert sorted(recorded) == [False, True]
        assert await s.settle(call.ledger_key, call.usd_nanos)
        await s.append_activity_events([_event(i, c + 1, "llm_call")])
    await s.put_output(
        ref_key=f"{wf}/{run}/{step}",
        workflow_id=wf,
        run_id=run,
        step_key=step,
        body='{"report": "' + "x" * 4000 + '"}',
        replace=True,
    )
    await s.append_activity_events([_event(i, CALLS + 1, "step_finished")])
    assert (await s.pool_totals(pool)).reserved_nanos == 0


async def test_100_concurrent_steps_write_every_row_once_without_waiting_on_sqlite(
    sqlite_store: Store,
) -> None:
    results = await asyncio.gather(
        *(_step(sqlite_store, i) for i in range(STEPS)), return_exceptions=True
    )
    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, f"{len(failures)} of {STEPS} steps failed, first: {failures[0]!r}"

    for i in range(STEPS):
        wf, run, step, pool = _ids(i)
        rows = await sqlite_store.ledger_entries(wf, run, step)
        assert sorted(r.idempotency_key for r in rows) == sorted(
            _call(i, c).ledger_key for c in range(CALLS)
        )
        for c in range(CALLS):
            hit = await sqlite_store.lookup_call(_call(i, c).key)
            assert hit is not None and hit.response == f"Final Answer: {{}} {i}/{c}"
        totals = await sqlite_store.pool_totals(pool)
        assert totals.settled_nanos == sum(_call(i, c).usd_nanos for c in range(CALLS))
        assert [r.state for r in await sqlite_store.reservations(pool)] == ["settled"] * CALLS
        events = await sqlite_store.list_activity_events(wf)
        assert [e.seq for e in events] == list(range(CALLS + 2))
        output = await sqlite_store.get_output(f"bizos-output:{wf}/{run}/{step}")
        assert len(output["report"]) == 4000


async def test_two_stores_on_one_file_in_one_process_share_the_write_queue(
    tmp_path: Path, no_busy_wait: None
) -> None:
    """The API and a worker pool opened in one process (the embedded default) each hold a
    Store on the same file: their writes queue together, not on SQLite's lock."""
    first = await Store.open(StoreSettings(home=tmp_path))
    second = await Store.open(StoreSettings(home=tmp_path))
    try:
        calls = [_call(i, 0) for i in range(40)]
        results = await asyncio.gather(
            *(
                (first if i % 2 else second).record_billed_call(call)
                for i, call in enumerate(calls)
            ),
            return_exceptions=True,
        )
        assert results == [True] * len(calls)
        for call in calls:
            rows = await first.ledger_entries(call.key.workflow_id)
            assert [r.idempotency_key for r in rows] == [call.ledger_key]
    finally:
        await first.close()
        await second.close()


async def test_every_sqlite_connection_is_in_wal_mode_with_the_busy_timeout(
    tmp_path: Path,
) -> None:
    opened = await Store.open(StoreSettings(home=tmp_path))
    try:
        async with opened.engine.connect() as conn:
            mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
            timeout = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar()
        assert (mode, timeout) == ("wal", store.engine.SQLITE_BUSY_TIMEOUT_S * 1000)
    finally:
        await opened.close()
