"""Rate limits per tenant and per key (api.limits) on the real Redis, and in-process."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from api import redis_conn
from api.limits import Decision, LimitsUnavailable, RateLimiter, TenantLimits
from api.redis_conn import RedisSettings, make_client, open_backend
from tests.api.redis_support import REDIS_URL, closed_port

ROOT = Path(__file__).resolve().parents[2]
HAMMER = Path(__file__).with_name("limits_hammer.py")


def settings(**kw: Any) -> RedisSettings:
    return RedisSettings(_env_file=None, **kw)


# --------------------------------------------------------------- (a) shared by two processes


@pytest.mark.parametrize("scope", ["tenant", "key"])
async def test_limit_shared_by_two_processes(
    redis_client: aioredis.Redis, prefix: str, scope: str
) -> None:
    limit, attempts_each = 300, 600
    # `tenant`: two processes with keys of their own share the tenant's 300/min;
    # `key`: two processes (two replicas) serving the same key share the key's 300/min.
    tenant_limit, key_limit = (limit, 100_000) if scope == "tenant" else (100_000, limit)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = []
    for i in range(2):
        key = f"key-{i}" if scope == "tenant" else "key-shared"
        procs.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                str(HAMMER),
                REDIS_URL,
                prefix,
                "acme",
                key,
                str(tenant_limit),
                str(key_limit),
                str(attempts_each),
                "20",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                cwd=ROOT,
                env=env,
            )
        )
    try:
        for p in procs:
            assert p.stdout is not None
            line = await asyncio.wait_for(p.stdout.readline(), 60)
            assert line.strip() == b"ready", line
        for p in procs:  # release both at once
            assert p.stdin is not None
            p.stdin.write(b"go\n")
            await p.stdin.drain()
        results = []
        for p in procs:
            out, _ = await asyncio.wait_for(p.communicate(), 120)
            assert p.returncode == 0
            results.append(json.loads(out.decode().strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.returncode is None:
                p.kill()
                await p.wait()
    total = sum(r["allowed"] for r in results)
    error = (total - limit) / limit
    print(
        f"\n[{scope} limit {limit}/min, 2 processes x {attempts_each} attempts] admitted "
        f"{total} ({' + '.join(str(r['allowed']) for r in results)}), {error:+.2%} off the limit"
    )
    assert all(r["errors"] == 0 for r in results), results
    assert all(r["allowed"] + r["denied"] == attempts_each for r in results), results
    assert abs(error) <= 0.02


# --------------------------------------------------------------- (b) per key and per tenant


async def test_key_and_tenant_limits_are_independent(
    backend_client: aioredis.Redis | None, prefix: str
) -> None:
    limiter = RateLimiter(backend_client, defaults=TenantLimits(10, 3), key_prefix=prefix)
    assert limiter.shared is (backend_client is not None)

    for i in range(3):
        d = await limiter.hit("acme", "key-a")
        assert d.allowed and d.remaining == 2 - i and d.limit == 3 and d.scope == "key", d
    refused = await limiter.hit("acme", "key-a")
    assert not refused.allowed and refused.scope == "key" and refused.limit == 3
    assert 0 < refused.retry_after_s <= 60
    assert refused.headers()["Retry-After"] == str(max(1, int(-(-refused.retry_after_s // 1))))
    # another key of the same tenant has its own count; the refused hit cost the tenant nothing
    for _ in range(3):
        assert (await limiter.hit("acme", "key-b")).allowed
    for _ in range(3):
        assert (await limiter.hit("acme", "key-c")).allowed
    last = await limiter.hit("acme", "key-d")  # the tenant's 10th
    assert last.allowed and last.remaining == 0 and last.scope == "tenant", last
    over = await limiter.hit("acme", "key-d")
    assert not over.allowed and over.scope == "tenant" and over.limit == 10, over
    assert "Retry-After" in over.headers() and over.headers()["RateLimit-Limit"] == "10"
    # the tenant limit binds every key of the tenant, and no other tenant
    assert not (await limiter.hit("acme", "key-e")).allowed
    other = await limiter.hit("globex", "key-a")
    assert other.allowed and other.remaining == 2

    # limits of one tenant of its own
    limiter.set_tenant_limits(
        "initech", TenantLimits(per_tenant_per_minute=2, per_key_per_minute=5)
    )
    assert (await limiter.hit("initech", "k1")).allowed
    assert (await limiter.hit("initech", "k2")).allowed
    d = await limiter.hit("initech", "k3")
    assert not d.allowed and d.scope == "tenant" and d.limit == 2
    limiter.set_tenant_limits("initech", None)
    assert (await limiter.limits_for("initech")) == TenantLimits(10, 3)

    # a resolver (e.g. the store's tenant config) is asked for tenants without an override
    async def resolve(tenant: str) -> TenantLimits | None:
        return TenantLimits(1, 1) if tenant == "tiny" else None

    resolved = RateLimiter(
        backend_client, defaults=TenantLimits(10, 3), resolver=resolve, key_prefix=prefix
    )
    assert (await resolved.hit("tiny", "k")).allowed
    assert not (await resolved.hit("tiny", "k")).allowed
    await resolved.reset("tiny", "k")
    assert (await resolved.hit("tiny", "k")).allowed


def test_decision_headers() -> None:
    ok = Decision(True, 0.0, 7, 10, "key")
    assert ok.headers() == {"RateLimit-Limit": "10", "RateLimit-Remaining": "7"}
    no = Decision(False, 12.2, 0, 10, "tenant")
    assert no.headers()["Retry-After"] == "13"
    with pytest.raises(ValueError):
        TenantLimits(0, 1)


# --------------------------------------------------------------- (c) Redis configured, down


async def test_redis_down_fails_fast_not_hangs(prefix: str) -> None:
    client = make_client(f"redis://127.0.0.1:{closed_port()}/0", 0.5)
    limiter = RateLimiter(client, defaults=TenantLimits(10, 10), key_prefix=prefix, deadline_s=1.0)
    try:
        for _ in range(3):  # every call, not just the first
            started = time.monotonic()
            with pytest.raises(LimitsUnavailable, match="unreachable"):
                await limiter.hit("acme", "key-a")
            elapsed = time.monotonic() - started
            print(f"\n[refused port] LimitsUnavailable after {elapsed * 1000:.1f} ms")
            assert elapsed < 1.0
    finally:
        await client.aclose()


async def test_redis_silent_fails_within_the_deadline(prefix: str) -> None:
    """A Redis that accepts connections but never answers (hung, black-holed)."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(1 << 16):  # reads, never answers, until the client hangs up
            pass
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    s = settings(redis_url=f"redis://127.0.0.1:{port}/0", redis_timeout_s=0.2)
    client = make_client(s.url() or "", s.redis_timeout_s)
    limiter = RateLimiter(
        client, defaults=TenantLimits(10, 10), key_prefix=prefix, deadline_s=s.deadline_s
    )
    try:
        started = time.monotonic()
        with pytest.raises(LimitsUnavailable):
            await limiter.hit("acme", "key-a")
        elapsed = time.monotonic() - started
        print(f"\n[silent server] LimitsUnavailable after {elapsed * 1000:.1f} ms")
        assert elapsed < 1.0
    finally:
        await client.aclose()
        server.close()


async def test_configured_redis_down_is_kept_and_said(caplog: pytest.LogCaptureFixture) -> None:
    url = f"redis://:hunter2@127.0.0.1:{closed_port()}/0"
    caplog.set_level(logging.INFO, "bizos.api.redis")
    started = time.monotonic()
    backend = await open_backend(settings(redis_url=url))
    try:
        assert time.monotonic() - started < 1.0
        assert backend.shared  # never a silent fallback to per-replica limits
        assert "503" in backend.message and "hunter2" not in backend.message
        assert backend.message in caplog.text
        with pytest.raises(LimitsUnavailable):
            await RateLimiter.from_backend(backend).hit("acme", "k")
    finally:
        await backend.aclose()


# --------------------------------------------------------------- (d) no Redis configured


async def test_no_redis_is_in_process_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "bizos.api.redis")
    backend = await open_backend(
        settings(redis_url="none", rate_limit_tenant_per_minute=5, rate_limit_key_per_minute=2)
    )
    assert backend.client is None and not backend.shared
    assert "in-process" in backend.message and "single node" in backend.message
    assert backend.message in caplog.text
    limiter = RateLimiter.from_backend(backend)
    assert not limiter.shared and "in-process" in limiter.description
    assert [(await limiter.hit("acme", "k")).allowed for _ in range(3)] == [True, True, False]
    assert (await limiter.hit("acme", "k2")).allowed
    await backend.aclose()


async def test_default_url_without_redis_falls_back_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """BIZOS_REDIS_URL unset and nothing at the default address: single node (DESIGN §7)."""
    monkeypatch.setattr(redis_conn, "DEFAULT_REDIS_URL", f"redis://127.0.0.1:{closed_port()}/0")
    caplog.set_level(logging.INFO, "bizos.api.redis")
    backend = await open_backend(settings())
    assert backend.client is None
    assert "BIZOS_REDIS_URL unset" in backend.message and "single node" in backend.message
    assert backend.message in caplog.text


async def test_default_url_with_redis_uses_it(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "bizos.api.redis")
    backend = await open_backend(settings())
    try:
        assert backend.shared and "shared by every API replica" in backend.message
    finally:
        await backend.aclose()
