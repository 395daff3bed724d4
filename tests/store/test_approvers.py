"""People in the loop in the store, on SQLite and PostgreSQL: approver groups per tenant, the
decision log (one row per run, step, round, level and kind however often it is written),
and single-use link tokens that stay single-use under concurrent use."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from pydantic import ValidationError

from store import ApproverMember, Store, StoreSettings
from store.approvers import ApproverGroupNotFound
from store.engine import create_engine
from store.migrate import alembic_config, current_revision, upgrade
from store.tenants import TenantNotFound
from workflows.models import DecisionLogEntry


async def _tenant(store: Store) -> str:
    tenant = f"t-{uuid.uuid4().hex[:10]}"
    await store.create_tenant(tenant)
    return tenant


def _entry(tenant: str, **changes: object) -> DecisionLogEntry:
    values: dict[str, object] = {
        "tenant": tenant,
        "workflow_id": f"{tenant}.hello_approval.k1",
        "run_id": "r1",
        "template": "hello_approval",
        "step": "review",
        "kind": "approve",
        "by": "alice",
        "via": "api",
        "at": datetime(2026, 11, 30, 10, 0, tzinfo=UTC),
    }
    values.update(changes)
    return DecisionLogEntry.model_validate(values)


async def test_groups_are_per_tenant_and_replaced_whole(store: Store) -> None:
    acme, globex = await _tenant(store), await _tenant(store)
    alice = ApproverMember(principal="alice@acme", email="alice@acme.example")
    bob = ApproverMember(principal="bob@acme", slack_user="U0BOB")
    first = await store.put_approver_group(acme, "editors", [alice, bob], slack_channel="#ed")
    assert first.members == [alice, bob] and first.slack_channel == "#ed"
    assert await store.approver_group_members(acme, "editors") == ["alice@acme", "bob@acme"]

    # Another tenant sees nothing of it, and may have its own group of that name.
    assert await store.approver_group_members(globex, "editors") is None
    assert await store.get_approver_group(globex, "editors") is None
    await store.put_approver_group(globex, "editors", [ApproverMember(principal="carol")])
    assert await store.approver_group_members(globex, "editors") == ["carol"]
    assert await store.approver_group_members(acme, "editors") == ["alice@acme", "bob@acme"]

    # A PUT replaces the members; the creation time stays.
    second = await store.put_approver_group(acme, "editors", [bob])
    assert second.members == [bob] and second.slack_channel is None
    assert second.created_at == first.created_at and second.updated_at >= first.updated_at
    await store.put_approver_group(acme, "directors", [alice])
    assert [g.name for g in await store.list_approver_groups(acme)] == ["directors", "editors"]

    await store.delete_approver_group(acme, "editors")
    assert await store.approver_group_members(acme, "editors") is None
    with pytest.raises(ApproverGroupNotFound):
        await store.delete_approver_group(acme, "editors")
    with pytest.raises(ApproverGroupNotFound):  # another tenant's group is not found either
        await store.delete_approver_group(acme, "nope")
    assert await store.approver_group_members(globex, "editors") == ["carol"]


async def test_group_contents_are_checked(store: Store) -> None:
    tenant = await _tenant(store)
    alice = ApproverMember(principal="alice")
    with pytest.raises(ValueError, match="at least one member"):
        await store.put_approver_group(tenant, "editors", [])
    with pytest.raises(ValueError, match="listed twice"):
        await store.put_approver_group(tenant, "editors", [alice, alice])
    with pytest.raises(ValueError, match="invalid approver group name"):
        await store.put_approver_group(tenant, "Editors!", [alice])
    with pytest.raises(ValueError, match="invalid Slack channel"):
        await store.put_approver_group(tenant, "editors", [alice], slack_channel="a b")
    with pytest.raises(TenantNotFound):
        await store.put_approver_group("no-such-tenant", "editors", [alice])
    with pytest.raises(ValidationError):
        ApproverMember(principal="x", email="not an email")
    assert await store.list_approver_groups(tenant) == []


async def test_decision_log_writes_once_per_event_and_lists_newest_first(store: Store) -> None:
    tenant = await _tenant(store)
    t0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    revise = _entry(tenant, kind="revise", comment="shorter please", digest="sha256:" + "a" * 64)
    # A retried local activity writes the same entry again: one row.
    await store.record_decision(revise)
    await store.record_decision(revise)
    await store.record_decision(
        _entry(tenant, kind="escalated", by="system", via=None, round=1, at=t0 + timedelta(1))
    )
    await store.record_decision(
        _entry(tenant, by="bob", level=1, round=1, group="directors", at=t0 + timedelta(2))
    )
    other_run = f"{tenant}.hello_approval.k2"
    await store.record_decision(_entry(tenant, workflow_id=other_run, at=t0 + timedelta(3)))

    run = await store.list_decisions(tenant, workflow_id=f"{tenant}.hello_approval.k1")
    assert [(d.kind, d.by, d.level, d.round) for d in run] == [
        ("approve", "bob", 1, 1),
        ("escalated", "system", 0, 1),
        ("revise", "alice", 0, 0),
    ]
    assert run[0].group == "directors" and run[2].comment == "shorter please"
    assert run[2].digest == "sha256:" + "a" * 64 and run[2].via == "api"
    assert run[2].at == t0

    by_alice = await store.list_decisions(tenant, by="alice")
    assert [(d.workflow_id, d.kind) for d in by_alice] == [
        (other_run, "approve"),
        (f"{tenant}.hello_approval.k1", "revise"),
    ]
    assert len(await store.list_decisions(tenant, limit=2)) == 2
    assert [d.kind for d in await store.list_decisions(tenant, since=t0 + timedelta(2))] == [
        "approve",
        "approve",
    ]
    # Tenant-checked: another tenant's log is empty even for this run's id.
    assert await store.list_decisions(await _tenant(store), workflow_id=run[0].workflow_id) == []


async def test_a_link_token_is_used_once_even_when_used_concurrently(store: Store) -> None:
    tenant = await _tenant(store)
    jti = uuid.uuid4().hex
    results = await asyncio.gather(*(store.use_link_token(jti, tenant, "alice") for _ in range(8)))
    assert sorted(results) == [False] * 7 + [True]
    assert await store.use_link_token(jti, tenant, "alice") is False
    assert await store.use_link_token(uuid.uuid4().hex, tenant, "alice") is True
    # A use whose decision was never applied can be released and the link used again.
    await store.release_link_token(jti)
    assert await store.use_link_token(jti, tenant, "alice") is True


async def test_0006_downgrades_and_upgrades_again(fresh_settings: StoreSettings) -> None:
    store = await Store.open(fresh_settings)
    try:
        tenant = await _tenant(store)
        await store.put_approver_group(tenant, "editors", [ApproverMember(principal="alice")])
        await store.record_decision(_entry(tenant))
    finally:
        await store.close()
    engine = create_engine(fresh_settings)
    schema = fresh_settings.database_schema

    def down(conn: sa.Connection) -> None:
        cfg = alembic_config(schema)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005_tenants")

    try:
        async with engine.begin() as conn:
            await conn.run_sync(down)
            tables = set(
                await conn.run_sync(lambda c: sa.inspect(c).get_table_names(schema=schema))
            )
        assert await current_revision(engine) == "0005_tenants"
        assert not tables & {"approver_groups", "decision_log", "link_tokens_used"}
        await upgrade(engine, schema)
        assert await current_revision(engine) == "0007_activity_events"
    finally:
        await engine.dispose()
    store = await Store.open(fresh_settings)
    try:
        assert await store.list_approver_groups(tenant) == []  # the downgrade dropped them
        assert await store.use_link_token("a" * 32, tenant, "alice") is True
    finally:
        await store.close()
