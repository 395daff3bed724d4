"""Revision 0005_tenants upgrades a populated database without loss, on SQLite and
PostgreSQL: a database is brought to 0004_priced_as, every table that exists there gets
rows, and after the upgrade to head every row is still there; the agent configurations
(versions and active pointers) now belong to tenant `default` and keep working."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import AsyncEngine

from store import Store, StoreSettings
from store.engine import create_engine
from store.migrate import alembic_config, current_revision, upgrade

BEFORE = "0004_priced_as"
HEAD = "0007_activity_events"  # upgrade() goes to the newest revision
AT = datetime(2026, 3, 2, 10, 30, 15, 123456, tzinfo=UTC)

# One or more rows for every table at 0004_priced_as (the test fails if a table is missing).
# Serial ids are left to the database, so its sequences stay right on PostgreSQL.
ROWS: dict[str, list[dict[str, Any]]] = {
    "ledger_entries": [
        {
            "idempotency_key": "default.content.k/r1/s1/a1/h/0",
            "tenant": "default",
            "workflow_id": "default.content.k",
            "run_id": "r1",
            "step_key": "s1",
            "attempt": 1,
            "call_index": 0,
            "request_hash": "h" * 64,
            "kind": "billed",
            "agent": "market_research",
            "mode": "industry_trends",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "tokens_in": 1000,
            "tokens_out": 200,
            "usd_nanos": 1_234_567_890_123,
            "reused_from": None,
            "priced_as": "openai:gpt-4o",
            "created_at": AT,
        }
    ],
    "call_journal": [
        {
            "workflow_id": "default.content.k",
            "run_id": "r1",
            "step_key": "s1",
            "request_hash": "h" * 64,
            "call_index": 0,
            "provider": "openai",
            "model": "gpt-4o-mini",
            "response": 'Final Answer: {"ok": true} — ünïcode',
            "tokens_in": 1000,
            "tokens_out": 200,
            "usd_nanos": 1_234_567_890_123,
            "ledger_key": "default.content.k/r1/s1/a1/h/0",
            "created_at": AT,
        }
    ],
    "agent_config_versions": [
        {
            "agent_id": "market_research",
            "version": 1,
            "body": '{"temperature": 0.1}',
            "note": "first",
            "request_key": "req-1",
            "created_at": AT,
        },
        {
            "agent_id": "market_research",
            "version": 2,
            "body": '{"temperature": 0.9}',
            "note": "",
            "request_key": None,
            "created_at": AT,
        },
        {
            "agent_id": "copywriter",
            "version": 1,
            "body": "{}",
            "note": "",
            "request_key": "req-2",
            "created_at": AT,
        },
    ],
    "agent_config_active": [
        {"agent_id": "market_research", "version": 1, "updated_at": AT},
        {"agent_id": "copywriter", "version": 1, "updated_at": AT},
    ],
    "run_config_pins": [
        {
            "workflow_id": "default.content.k",
            "run_id": "r1",
            "agent_id": "market_research",
            "version": 2,
            "created_at": AT,
        }
    ],
    "step_outputs": [
        {
            "ref": "default.content.k/r1/s1",
            "workflow_id": "default.content.k",
            "run_id": "r1",
            "step_key": "s1",
            "body": '{"big": "output"}',
            "size_bytes": 17,
            "created_at": AT,
        }
    ],
    "blobs": [
        {
            "tenant": "default",
            "sha256": "a" * 64,
            "size": 5_000_000_000,
            "content_type": "text/plain",
            "upload_id": "u" * 32,
            "created_at": AT,
            "last_used_at": AT,
        }
    ],
    "blob_chunks": [
        {"upload_id": "u" * 32, "seq": 0, "data": b"\x00\x01chunk\xff", "created_at": AT}
    ],
    "blob_refs": [
        {
            "tenant": "default",
            "sha256": "a" * 64,
            "filename": "report.md",
            "workflow_id": "default.content.k",
            "run_id": "r1",
            "created_at": AT,
            "expires_at": AT,
        }
    ],
    "budget_pools": [
        {
            "pool": "default.content.k/r1",
            "cap_nanos": 5_000_000_000,
            "settled_nanos": 1_234_567_890,
            "charged_nanos": 7,
            "reserved_nanos": 0,
            "refusals": 1,
            "created_at": AT,
            "updated_at": AT,
        }
    ],
    "budget_reservations": [
        {
            "key": "default.content.k/r1/s1/a1/h/0",
            "pool": "default.content.k/r1",
            "workflow_id": "default.content.k",
            "run_id": "r1",
            "step_key": "s1",
            "attempt": 1,
            "worst_nanos": 9_000_000,
            "billed_nanos": 1_234_567,
            "state": "settled",
            "created_at": AT,
            "settled_at": AT,
        }
    ],
    "budget_alerts": [
        {
            "pool": "default.content.k/r1",
            "threshold": 75,
            "spent_nanos": 3_800_000_000,
            "cap_nanos": 5_000_000_000,
            "at": AT,
        }
    ],
}


async def _upgrade_to(engine: AsyncEngine, schema: str | None, revision: str) -> None:
    def go(conn: sa.Connection) -> None:
        cfg = alembic_config(schema)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(go)


def _normal(value: Any) -> Any:
    """Compare datetimes as UTC instants (SQLite returns them naive), bytes as bytes."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, memoryview):
        return bytes(value)
    return value


async def _dump(engine: AsyncEngine, table: str) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        result = await conn.execute(sa.text(f'SELECT * FROM "{table}"'))
        return [{k: _normal(v) for k, v in row._mapping.items()} for row in result]


def _key(row: dict[str, Any]) -> str:
    return repr(sorted((k, repr(v)) for k, v in row.items()))


async def test_0005_upgrades_a_populated_database_without_loss(
    fresh_settings: StoreSettings,
) -> None:
    engine = create_engine(fresh_settings)
    schema = fresh_settings.database_schema
    try:
        await _upgrade_to(engine, schema, BEFORE)
        assert await current_revision(engine) == BEFORE

        async with engine.connect() as conn:
            tables = set(
                await conn.run_sync(lambda c: sa.inspect(c).get_table_names(schema=schema))
            )
        assert tables - {"alembic_version"} == set(ROWS), "every table at 0004 gets rows"
        meta = sa.MetaData()
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: meta.reflect(c, schema=schema))
            for name, rows in ROWS.items():
                await conn.execute(
                    meta.tables[f"{schema}.{name}" if schema else name].insert(), rows
                )
        before = {name: await _dump(engine, name) for name in ROWS}
        assert {n: len(r) for n, r in before.items()} == {n: len(r) for n, r in ROWS.items()}

        await upgrade(engine, schema)  # what Store.open does: to head
        assert await current_revision(engine) == HEAD

        for name, old_rows in before.items():
            new_rows = await _dump(engine, name)
            assert len(new_rows) == len(old_rows), name
            if name in ("agent_config_versions", "agent_config_active"):
                assert all(r.pop("tenant") == "default" for r in new_rows), name
            assert sorted(map(_key, new_rows)) == sorted(map(_key, old_rows)), name
        tenants = await _dump(engine, "tenants")
        assert [t["id"] for t in tenants] == ["default"]
    finally:
        await engine.dispose()

    # The migrated configurations work as tenant `default`'s, and new tenants start empty.
    store = await Store.open(fresh_settings)
    try:
        assert await store.active_config_version("market_research") == 1
        assert [v.version for v in await store.config_versions("market_research")] == [1, 2]
        assert (await store.config_version("market_research", 2)).body == {"temperature": 0.9}
        assert await store.create_config_version("market_research", {}, request_key="req-1") == 1
        assert await store.create_config_version("market_research", {"t": 3}) == 3
        assert await store.pin_config_for_run("default.content.k", "r1", "market_research") == 2
        assert await store.pin_config_for_run("default.content.k", "r2", "market_research") == 3
        await store.create_tenant("acme")
        assert await store.config_versions("market_research", tenant="acme") == []
        assert await store.active_config_version("copywriter", tenant="acme") is None
        # a request key of tenant default is free in another tenant
        assert (
            await store.create_config_version(
                "market_research", {}, request_key="req-1", tenant="acme"
            )
            == 1
        )
        totals = await store.ledger_totals("default.content.k")
        assert totals.usd_nanos == 1_234_567_890_123
    finally:
        await store.close()


async def test_0005_downgrades_to_0004_keeping_default_configurations(
    fresh_settings: StoreSettings,
) -> None:
    settings = fresh_settings
    schema = settings.database_schema
    store = await Store.open(settings)
    try:
        await store.create_config_version("market_research", {"v": 1})
        await store.create_tenant("acme")
        await store.create_config_version("market_research", {"v": "acme"}, tenant="acme")
    finally:
        await store.close()
    engine = create_engine(settings)
    try:

        def down(conn: sa.Connection) -> None:
            cfg = alembic_config(schema)
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, BEFORE)

        async with engine.begin() as conn:
            await conn.run_sync(down)
        assert await current_revision(engine) == BEFORE
        versions = await _dump(engine, "agent_config_versions")
        assert [(v["agent_id"], v["version"], "tenant" in v) for v in versions] == [
            ("market_research", 1, False)
        ]
        assert [a["agent_id"] for a in await _dump(engine, "agent_config_active")] == [
            "market_research"
        ]
        await upgrade(engine, schema)
        assert await current_revision(engine) == HEAD
    finally:
        await engine.dispose()
