"""The store on SQLite and PostgreSQL: migrations, the ledger and call journal (exactly
once, however often a write repeats), configuration versions and run pins, big outputs."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from store import BilledCall, CallKey, ReusedCall, Store, StoreSettings
from store.configs import ConfigVersionNotFound
from store.migrate import current_revision
from store.outputs import OutputNotFound


def _key(wf: str, request_hash: str = "h" * 64, call_index: int = 0) -> CallKey:
    return CallKey(
        workflow_id=wf, run_id="r1", step_key="s1", request_hash=request_hash, call_index=call_index
    )


def _billed(wf: str, attempt: int = 1, nanos: int = 1_234_567, **kw: object) -> BilledCall:
    return BilledCall(
        key=_key(wf, **kw),  # type: ignore[arg-type]
        attempt=attempt,
        agent="market_research",
        mode="industry_trends",
        provider="openai",
        model="gpt-4o-mini",
        tokens_in=1000,
        tokens_out=200,
        usd_nanos=nanos,
        response="Final Answer: {}",
    )


def _wf() -> str:
    return f"wf-{uuid.uuid4().hex[:10]}"


def test_migrations_form_one_line() -> None:
    from alembic.script import ScriptDirectory

    from store.migrate import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config())
    assert len(scripts.get_heads()) == 1, scripts.get_heads()
    line = [r.revision for r in scripts.walk_revisions()][::-1]
    assert line[:3] == ["0001_baseline", "0002_blobs", "0003_budget_pools"]


async def test_migrations_bring_a_database_to_head_once(settings: StoreSettings) -> None:
    from alembic.script import ScriptDirectory

    from store.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    first = await Store.open(settings)
    second = await Store.open(settings)  # re-running the migration is a no-op
    try:
        assert await current_revision(first.engine) == head
        assert await current_revision(second.engine) == head
    finally:
        await first.close()
        await second.close()


async def test_a_billed_call_is_in_the_ledger_exactly_once(store: Store) -> None:
    wf = _wf()
    call = _billed(wf)
    results = await asyncio.gather(*(store.record_billed_call(call) for _ in range(5)))
    assert sorted(results) == [False, False, False, False, True]
    rows = await store.ledger_entries(wf)
    assert len(rows) == 1 and rows[0].kind == "billed" and rows[0].usd_nanos == 1_234_567
    totals = await store.ledger_totals(wf)
    assert (totals.billed_calls, totals.usd_nanos, totals.tokens_in) == (1, 1_234_567, 1000)


async def test_the_journal_answers_a_repeated_request_and_the_ledger_shows_the_reuse(
    store: Store,
) -> None:
    wf = _wf()
    await store.record_billed_call(_billed(wf, nanos=500))
    hit = await store.lookup_call(_key(wf))
    assert hit is not None and hit.response == "Final Answer: {}" and hit.usd_nanos == 500
    assert await store.lookup_call(_key(wf, call_index=1)) is None
    assert await store.lookup_call(_key(wf, request_hash="x" * 64)) is None

    reuse = ReusedCall(key=_key(wf), attempt=2, agent="a", mode="m", hit=hit)
    assert await store.record_reuse(reuse) is True
    assert await store.record_reuse(reuse) is False  # the same attempt retrying its write
    rows = await store.ledger_entries(wf)
    assert [(r.attempt, r.kind, r.usd_nanos) for r in rows] == [
        (1, "billed", 500),
        (2, "reused", 0),
    ]
    assert rows[1].reused_from == rows[0].idempotency_key
    totals = await store.ledger_totals(wf)
    assert (totals.billed_calls, totals.reused_calls, totals.usd_nanos) == (1, 1, 500)


async def test_ledger_sums_are_exact_and_scoped_to_run_and_step(store: Store) -> None:
    wf = _wf()
    for i, nanos in enumerate([100_000_001, 200_000_002, 300_000_003]):
        await store.record_billed_call(_billed(wf, nanos=nanos, call_index=i))
    assert (await store.ledger_totals(wf)).usd_nanos == 600_000_006
    assert (await store.ledger_totals(wf)).usd == pytest.approx(0.600000006)
    assert (await store.ledger_totals(wf, run_id="other")).usd_nanos == 0
    assert (await store.ledger_totals(wf, "r1", "s1")).billed_calls == 3


async def test_configuration_versions_activation_and_idempotent_create(store: Store) -> None:
    agent = f"agent_{uuid.uuid4().hex[:6]}"
    assert await store.active_config_version(agent) is None
    v1 = await store.create_config_version(agent, {"temperature": 0.1}, note="first")
    v2 = await store.create_config_version(agent, {"temperature": 0.9}, activate=False)
    assert (v1, v2) == (1, 2)
    assert await store.active_config_version(agent) == 1
    await store.activate_config_version(agent, 2)
    assert await store.active_config_version(agent) == 2
    again = await store.create_config_version(agent, {"x": 1}, request_key=f"{agent}-req")
    same = await store.create_config_version(agent, {"x": 1}, request_key=f"{agent}-req")
    assert again == same == 3
    versions = await store.config_versions(agent)
    assert [(v.version, v.active) for v in versions] == [(1, False), (2, False), (3, True)]
    assert (await store.config_version(agent, 1)).body == {"temperature": 0.1}
    with pytest.raises(ConfigVersionNotFound, match="no configuration version 9"):
        await store.config_version(agent, 9)
    with pytest.raises(ConfigVersionNotFound):
        await store.activate_config_version(agent, 9)


async def test_concurrent_creates_get_distinct_versions(store: Store) -> None:
    agent = f"agent_{uuid.uuid4().hex[:6]}"
    versions = await asyncio.gather(
        *(store.create_config_version(agent, {"i": i}) for i in range(4))
    )
    assert sorted(versions) == [1, 2, 3, 4]


async def test_a_run_keeps_the_version_pinned_when_it_first_asked(store: Store) -> None:
    agent = f"agent_{uuid.uuid4().hex[:6]}"
    assert await store.pin_config_for_run("wf", "r0", agent) == 0  # no versions: defaults
    await store.create_config_version(agent, {"v": 1})
    pins = await asyncio.gather(*(store.pin_config_for_run("wf", "r1", agent) for _ in range(4)))
    assert pins == [1, 1, 1, 1]
    await store.create_config_version(agent, {"v": 2})
    assert await store.pin_config_for_run("wf", "r1", agent) == 1
    assert await store.pin_config_for_run("wf", "r2", agent) == 2
    assert await store.pin_config_for_run("wf", "r0", agent) == 0


async def test_big_outputs_are_stored_once_and_read_by_reference(store: Store) -> None:
    wf = _wf()
    body = '{"summary": "' + "x" * 100_000 + '"}'
    ref = await store.put_output(
        ref_key=f"{wf}/s1/a1", workflow_id=wf, run_id="r1", step_key="s1", body=body
    )
    again = await store.put_output(
        ref_key=f"{wf}/s1/a1",
        workflow_id=wf,
        run_id="r1",
        step_key="s1",
        body='{"summary": "other"}',
    )
    assert again == ref
    assert (await store.get_output(ref))["summary"] == "x" * 100_000
    with pytest.raises(OutputNotFound):
        await store.get_output("bizos-output:missing")


def test_settings_pick_the_async_driver_and_the_default_file() -> None:
    s = StoreSettings(database_url="postgresql://u@db:5432/bizos")
    assert s.url() == "postgresql+asyncpg://u@db:5432/bizos" and not s.is_sqlite
    local = StoreSettings(home="/tmp/h")  # type: ignore[arg-type]
    assert local.url() == "sqlite+aiosqlite:////tmp/h/bizos.db" and local.is_sqlite
