"""Limits and idempotency tests run against the real Redis on 127.0.0.1:6379 (unreachable =
failure, not a skip), each under a key prefix of its own that is deleted afterwards."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import redis.asyncio as aioredis

from api.redis_conn import make_client
from tests.api.redis_support import REDIS_URL


@pytest.fixture
def prefix() -> str:
    return f"bizos-test-{uuid.uuid4().hex[:12]}"


@asynccontextmanager
async def scratch_redis(prefix: str) -> AsyncIterator[aioredis.Redis]:
    client = make_client(REDIS_URL, 0.5)
    await client.ping()  # type: ignore[misc]
    try:
        yield client
    finally:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=500)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture
async def redis_client(prefix: str) -> AsyncIterator[aioredis.Redis]:
    async with scratch_redis(prefix) as client:
        yield client


@pytest.fixture(params=["redis", "memory"])
async def backend_client(
    request: pytest.FixtureRequest, prefix: str
) -> AsyncIterator[aioredis.Redis | None]:
    """The real Redis, then no Redis (in-process)."""
    if request.param == "memory":
        yield None
        return
    async with scratch_redis(prefix) as client:
        yield client
