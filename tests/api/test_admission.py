"""Admission end to end: rate limits (429, and 503 when the configured Redis is down),
Idempotency-Key on starts (one execution for 50 concurrent duplicates, replay, 422 for another
body) and the tenant's monthly budget (402). Real Temporal (the session's dev server,
in-process workers), a real store, and the real Redis on 127.0.0.1:6379 under a key prefix
of this module's, deleted afterwards."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.idempotency import IdempotencyStore, workflow_id_for
from api.limits import RateLimiter, TenantLimits
from api.redis_conn import RedisSettings, make_client
from api.settings import ApiSettings
from store.records import CallKey, EstimatedCall
from tests.api.app_support import Api, running_api
from tests.api.redis_support import REDIS_URL, closed_port
from tests.support import eventually

TENANTS = ("acme", "globex", "tiny", "halfway")
EXECUTE = "/v1/workflows/approval_flow/execute"
BODY = {"params": {"topic": "admission", "channels": ["blog"]}}


@dataclass
class Admitting:
    """The shared app fixture plus the Redis objects the admission checks use."""

    api: Api
    limiter: RateLimiter
    redis: aioredis.Redis
    prefix: str

    def __getattr__(self, name: str) -> Any:
        return getattr(self.api, name)  # http, store, temporal, keys, as_


@pytest.fixture(scope="module")
async def api(
    temporal_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Admitting]:
    prefix = f"bizos-test-{uuid.uuid4().hex[:12]}"
    redis = make_client(REDIS_URL, 0.5)
    await redis.ping()  # type: ignore[misc]
    limiter = RateLimiter(
        redis, defaults=TenantLimits(10_000, 10_000), key_prefix=prefix, deadline_s=1.0
    )
    records = IdempotencyStore(redis, key_prefix=prefix, deadline_s=1.0)
    try:
        async with running_api(
            temporal_env,
            tmp_path_factory.mktemp("admission-home"),
            tenants=TENANTS,
            budgets={"tiny": 0.01, "halfway": 1.0},
            limiter=limiter,
            idempotency=records,
        ) as running:
            yield Admitting(running, limiter, redis, prefix)
    finally:
        found = [k async for k in redis.scan_iter(match=f"{prefix}:*", count=500)]
        if found:
            await redis.delete(*found)
        await redis.aclose()


# --------------------------------------------------------------------------- rate limits


async def test_rate_limit_refuses_with_retry_after(api: Admitting) -> None:
    api.limiter.set_tenant_limits("globex", TenantLimits(1000, 3))
    try:
        who = api.as_("globex:viewer")
        for left in (2, 1, 0):
            ok = await api.http.get("/v1/templates", headers=who)
            assert ok.status_code == 200, ok.text
            assert ok.headers["RateLimit-Remaining"] == str(left)
        refused = await api.http.get("/v1/templates", headers=who)
        assert refused.status_code == 429, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.headers["RateLimit-Limit"] == "3"
        assert refused.headers["RateLimit-Remaining"] == "0"
        assert refused.json()["type"].endswith("/rate-limited")
        # another key of the same tenant has its own (per-key) count
        assert (await api.http.get("/v1/templates", headers=api.as_("globex:admin"))).is_success
        metrics = (await api.http.get("/metrics")).text
        assert 'bizos_api_rate_limited_total{tenant="globex"}' in metrics
    finally:
        api.limiter.set_tenant_limits("globex", None)


async def test_redis_down_is_503_not_a_hang(api: Admitting) -> None:
    dead = make_client(f"redis://127.0.0.1:{closed_port()}/0", 0.3)
    limiter = RateLimiter(
        dead, defaults=TenantLimits(100, 100), key_prefix=api.prefix, deadline_s=0.6
    )
    app = create_app(
        ApiSettings(),
        store=api.store,
        temporal=api.temporal,
        limiter=limiter,
        idempotency=IdempotencyStore(dead, key_prefix=api.prefix, deadline_s=0.6),
    )
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api"
        ) as http:
            started = time.monotonic()
            r = await http.get("/v1/templates", headers=api.as_("acme:viewer"))
            assert time.monotonic() - started < 3
            assert r.status_code == 503, r.text
            assert int(r.headers["Retry-After"]) >= 1
            assert r.json()["type"].endswith("/limits-unavailable")
            # unauthenticated requests are refused before any Redis call
            assert (await http.get("/v1/templates")).status_code == 401
    finally:
        await dead.aclose()


# --------------------------------------------------------------------------- idempotency


async def test_concurrent_duplicates_start_one_execution(api: Admitting) -> None:
    key = f"k-{uuid.uuid4().hex}"
    headers = api.as_("acme:operator", **{"Idempotency-Key": key})

    async def post() -> httpx.Response:
        return await api.http.post(EXECUTE, json=BODY, headers=headers)

    answers = await asyncio.gather(*(post() for _ in range(50)))
    statuses = [r.status_code for r in answers]
    assert set(statuses) <= {202, 409}, [r.text for r in answers if r.status_code not in (202, 409)]
    assert statuses.count(202) >= 1
    for r in answers:
        if r.status_code == 409:
            assert int(r.headers["Retry-After"]) >= 1
            assert r.json()["type"].endswith("/idempotency-in-flight")
    firsts = [r.json() for r in answers if r.status_code == 202]
    wid = workflow_id_for("acme", "approval_flow", key)
    assert {f["execution_id"] for f in firsts} == {wid}
    assert len({f["run_id"] for f in firsts}) == 1

    # a replay answers the first body; Temporal holds exactly one run of that id
    replay = await post()
    assert replay.status_code == 202 and replay.json() == firsts[0]
    assert replay.headers.get("Idempotent-Replayed") == "true"

    async def counted() -> int | None:
        n = (await api.temporal.count_workflows(f"WorkflowId = '{wid}'")).count
        return n or None

    assert await eventually(counted, what="the run in visibility") == 1

    # the same key with another body: refused, nothing started
    other = await api.http.post(
        EXECUTE, json={"params": {"topic": "other", "channels": ["blog"]}}, headers=headers
    )
    assert other.status_code == 422, other.text
    assert other.json()["type"].endswith("/idempotency-key-reused")


async def test_lost_record_does_not_start_twice(api: Admitting) -> None:
    """Redis forgot the key (restart, TTL): the retry derives the same workflow id, and
    starting it again answers the same execution."""
    key = f"k-{uuid.uuid4().hex}"
    headers = api.as_("acme:operator", **{"Idempotency-Key": key})
    first = await api.http.post(EXECUTE, json=BODY, headers=headers)
    assert first.status_code == 202, first.text
    records = api.http._transport.app.state.idempotency  # type: ignore[attr-defined]
    await api.redis.delete(records.record_key("acme", key))
    again = await api.http.post(EXECUTE, json=BODY, headers=headers)
    assert again.status_code == 202, again.text
    assert again.json()["execution_id"] == first.json()["execution_id"]
    assert again.json()["run_id"] == first.json()["run_id"]
    assert "Idempotent-Replayed" not in again.headers


async def test_without_key_each_post_starts_a_run(api: Admitting) -> None:
    who = api.as_("acme:operator")
    a = await api.http.post(EXECUTE, json=BODY, headers=who)
    b = await api.http.post(EXECUTE, json=BODY, headers=who)
    assert a.status_code == b.status_code == 202
    assert a.json()["execution_id"] != b.json()["execution_id"]


async def test_keyed_cancel_replays(api: Admitting) -> None:
    run = (await api.http.post(EXECUTE, json=BODY, headers=api.as_("acme:operator"))).json()
    headers = api.as_("acme:operator", **{"Idempotency-Key": f"c-{uuid.uuid4().hex}"})
    url = f"/v1/executions/{run['execution_id']}/cancel"
    first = await api.http.post(url, headers=headers)
    assert first.status_code == 202, first.text
    second = await api.http.post(url, headers=headers)
    assert second.status_code == 202 and second.json() == first.json()
    assert second.headers.get("Idempotent-Replayed") == "true"


# --------------------------------------------------------------------------- budget


def _spend(tenant: str, usd: float) -> EstimatedCall:
    return EstimatedCall(
        key=CallKey(
            tenant=tenant,
            workflow_id=f"{tenant}.approval_flow.spent-{uuid.uuid4().hex[:8]}",
            run_id="r1",
            step_key="draft",
            request_hash=uuid.uuid4().hex,
        ),
        attempt=1,
        agent="noop",
        mode="echo",
        provider="test",
        model="priced",
        tokens_in=10,
        tokens_out=10,
        usd_nanos=round(usd * 1e9),
    )


async def test_monthly_budget_refuses_new_executions(api: Admitting) -> None:
    who = api.as_("tiny:operator")
    assert (await api.http.post(EXECUTE, json=BODY, headers=who)).status_code == 202
    assert await api.store.record_estimated_call(_spend("tiny", 0.02))
    for url, body in (
        (EXECUTE, BODY),
        ("/v1/agents/noop/execute", {"mode": "echo", "inputs": {}}),
    ):
        r = await api.http.post(url, json=body, headers=who)
        assert r.status_code == 402, r.text
        problem = r.json()
        assert problem["type"].endswith("/budget-exhausted")
        assert "monthly budget" in problem["detail"] and "$0.01" in problem["detail"]
        assert problem["budget_usd"] == 0.01 and problem["spent_usd"] >= 0.02
    # a keyed start refused for the budget records nothing: the same key may retry later
    keyed = api.as_("tiny:operator", **{"Idempotency-Key": "after-budget"})
    assert (await api.http.post(EXECUTE, json=BODY, headers=keyed)).status_code == 402
    assert (await api.http.post(EXECUTE, json=BODY, headers=keyed)).status_code == 402
    # reads still work for the refused tenant
    assert (await api.http.get("/v1/templates", headers=who)).status_code == 200
    alerts = await api.store.audit_entries("tiny", action="budget.alert")
    assert sorted(e.detail["threshold_pct"] for e in alerts) == [75, 90, 100]


async def test_budget_alerts_once_per_threshold(api: Admitting) -> None:
    who = api.as_("halfway:operator")
    await api.store.record_estimated_call(_spend("halfway", 0.80))
    for _ in range(3):
        assert (await api.http.post(EXECUTE, json=BODY, headers=who)).status_code == 202
    alerts = await api.store.audit_entries("halfway", action="budget.alert")
    assert [e.detail["threshold_pct"] for e in alerts] == [75]
    assert alerts[0].detail["budget_usd"] == 1.0
    await api.store.record_estimated_call(_spend("halfway", 0.15))
    assert (await api.http.post(EXECUTE, json=BODY, headers=who)).status_code == 202
    alerts = await api.store.audit_entries("halfway", action="budget.alert")
    assert sorted(e.detail["threshold_pct"] for e in alerts) == [75, 90]


async def test_startup_opens_one_redis_backend(
    api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = ApiSettings(redis=RedisSettings(redis_url=REDIS_URL, redis_key_prefix=api.prefix))
    app = create_app(settings, store=api.store, temporal=api.temporal)
    async with app.router.lifespan_context(app):
        assert app.state.limiter.shared and app.state.idempotency.shared
        decision = await app.state.limiter.hit("acme", "startup-probe")
        assert decision.allowed
    assert "rate limits and idempotency records in Redis" in capsys.readouterr().out
