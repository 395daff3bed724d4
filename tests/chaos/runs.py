"""Starting chaos_chain runs through the API, waiting for them across faults, and what a
user would call lost: a run that did not complete, a step without its result, a billed call
missing from the ledger or in it twice."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
from sqlalchemy import text
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.service import RPCError

from store import Store
from workflows.models import RunResult

TEMPLATE = "chaos_chain"
STEPS = ("research", "angle_a", "angle_b", "summary")
PRICE_AS = "openai:gpt-4o-mini"  # offline estimates priced as a real model: real money rows


async def start_runs(
    http: httpx.AsyncClient, n: int, label: str, price_as: str | None = PRICE_AS
) -> list[str]:
    """`n` runs started through the API (an Idempotency-Key each, so a retried start after
    a 503 never starts a second run); their execution ids. `price_as` None: the agent's
    configured providers are called (and bill what they answer)."""

    async def one(i: int) -> str:
        key = f"{label}-{i}-{uuid.uuid4().hex[:8]}"
        body: dict[str, Any] = {"params": {"topic": f"{label} {i}"}}
        if price_as:
            body["price_as"] = price_as
        deadline = time.monotonic() + 120
        while True:
            sent = time.monotonic()
            try:
                r = await http.post(
                    f"/v1/workflows/{TEMPLATE}/execute",
                    json=body,
                    headers={"Idempotency-Key": key},
                )
            except httpx.TimeoutException as e:
                raise AssertionError(
                    f"start {key}: no answer in {time.monotonic() - sent:.1f}s (a hang): {e!r}"
                ) from None
            took = time.monotonic() - sent
            if r.status_code == 202:
                return str(r.json()["execution_id"])
            # 503 (+ Retry-After) or 409 (the twin in flight): a client retries, as told
            print(f"start {key}: {r.status_code} in {took:.2f}s {r.text[:300]}")
            assert r.status_code in (409, 503), r.text
            assert time.monotonic() < deadline, f"start refused for 120 s: {r.text}"
            await asyncio.sleep(float(r.headers.get("Retry-After", "1")))

    return list(await asyncio.gather(*(one(i) for i in range(n))))


async def wait_done(client: Client, ids: list[str], timeout_s: float) -> dict[str, RunResult | str]:
    """Each run's result once it is closed, or why it failed (a string: a lost run); a run
    still open after `timeout_s` fails the test. Temporal may be down meanwhile:
    unreachable is retried, never taken as an answer."""

    async def one(wid: str) -> RunResult | str:
        handle = client.get_workflow_handle(wid, result_type=RunResult)
        delay = 0.2
        while True:
            try:
                desc = await handle.describe()
                if desc.status != WorkflowExecutionStatus.RUNNING:
                    try:
                        result = await handle.result()
                    except WorkflowFailureError as e:
                        return f"run failed: {e.cause}"
                    assert isinstance(result, RunResult)
                    return result
            except RPCError:
                pass  # the server is down or restarting: ask again
            await asyncio.sleep(delay)  # polling a workflow's state (no completion hook)
            delay = min(delay * 1.5, 1.0)

    results = await asyncio.wait_for(asyncio.gather(*(one(w) for w in ids)), timeout_s)
    return dict(zip(ids, results, strict=True))


async def losses(store: Store, results: dict[str, RunResult | str]) -> list[str]:
    """Everything lost or doubled in these runs (empty: nothing)."""
    problems: list[str] = []
    for wid, result in results.items():
        if isinstance(result, str):
            problems.append(f"{wid}: {result}")
            continue
        for step in STEPS:
            if result.statuses.get(step) != "succeeded":
                problems.append(f"{wid}.{step}: {result.statuses.get(step)} {result.errors}")
            elif not result.outputs.get(step):
                problems.append(f"{wid}.{step}: succeeded without its result")
    ids = list(results)
    async with store.engine.connect() as conn:
        doubled = (
            await conn.execute(
                text(
                    "SELECT workflow_id, step_key, attempt, call_index, request_hash, count(*)"
                    " FROM ledger_entries WHERE workflow_id = ANY(:ids)"
                    " GROUP BY workflow_id, step_key, attempt, call_index, request_hash"
                    " HAVING count(*) > 1"
                ),
                {"ids": ids},
            )
        ).all()
        rows = (
            await conn.execute(
                text(
                    "SELECT workflow_id, step_key, count(*), sum(usd_nanos) FROM ledger_entries"
                    " WHERE workflow_id = ANY(:ids) GROUP BY workflow_id, step_key"
                ),
                {"ids": ids},
            )
        ).all()
    problems += [f"billed twice: {tuple(r)}" for r in doubled]
    billed: dict[str, set[str]] = {}
    for wid, step_key, _, usd in rows:
        if usd and usd > 0:
            billed.setdefault(wid, set()).add(step_key)
    for wid in ids:
        steps = billed.get(wid, set())
        for step in STEPS:
            if step not in steps:
                problems.append(f"{wid}.{step}: no billed call in the ledger (has {steps})")
    return problems


async def billed_rows(store: Store, ids: list[str]) -> int:
    """How many billed calls the ledger holds for these runs."""
    async with store.engine.connect() as conn:
        count = await conn.scalar(
            text(
                "SELECT count(*) FROM ledger_entries"
                " WHERE workflow_id = ANY(:ids) AND kind = 'billed'"
            ),
            {"ids": ids},
        )
    return int(count or 0)
