"""Live agent activity in the store (revision 0007), on SQLite and PostgreSQL: appends are
idempotent by (workflow, step, attempt, seq), a workflow's events read back in id order
after any id, payloads are bounded and say so, a tail that reads while many writers append
to one workflow misses nothing, and the migration from 0006 keeps every row."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command

from store import Store, StoreSettings
from store.activity_events import MAX_TEXT, PG_LOCK_CLASS, NewActivityEvent, append_in
from store.engine import create_engine
from store.migrate import alembic_config, current_revision, upgrade
from tests.support import eventually


def _ev(
    wf: str, seq: int, *, step: str = "s1", attempt: int = 1, run: str = "r1", **payload: object
) -> NewActivityEvent:
    return NewActivityEvent(
        workflow_id=wf,
        run_id=run,
        step=step,
        attempt=attempt,
        seq=seq,
        kind="tool_started" if seq else "step_started",
        agent="market_research",
        payload=dict(payload),
    )


def _wf(name: str) -> str:
    return f"default.test.{name}.{datetime.now(UTC).timestamp()}"


async def test_append_is_idempotent_and_reads_in_order(store: Store) -> None:
    wf = _wf("idem")
    await store.append_activity_events([_ev(wf, 0), _ev(wf, 1, tool="a"), _ev(wf, 2, tool="b")])
    # a repeated flush (same keys, even with other content) writes nothing; a new key does
    await store.append_activity_events([_ev(wf, 1, tool="changed"), _ev(wf, 2), _ev(wf, 3)])
    await store.append_activity_events([_ev(wf, 0, step="s2")])  # another step: its own keys
    await store.append_activity_events([_ev(wf, 0, attempt=2)])  # another attempt too
    await store.append_activity_events([_ev(wf, 0, run="r2")])  # the id started again
    await store.append_activity_events([_ev(_wf("other"), 0)])  # another workflow

    events = await store.list_activity_events(wf)
    assert [(e.step, e.attempt, e.seq) for e in events] == [
        ("s1", 1, 0),
        ("s1", 1, 1),
        ("s1", 1, 2),
        ("s1", 1, 3),
        ("s2", 1, 0),
        ("s1", 2, 0),
        ("s1", 1, 0),
    ]
    assert [e.run_id for e in events] == ["r1"] * 6 + ["r2"]
    ids = [e.id for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert events[1].payload == {"tool": "a"} and events[1].kind == "tool_started"
    assert events[0].kind == "step_started" and events[0].agent == "market_research"
    assert events[0].created_at.tzinfo is not None and not events[0].truncated

    assert [e.id for e in await store.list_activity_events(wf, ids[2])] == ids[3:]
    assert [e.id for e in await store.list_activity_events(wf, ids[0], limit=2)] == ids[1:3]
    assert await store.list_activity_events(wf, ids[-1]) == []
    assert await store.list_activity_events("default.test.none") == []

    assert await store.delete_activity_events(wf, "r2") == 1
    assert len(await store.list_activity_events(wf)) == 6
    assert await store.delete_activity_events(wf) == 6
    assert await store.list_activity_events(wf) == []


async def test_payloads_are_bounded_and_flagged(store: Store) -> None:
    wf = _wf("bounded")
    big = "x" * (MAX_TEXT * 3)
    await store.append_activity_events(
        [
            _ev(wf, 0, result=big, nested={"deep": [big]}),
            _ev(wf, 1, result="ünïcode ✓", n=3, ok=True, none=None),
        ]
    )
    cut, whole = await store.list_activity_events(wf)
    assert cut.truncated and len(cut.payload["result"]) == MAX_TEXT
    assert cut.payload["result"].endswith("…") and len(cut.payload["nested"]["deep"][0]) == MAX_TEXT
    assert not whole.truncated
    assert whole.payload == {"result": "ünïcode ✓", "n": 3, "ok": True, "none": None}


async def test_a_tail_misses_nothing_while_writers_append_concurrently(store: Store) -> None:
    """Readers resume after the last id they saw: ids must become visible in order within a
    workflow, however many transactions append to it at once."""
    wf = _wf("tail")
    writers, batches, per_batch = 8, 6, 3
    total = writers * batches * per_batch

    async def write(w: int) -> None:
        for b in range(batches):
            await store.append_activity_events(
                [_ev(wf, b * per_batch + i, step=f"s{w}") for i in range(per_batch)]
            )

    seen: list[int] = []

    async def tail_until_all() -> bool:
        while page := await store.list_activity_events(wf, seen[-1] if seen else 0, limit=7):
            seen.extend(e.id for e in page)
        return len(seen) >= total

    tasks = [asyncio.create_task(write(w)) for w in range(writers)]
    await eventually(tail_until_all, timeout_s=20, what="the tail to see every event")
    await asyncio.gather(*tasks)
    everything = [e.id for e in await store.list_activity_events(wf, limit=total + 1)]
    assert seen == everything and len(everything) == total
    for w in range(writers):  # each step's events in seq order
        seqs = [
            e.seq for e in await store.list_activity_events(wf, limit=total) if e.step == f"s{w}"
        ]
        assert seqs == list(range(batches * per_batch))


async def _migrate(settings: StoreSettings, action: str, revision: str) -> None:
    engine = create_engine(settings)

    def go(conn: sa.Connection) -> None:
        cfg = alembic_config(settings.database_schema)
        cfg.attributes["connection"] = conn
        getattr(command, action)(cfg, revision)

    try:
        async with engine.begin() as conn:
            await conn.run_sync(go)
    finally:
        await engine.dispose()


async def _tables(settings: StoreSettings) -> set[str]:
    engine = create_engine(settings)
    schema = settings.database_schema
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names(schema=schema)))
    finally:
        await engine.dispose()


async def test_0007_upgrades_from_0006_keeping_rows_and_downgrades(
    fresh_settings: StoreSettings,
) -> None:
    await _migrate(fresh_settings, "upgrade", "0006_approvals")
    store = await Store.open(fresh_settings, migrate=False)
    try:
        await store.create_tenant("acme")
        await store.audit("acme", "alice", "key.create", "k1", {"n": 1})
        cfg = await store.create_config_version("market_research", {"t": 1}, tenant="acme")
    finally:
        await store.close()
    assert "activity_events" not in await _tables(fresh_settings)

    store = await Store.open(fresh_settings)  # migrates to head
    try:
        engine = store.engine
        assert await current_revision(engine) == "0007_activity_events"
        assert (await store.get_tenant("acme")) is not None
        assert [a.action for a in await store.audit_entries("acme")] == ["key.create"]
        assert await store.active_config_version("market_research", tenant="acme") == cfg
        wf = _wf("migrated")
        await store.append_activity_events([_ev(wf, 0), _ev(wf, 1)])
        first = await store.list_activity_events(wf)
        assert [e.seq for e in first] == [0, 1]
    finally:
        await store.close()

    await _migrate(fresh_settings, "downgrade", "0006_approvals")
    assert "activity_events" not in await _tables(fresh_settings)
    store = await Store.open(fresh_settings)  # and up again: a fresh table whose ids start over
    try:
        assert (await store.get_tenant("acme")) is not None
        await store.append_activity_events([_ev(wf, 0)])
        assert [e.seq for e in await store.list_activity_events(wf)] == [0]
        engine = store.engine
        await upgrade(engine, fresh_settings.database_schema)  # a no-op at head
        assert await current_revision(engine) == "0007_activity_events"
    finally:
        await store.close()


async def test_postgres_ids_of_a_workflow_become_visible_in_order(
    store_pg_settings: StoreSettings,
) -> None:
    """A writer whose transaction is still open holds back later writers of the same
    workflow: a viewer never sees a later id first and then resumes past the earlier one.
    (SQLite has one writer at a time by itself.)"""
    store = await Store.open(store_pg_settings)
    wf, other = _wf("order"), _wf("order-other")
    try:
        async with store.engine.connect() as slow:
            await slow.begin()
            await append_in(slow, [_ev(wf, 0, step="slow")])
            later = asyncio.create_task(store.append_activity_events([_ev(wf, 0, step="fast")]))

            async def later_waits() -> bool:
                async with store.engine.connect() as conn:
                    waiting = await conn.scalar(
                        sa.text(
                            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                            "AND objsubid = 2 AND classid::bigint = :cls AND NOT granted"
                        ),
                        {"cls": PG_LOCK_CLASS},
                    )
                return bool(waiting)

            await eventually(later_waits, timeout_s=10, what="the later writer to wait")
            assert await store.list_activity_events(wf) == []
            # another workflow is not held back
            await store.append_activity_events([_ev(other, 0)])
            assert len(await store.list_activity_events(other)) == 1
            await slow.commit()
        await later
        events = await store.list_activity_events(wf)
        assert [e.step for e in events] == ["slow", "fast"] and events[0].id < events[1].id
    finally:
        await store.close()
