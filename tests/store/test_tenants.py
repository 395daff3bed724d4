"""The service layer's store on SQLite and PostgreSQL: tenants, API keys (hashed at rest,
constant-time check, expiry, revocation), principals, the audit log, the executions index
(tenant isolation, cursor pages), per-tenant agent configurations and webhooks."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from sqlalchemy import text

from store import Store
from store.configs import ConfigVersionNotFound, tenant_of_workflow
from store.executions import InvalidCursor
from store.keys import KeyNotFound, split_key
from store.tenants import TenantExists, TenantNotFound
from store.webhooks import WebhookNotFound


def _tid(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def _tenant(store: Store, prefix: str = "t") -> str:
    tenant = _tid(prefix)
    await store.create_tenant(tenant)
    return tenant


async def test_tenants_are_created_once_with_their_limits(store: Store) -> None:
    tenant = _tid("acme")
    info = await store.create_tenant(
        tenant, name="Acme Inc.", monthly_budget_usd=250.5, max_running=3
    )
    assert (info.id, info.name, info.monthly_budget_usd, info.max_running) == (
        tenant,
        "Acme Inc.",
        250.5,
        3,
    )
    with pytest.raises(TenantExists):
        await store.create_tenant(tenant)
    for bad in ("Acme", "-x", "a b", "x" * 64, ""):
        with pytest.raises(ValueError, match="invalid tenant id"):
            await store.create_tenant(bad)
    assert await store.get_tenant(tenant) == info
    assert await store.get_tenant("no-such-tenant") is None
    ids = [t.id for t in await store.list_tenants()]
    assert "default" in ids and tenant in ids  # `default` comes with revision 0005


async def test_a_key_is_shown_once_and_only_its_hash_is_stored(store: Store) -> None:
    tenant = await _tenant(store)
    info, raw = await store.create_key(tenant, "alice", "operator")
    parts = split_key(raw)
    assert parts is not None
    key_id, secret = parts
    assert key_id == info.id and info.id.startswith("bk_") and len(info.id) == 11
    assert raw == f"bizos_{info.id}_{secret}" and len(secret) >= 43  # 256 bits, urlsafe
    # Nothing in the database holds the raw key or the secret: only its SHA-256.
    async with store.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT * FROM api_keys"))).all()
    dump = repr([tuple(r) for r in rows])
    assert secret not in dump and raw not in dump
    assert hashlib.sha256(secret.encode()).hexdigest() in dump
    # …and nothing the store returns does either.
    assert secret not in repr(await store.list_keys(tenant)) and secret not in repr(info)
    assert "secret" not in info.model_dump()


async def test_principal_for_key_checks_secret_revocation_and_expiry(store: Store) -> None:
    tenant = await _tenant(store)
    info, raw = await store.create_key(tenant, "bob", "approver")
    principal = await store.principal_for_key(raw)
    assert principal is not None
    assert (principal.tenant, principal.role, principal.name, principal.key_id) == (
        tenant,
        "approver",
        "bob",
        info.id,
    )
    key_id, secret = split_key(raw)  # type: ignore[misc]
    wrong_secret = raw[:-4] + ("AAAA" if not raw.endswith("AAAA") else "BBBB")
    for bad in (
        wrong_secret,
        f"bizos_bk_00000000_{secret}",  # unknown id, right-looking secret
        f"bizos_{key_id}",
        "bizos_",
        "",
        secret,
        "Bearer " + raw,
    ):
        assert await store.principal_for_key(bad) is None, bad

    soon = datetime.now(UTC) + timedelta(hours=1)
    expiring, expiring_raw = await store.create_key(tenant, "carol", "viewer", expires_at=soon)
    assert expiring.expires_at is not None
    assert await store.principal_for_key(expiring_raw) is not None
    assert await store.principal_for_key(expiring_raw, now=soon + timedelta(seconds=1)) is None
    with pytest.raises(ValueError, match="expire"):
        await store.create_key(tenant, "dave", "viewer", expires_at=datetime.now(UTC))

    revoked = await store.revoke_key(tenant, info.id)
    assert revoked.revoked_at is not None
    assert await store.principal_for_key(raw) is None
    again = await store.revoke_key(tenant, info.id)  # idempotent: the first time stands
    assert again.revoked_at == revoked.revoked_at


async def test_every_key_check_compares_in_constant_time(store: Store) -> None:
    """The secret check goes through hmac.compare_digest, also for unknown key ids (the
    same work whether or not the id exists)."""
    tenant = await _tenant(store)
    _, raw = await store.create_key(tenant, "erin", "admin")
    _, secret = split_key(raw)  # type: ignore[misc]
    with mock.patch("store.keys.hmac.compare_digest", wraps=hmac.compare_digest) as cd:
        assert await store.principal_for_key(raw) is not None
        assert await store.principal_for_key(raw[:-1] + ("x" if raw[-1] != "x" else "y")) is None
        assert await store.principal_for_key(f"bizos_bk_ffffffff_{secret}") is None
    assert cd.call_count == 3


async def test_last_used_moves_at_most_once_a_minute(store: Store) -> None:
    tenant = await _tenant(store)
    info, raw = await store.create_key(tenant, "frank", "viewer")
    assert info.last_used_at is None
    t0 = datetime.now(UTC) + timedelta(seconds=5)
    await store.principal_for_key(raw, now=t0)
    [k] = await store.list_keys(tenant)
    assert k.last_used_at is not None and abs((k.last_used_at - t0).total_seconds()) < 0.01
    await store.principal_for_key(raw, now=t0 + timedelta(seconds=30))
    [k] = await store.list_keys(tenant)
    assert abs((k.last_used_at - t0).total_seconds()) < 0.01  # type: ignore[operator]
    later = t0 + timedelta(seconds=61)
    await store.principal_for_key(raw, now=later)
    [k] = await store.list_keys(tenant)
    assert abs((k.last_used_at - later).total_seconds()) < 0.01  # type: ignore[operator]


async def test_keys_are_per_tenant(store: Store) -> None:
    a, b = await _tenant(store, "a"), await _tenant(store, "b")
    ka, _ = await store.create_key(a, "alice", "admin")
    kb, _ = await store.create_key(b, "bob", "viewer")
    assert [k.id for k in await store.list_keys(a)] == [ka.id]
    assert [k.id for k in await store.list_keys(b)] == [kb.id]
    with pytest.raises(KeyNotFound):
        await store.revoke_key(b, ka.id)  # another tenant's key: not found, untouched
    assert (await store.list_keys(a))[0].revoked_at is None
    with pytest.raises(ValueError, match="unknown role"):
        await store.create_key(a, "x", "root")
    with pytest.raises(TenantNotFound):
        await store.create_key("no-such-tenant", "x", "viewer")


async def test_the_audit_log_is_per_tenant_newest_first(store: Store) -> None:
    a, b = await _tenant(store, "a"), await _tenant(store, "b")
    await store.audit(a, "alice", "key.create", "bk_00000001", {"role": "viewer"})
    await store.audit(a, "alice", "config.activate", "market_research", {"version": 2})
    await store.audit(b, "bob", "execution.start", f"{b}.content.k1")
    entries = await store.audit_entries(a)
    assert [(e.action, e.target, e.detail) for e in entries] == [
        ("config.activate", "market_research", {"version": 2}),
        ("key.create", "bk_00000001", {"role": "viewer"}),
    ]
    assert [e.actor for e in await store.audit_entries(b)] == ["bob"]
    assert [e.action for e in await store.audit_entries(a, action="key.create")] == ["key.create"]


async def test_executions_are_listed_per_tenant_in_cursor_pages(store: Store) -> None:
    a, b = await _tenant(store, "a"), await _tenant(store, "b")
    t0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    # 7 runs of a, two sharing a start time (the cursor must still split them exactly)
    starts = [t0 + timedelta(minutes=i) for i in range(6)] + [t0 + timedelta(minutes=5)]
    for i, at in enumerate(starts):
        kind, name = ("agent", "market_research") if i % 3 == 0 else ("template", "content")
        assert await store.record_execution(
            workflow_id=f"{a}.{name}.k{i}",
            run_id=f"r{i}",
            tenant=a,
            kind=kind,
            name=name,
            started_at=at,
            idempotency_key=f"idem-{i}",
        )
    await store.record_execution(
        workflow_id=f"{b}.content.k0", run_id="r0", tenant=b, kind="template", name="content"
    )
    # a repeated record of the same run changes nothing
    assert not await store.record_execution(
        workflow_id=f"{a}.content.k1", run_id="r1", tenant=a, kind="template", name="content"
    )

    everything = (await store.list_executions(a, limit=100)).items
    assert everything[0].workflow_id == f"{a}.market_research.k6"  # the tie: k6 > k5
    for limit, pages in ((3, 3), (1, 7), (7, 1)):
        seen: list[str] = []
        cursor = None
        for _ in range(pages):
            page = await store.list_executions(a, limit=limit, cursor=cursor)
            seen += [e.workflow_id for e in page.items]
            cursor = page.next_cursor
        assert cursor is None, limit
        assert seen == [e.workflow_id for e in everything], limit
    keys = [(e.started_at, e.workflow_id) for e in everything]
    assert keys == sorted(keys, reverse=True)
    assert all(e.tenant == a for e in everything)
    assert [e.workflow_id for e in (await store.list_executions(b)).items] == [f"{b}.content.k0"]
    assert await store.get_execution(b, f"{a}.content.k1") is None  # isolation
    found = await store.execution_for_idempotency_key(a, "idem-2")
    assert found is not None and found.workflow_id == f"{a}.content.k2"
    assert await store.execution_for_idempotency_key(b, "idem-2") is None

    agents = (await store.list_executions(a, agent="market_research")).items
    assert {e.workflow_id for e in agents} == {f"{a}.market_research.k{i}" for i in (0, 3, 6)}
    templates = (await store.list_executions(a, template="content")).items
    assert len(templates) == 4 and all(e.kind == "template" for e in templates)
    window = (
        await store.list_executions(
            a, since=t0 + timedelta(minutes=1), until=t0 + timedelta(minutes=3)
        )
    ).items
    assert [e.workflow_id for e in window] == [f"{a}.content.k2", f"{a}.content.k1"]

    assert await store.update_execution_status(f"{a}.content.k1", "completed", cost_usd=0.125)
    done = await store.get_execution(a, f"{a}.content.k1")
    assert done is not None and done.closed_at is not None and done.cost_usd == 0.125
    assert [e.workflow_id for e in (await store.list_executions(a, status="completed")).items] == [
        f"{a}.content.k1"
    ]
    assert not await store.update_execution_status("no-such-workflow", "failed")
    with pytest.raises(InvalidCursor):
        await store.list_executions(a, cursor="not-a-cursor")


async def test_agent_configurations_are_per_tenant(store: Store) -> None:
    a, b = await _tenant(store, "a"), await _tenant(store, "b")
    agent = f"agent_{uuid.uuid4().hex[:8]}"
    assert await store.create_config_version(agent, {"who": "a1"}, tenant=a) == 1
    assert await store.create_config_version(agent, {"who": "a2"}, tenant=a) == 2
    assert await store.create_config_version(agent, {"who": "b1"}, tenant=b) == 1
    assert await store.create_config_version(agent, {"who": "d1"}) == 1  # tenant default
    assert [v.body["who"] for v in await store.config_versions(agent, tenant=a)] == ["a1", "a2"]
    assert [v.body["who"] for v in await store.config_versions(agent, tenant=b)] == ["b1"]
    assert [v.body["who"] for v in await store.config_versions(agent)] == ["d1"]
    assert await store.active_config_version(agent, tenant=a) == 2
    assert (await store.config_version(agent, 1, tenant=b)).body == {"who": "b1"}
    with pytest.raises(ConfigVersionNotFound):
        await store.config_version(agent, 2, tenant=b)
    with pytest.raises(ConfigVersionNotFound):
        await store.activate_config_version(agent, 2, tenant=b)
    await store.activate_config_version(agent, 1, tenant=a)
    assert await store.active_config_version(agent, tenant=a) == 1
    assert await store.active_config_version(agent, tenant=b) == 1
    # the same request key in two tenants makes two versions, each idempotent in its tenant
    ra = await store.create_config_version(agent, {"r": 1}, request_key="rk", tenant=a)
    rb = await store.create_config_version(agent, {"r": 1}, request_key="rk", tenant=b)
    assert (ra, rb) == (3, 2)
    assert await store.create_config_version(agent, {"r": 9}, request_key="rk", tenant=a) == 3

    # a run pins its own tenant's active version: from the workflow id, or told
    assert await store.pin_config_for_run(f"{a}.content.k", "r1", agent) == 3
    assert await store.pin_config_for_run(f"{b}.content.k", "r1", agent) == 2
    assert await store.pin_config_for_run("plain-id", "r1", agent) == 1  # default
    assert await store.pin_config_for_run("other-id", "r1", agent, tenant=b) == 2
    assert tenant_of_workflow(f"{a}.content.k.child") == a
    assert tenant_of_workflow("wf-123") == "default"


async def test_webhook_endpoints_and_deliveries(store: Store) -> None:
    a, b = await _tenant(store, "a"), await _tenant(store, "b")
    ep, secret = await store.create_webhook(
        a, "https://example.test/hook", ["run.completed", "run.failed"]
    )
    assert ep.id.startswith("wh_") and len(secret) >= 43 and secret not in repr(ep)
    assert await store.webhook_secret(a, ep.id) == secret
    with pytest.raises(WebhookNotFound):
        await store.webhook_secret(b, ep.id)
    with pytest.raises(WebhookNotFound):
        await store.get_webhook(b, ep.id)
    assert [e.id for e in await store.list_webhooks(a, event="run.failed")] == [ep.id]
    assert await store.list_webhooks(a, event="run.waiting") == []
    assert await store.list_webhooks(b) == []
    with pytest.raises(ValueError, match="http"):
        await store.create_webhook(a, "ftp://x", [])
    updated = await store.update_webhook(a, ep.id, events=["run.waiting"])
    assert updated.events == ["run.waiting"]

    event_id = f"{a}.content.k/r1/completed"
    payload = {"workflow_id": f"{a}.content.k", "status": "completed"}
    kw = {"event_id": event_id, "endpoint_id": ep.id, "tenant": a, "event_type": "run.completed"}
    assert await store.enqueue_webhook_delivery(**kw, payload=payload)
    assert not await store.enqueue_webhook_delivery(**kw, payload=payload)  # once
    [d] = await store.webhook_deliveries(tenant=a, status="pending")
    assert d.payload == payload and d.attempts == 0
    await store.record_webhook_attempt(d.id, delivered=False, error="503")
    await store.record_webhook_attempt(d.id, delivered=True)
    [d] = await store.webhook_deliveries(tenant=a)
    assert (d.status, d.attempts, d.last_error) == ("delivered", 2, "503")
    assert d.delivered_at is not None
    assert await store.webhook_deliveries(tenant=b) == []

    off = await store.disable_webhook(a, ep.id)
    assert off.disabled_at is not None
    assert await store.list_webhooks(a) == []
    assert [e.id for e in await store.list_webhooks(a, include_disabled=True)] == [ep.id]
