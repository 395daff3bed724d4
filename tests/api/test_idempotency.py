"""Idempotency-Key records (api.idempotency) on the real Redis, and in-process."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
import redis.asyncio as aioredis

from api.idempotency import (
    IdempotencyStore,
    InFlight,
    LimitsUnavailable,
    Mismatch,
    New,
    Replay,
    check_key,
    fingerprint,
    workflow_id_for,
)
from api.redis_conn import make_client
from tests.api.redis_support import closed_port

DAY = 24 * 3600
PATH = "/v1/templates/weekly-report/executions"
BODY = {"inputs": {"week": "2026-W48", "teams": ["a", "b"]}, "wait": False}


@pytest.fixture
def records(backend_client: aioredis.Redis | None, prefix: str) -> IdempotencyStore:
    return IdempotencyStore(backend_client, key_prefix=prefix)


async def ttl_s(records: IdempotencyStore, client: aioredis.Redis | None, key: str) -> float:
    if client is None:
        left = records.ttl_remaining_s("acme", key)
        assert left is not None
        return left
    return await client.pttl(records.record_key("acme", key)) / 1000


async def test_fifty_concurrent_then_replay_then_mismatch(
    records: IdempotencyStore, backend_client: aioredis.Redis | None
) -> None:
    fp = fingerprint("POST", PATH, BODY)
    firsts = await asyncio.gather(*(records.begin("acme", "order-42", fp) for _ in range(50)))
    kinds = Counter(type(b).__name__ for b in firsts)
    print(f"\n[50 concurrent begin, {'redis' if backend_client else 'memory'}] {dict(kinds)}")
    assert kinds == {"New": 1, "InFlight": 49}
    owner = next(b for b in firsts if isinstance(b, New))
    assert all(0 < b.retry_after_s <= 120 for b in firsts if isinstance(b, InFlight))
    assert 110 < await ttl_s(records, backend_client, "order-42") <= 120  # the in-flight lease

    response = {"execution_id": "acme.weekly-report.idem-x", "status": "running"}
    headers = {"Location": "/v1/executions/acme.weekly-report.idem-x"}
    assert await records.finish("acme", "order-42", 202, response, headers, token=owner.token)
    assert not await records.finish("acme", "order-42", 500, {"late": True})  # first one wins
    assert DAY - 60 < await ttl_s(records, backend_client, "order-42") <= DAY  # replayed for 24 h

    again = await asyncio.gather(*(records.begin("acme", "order-42", fp) for _ in range(50)))
    assert all(r == Replay(202, response, headers) for r in again), again[0]
    # same JSON, other key order and spacing: the same request
    same = fingerprint(
        "post", PATH, b'{"wait": false, "inputs": {"teams": ["a","b"], "week": "2026-W48"}}'
    )
    assert same == fp
    assert isinstance(await records.begin("acme", "order-42", same), Replay)
    # same key, different body (or path, or method): 422
    other = fingerprint("POST", PATH, {**BODY, "wait": True})
    assert isinstance(await records.begin("acme", "order-42", other), Mismatch)
    assert isinstance(
        await records.begin("acme", "order-42", fingerprint("POST", PATH + "x", BODY)), Mismatch
    )
    # the key is the tenant's: another tenant's same key is a request of its own
    assert isinstance(await records.begin("globex", "order-42", other), New)


async def test_mismatch_while_in_flight_and_bytes_bodies(records: IdempotencyStore) -> None:
    fp = fingerprint("POST", PATH, BODY)
    first = await records.begin("acme", "k1", fp)
    assert isinstance(first, New)
    assert isinstance(await records.begin("acme", "k1", fingerprint("POST", PATH, {})), Mismatch)
    assert await records.finish("acme", "k1", 200, b"\x00raw bytes\xff")
    assert await records.begin("acme", "k1", fp) == Replay(200, b"\x00raw bytes\xff", {})


async def test_abandon_tokens_and_lease(backend_client: aioredis.Redis | None, prefix: str) -> None:
    records = IdempotencyStore(backend_client, key_prefix=prefix, inflight_ttl_s=1)
    fp = fingerprint("POST", PATH, BODY)
    first = await records.begin("acme", "k", fp)
    assert isinstance(first, New)
    assert not await records.abandon("acme", "k", token="not-the-owner")
    assert not await records.finish("acme", "k", 202, {}, token="not-the-owner")
    assert await records.abandon("acme", "k", token=first.token)
    second = await records.begin("acme", "k", fp)  # the client's retry runs again
    assert isinstance(second, New)
    # the owner died without finishing: after its lease, a retry owns the key again (the
    # deterministic workflow id keeps Temporal from starting the run twice)
    await asyncio.sleep(1.1)
    third = await records.begin("acme", "k", fp)
    assert isinstance(third, New)
    assert not await records.finish("acme", "k", 202, {"stale": True}, token=second.token)
    assert await records.finish("acme", "k", 202, {"ok": True}, token=third.token)
    assert await records.begin("acme", "k", fp) == Replay(202, {"ok": True}, {})


async def test_a_begin_sent_twice_is_still_its_owners(redis_client: aioredis.Redis, prefix: str) -> None:
    """redis-py sends a script again when its reply timed out: the second delivery of the
    same begin (same token) must not find "its own" lease and answer 409 for its lifetime."""
    records = IdempotencyStore(redis_client, key_prefix=prefix)
    first = await records.begin("acme", "k", "fp")
    assert isinstance(first, New)
    rkey = records.record_key("acme", "k")
    again = await records._begin(keys=[rkey], args=["fp", first.token, 120_000])
    assert [part.decode() if isinstance(part, bytes) else part for part in again] == ["new"]
    other = await records.begin("acme", "k", "fp")  # another request with the same key
    assert isinstance(other, InFlight)


async def test_redis_down_fails_fast(prefix: str) -> None:
    down = make_client(f"redis://127.0.0.1:{closed_port()}/0", 0.5)
    records = IdempotencyStore(down, key_prefix=prefix, deadline_s=1.0)
    try:
        started = time.monotonic()
        with pytest.raises(LimitsUnavailable):
            await records.begin("acme", "k", fingerprint("POST", PATH, BODY))
        with pytest.raises(LimitsUnavailable):
            await records.finish("acme", "k", 202, {})
        assert time.monotonic() - started < 1.0
    finally:
        await down.aclose()


def test_workflow_id_is_stable_and_distinct_per_tenant() -> None:
    wid = workflow_id_for("acme", "weekly-report", "order-42")
    assert wid == workflow_id_for("acme", "weekly-report", "order-42")
    assert wid.startswith("acme.weekly-report.idem-") and len(wid.rsplit("-", 1)[1]) == 16
    assert (
        wid
        == "acme.weekly-report.idem-"
        + __import__("hashlib").sha256(b"acme\x00weekly-report\x00order-42").hexdigest()[:16]
    )  # pinned: changing it would let a retried start run twice
    others = {
        workflow_id_for("globex", "weekly-report", "order-42"),
        workflow_id_for("acme", "monthly-report", "order-42"),
        workflow_id_for("acme", "weekly-report", "order-43"),
        workflow_id_for("acme.weekly", "report", "order-42"),
    }
    assert wid not in others and len(others) == 4


def test_fingerprint_and_key_checks() -> None:
    assert fingerprint("POST", PATH, BODY) != fingerprint("PUT", PATH, BODY)
    assert fingerprint("POST", PATH, b"") == fingerprint("POST", PATH, None)
    assert fingerprint("POST", PATH, b"not json") != fingerprint("POST", PATH, b"not json!")
    assert check_key("a" * 255)
    for bad in ("", "a" * 256, "has space", "caf\u00e9"):
        with pytest.raises(ValueError):
            check_key(bad)
