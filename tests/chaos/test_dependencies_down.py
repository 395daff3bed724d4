"""PostgreSQL, Redis and the Temporal dev server restarted under load: while each is down
the API answers 503 with Retry-After within a bounded time (never a hang, never a 500), and
the runs in flight all complete once it is back, losing nothing.

PostgreSQL is stopped with a fast shutdown (every connection cut); Redis and the dev server
are SIGKILLed and come back on their own state (AOF; the dev server's SQLite file)."""

from __future__ import annotations

import asyncio
import random
import time

import httpx
import pytest

from tests.chaos.conftest import Chaos, Size
from tests.chaos.runs import TEMPLATE, losses, start_runs, wait_done
from tests.support import eventually

pytestmark = pytest.mark.timeout(900)

ANSWER_WITHIN_S = 10.0  # "never a hang": each answer while a dependency is down, at most
# Temporal: the API's RPC timeout (10 s) bounds it; its client's retries of UNAVAILABLE
# take 5-10 s of that on a loaded 2-core machine
TEMPORAL_ANSWER_WITHIN_S = 15.0


async def answers_503(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    within_s: float = ANSWER_WITHIN_S,
    **kw: object,
) -> float:
    """Asserts the request answers 503 with Retry-After within `within_s`; its time."""
    began = time.monotonic()
    r = await asyncio.wait_for(http.request(method, url, **kw), within_s)  # type: ignore[arg-type]
    took = time.monotonic() - began
    assert r.status_code == 503, f"{method} {url}: {r.status_code} {r.text[:500]}"
    assert int(r.headers["Retry-After"]) >= 1, r.headers
    return took


async def run_under(chaos: Chaos, size: Size, label: str, fault: object) -> None:
    """Start runs, apply `fault` (an async callable) while they are in flight, then check
    every run completes with nothing lost."""
    async with chaos.stack.http(chaos.key) as http:
        ids = await start_runs(http, size.load_runs, label)
    await fault()  # type: ignore[operator]
    results = await wait_done(chaos.client, ids, timeout_s=300)
    assert await losses(chaos.store, results) == []


async def healthy(http: httpx.AsyncClient) -> bool:
    try:
        return (await http.get("/v1/executions")).status_code == 200
    except httpx.TransportError:
        return False


async def test_postgres_restart_under_load(chaos: Chaos, size: Size, rng: random.Random) -> None:
    stack = chaos.stack

    async def fault() -> None:
        await asyncio.sleep(rng.uniform(0.5, 3.0))  # a random point in the runs
        await asyncio.to_thread(stack.pg.stop)
        async with stack.http(chaos.key) as http:
            took = [
                await answers_503(http, "GET", "/v1/executions"),
                await answers_503(http, "GET", "/v1/costs"),
                await answers_503(
                    http, "POST", f"/v1/workflows/{TEMPLATE}/execute", json={"params": {}}
                ),
            ]
            print(f"PostgreSQL down: 503s in {', '.join(f'{t:.2f}s' for t in took)}")
            await asyncio.to_thread(stack.pg.start)
            await eventually(lambda: healthy(http), timeout_s=60, what="API back on PostgreSQL")

    await run_under(chaos, size, "pg", fault)


async def test_redis_killed_under_load(chaos: Chaos, size: Size, rng: random.Random) -> None:
    stack = chaos.stack

    async def fault() -> None:
        await asyncio.sleep(rng.uniform(0.5, 3.0))
        await asyncio.to_thread(stack.redis.kill)
        async with stack.http(chaos.key) as http:
            took = [
                await answers_503(http, "GET", "/v1/executions"),
                await answers_503(
                    http,
                    "POST",
                    f"/v1/workflows/{TEMPLATE}/execute",
                    json={"params": {"topic": "x"}},
                    headers={"Idempotency-Key": "redis-down"},
                ),
            ]
            print(f"Redis down: 503s in {', '.join(f'{t:.2f}s' for t in took)}")
            await asyncio.to_thread(stack.redis.start)
            await eventually(lambda: healthy(http), timeout_s=60, what="API back on Redis")

    await run_under(chaos, size, "redis", fault)


async def test_dev_server_killed_and_restarted_on_its_state(
    chaos: Chaos, size: Size, rng: random.Random
) -> None:
    stack = chaos.stack

    async def fault() -> None:
        await asyncio.sleep(rng.uniform(0.5, 3.0))
        await asyncio.to_thread(stack.kill_server)
        async with stack.http(chaos.key) as http:
            took = [
                await answers_503(
                    http,
                    "POST",
                    f"/v1/workflows/{TEMPLATE}/execute",
                    TEMPORAL_ANSWER_WITHIN_S,
                    json={"params": {"topic": "x"}},
                ),
            ]
            print(f"Temporal down: 503s in {', '.join(f'{t:.2f}s' for t in took)}")
            await asyncio.to_thread(stack.server.start)  # the same SQLite state file

    await run_under(chaos, size, "temporal", fault)
