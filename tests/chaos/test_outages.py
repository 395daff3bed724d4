"""Outages of a time: an agent pool down (10 s in CI, 30 s with the flag) and the Vault test
server down (10 s in CI, 60 s with the flag) while runs need them. Runs wait for the pool
and ride Vault's outage on the last-known-good cache; every one completes, losing nothing.
The outage's length is the fault itself, so it is timed with a sleep; what follows waits
for states."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.chaos.conftest import POOL_OUTAGE_FULL_S, Chaos, Size
from tests.chaos.runs import STEPS, billed_rows, losses, start_runs, wait_done
from workflows.models import Progress

pytestmark = pytest.mark.timeout(900)


async def test_agent_pool_down_then_back(chaos: Chaos, size: Size) -> None:
    stack = chaos.stack
    outage_s = POOL_OUTAGE_FULL_S if size.full else size.outage_s
    await asyncio.to_thread(stack.agents.kill)
    began = time.monotonic()
    async with stack.http(chaos.key) as http:
        ids = await start_runs(http, size.load_runs, "pool")  # the API takes runs meanwhile
    await asyncio.sleep(max(0.0, outage_s - (time.monotonic() - began)))  # the outage
    for wid in ids:  # nothing ran without the pool: every run still waits on its first step
        progress = await chaos.client.get_workflow_handle(wid).query(
            "progress", result_type=Progress
        )
        done = [s.id for s in progress.steps if s.status == "succeeded"]
        assert done == [], f"{wid}: {done} ran with the pool down"
    stack.agents.start()
    results = await wait_done(chaos.client, ids, timeout_s=300)
    print(
        f"agent pool down {outage_s:.0f}s: {len(ids)} runs done "
        f"{time.monotonic() - began:.1f}s after it went down"
    )
    assert await losses(chaos.store, results) == []


async def test_vault_down_then_back(chaos: Chaos, size: Size) -> None:
    """The agent pool asks Vault for its model key at every step (refresh 0 s); Vault goes
    down, runs are started and need the key meanwhile; every read falls back to the
    last-known-good value (the default 10-minute cache), which the worker logs; the runs
    complete, each model call billed once. (Without a cached value, e.g. a worker started
    during the outage, the step waits inside its attempt, heartbeating, up to
    `BIZOS_STEP_DEPENDENCY_WAIT_S`: tests/agents/test_step_outages.py.)"""
    stack, vault, model = chaos.stack, chaos.vault, chaos.model
    calls_before = len(model.calls())
    async with stack.http(chaos.key) as http:
        warm = await start_runs(http, 1, "vault-warm", price_as=None)  # reads the key
        await wait_done(chaos.client, warm, timeout_s=120)
        felt_before = stack.agents.output().count(b"Vault is unreachable")
        vault.down()
        down_at = time.monotonic()
        try:
            ids = await start_runs(http, size.load_runs, "vault", price_as=None)
            await asyncio.sleep(max(0.0, size.outage_s - (time.monotonic() - down_at)))
            felt = stack.agents.output().count(b"Vault is unreachable") - felt_before
        finally:
            vault.up()
    results = await wait_done(chaos.client, ids, timeout_s=300)
    calls = len(model.calls()) - calls_before
    print(
        f"Vault down {size.outage_s:.0f}s: {len(ids)} runs done "
        f"{time.monotonic() - down_at:.1f}s after it went down; {calls} model calls, "
        f"{felt} key reads served from the cache during the outage"
    )
    assert await losses(chaos.store, results) == []
    assert calls >= (len(ids) + 1) * len(STEPS)
    # each call the model answered is in the ledger, once: no more rows, no fewer
    assert await billed_rows(chaos.store, warm + ids) == calls
    assert felt > 0, "no read met the outage: it tested nothing"
