"""SIGKILL of a worker at random points across many runs of a multi-step template: the
workflow pool or the agent pool, killed while runs are in flight and restarted at once.
Every run completes, every step keeps its result, every billed call is in the ledger once."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from tests.chaos.conftest import Chaos, Size, ready
from tests.chaos.runs import losses, start_runs, wait_done

pytestmark = pytest.mark.timeout(900)


async def test_worker_sigkills_at_random_points_lose_nothing(
    chaos: Chaos, size: Size, rng: random.Random
) -> None:
    stack = chaos.stack
    began = time.monotonic()
    first = rng.randrange(2)
    ids: list[str] = []
    kills: list[str] = []
    async with stack.http(chaos.key) as http:
        for i in range(size.kills):
            # a wave of runs, then a kill at a random point in them, alternating pools
            victim = (stack.workflows, stack.agents)[(first + i) % 2]
            await ready(victim)  # restarted by an earlier kill: serving again first
            wave = size.kill_runs // size.kills + (i < size.kill_runs % size.kills)
            ids += await start_runs(http, wave, f"kill{i}")
            await asyncio.sleep(rng.uniform(0.0, 3.0))  # the chaos schedule
            await asyncio.to_thread(victim.kill)
            kills.append(f"{victim.name}@{time.monotonic() - began:.1f}s")
            victim.start()  # at once, as a supervisor would
    print(f"kills: {', '.join(kills)}")
    results = await wait_done(chaos.client, ids, timeout_s=300)
    for p in (stack.workflows, stack.agents):
        await ready(p)  # the next test starts from a whole stack
    print(f"{len(ids)} runs, {len(kills)} SIGKILLs, done in {time.monotonic() - began:.1f}s")
    assert await losses(chaos.store, results) == []
