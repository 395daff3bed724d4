"""Helpers shared by the test modules (not fixtures: plain functions)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle

from starters.runs import start_run
from workflows.models import Progress, RunInput
from workflows.registry import default_registry

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T | None]], *, timeout_s: float = 30.0, what: str = "condition"
) -> T:
    """Poll `check` until it returns something truthy: waits for a state, never for a time."""
    deadline = time.monotonic() + timeout_s
    delay = 0.02
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 0.5)


async def start(
    client: Client,
    template: str,
    params: dict[str, Any] | None = None,
    *,
    key: str | None = None,
    budget_usd: float | None = None,
    tenant: str = "default",
) -> WorkflowHandle[Any, Any]:
    dag = default_registry().by_name(template)
    run_input = RunInput(params=params or {}, tenant=tenant, budget_usd=budget_usd)
    return await start_run(client, dag, run_input, key=key or uuid.uuid4().hex[:12])


async def progress(handle: WorkflowHandle[Any, Any]) -> Progress:
    return await handle.query("progress", result_type=Progress)


async def waiting_on(handle: WorkflowHandle[Any, Any], step: str) -> Progress | None:
    p = await progress(handle)
    return p if step in p.waiting else None


async def wait_until_waiting(handle: WorkflowHandle[Any, Any], step: str) -> Progress:
    return await eventually(lambda: waiting_on(handle, step), what=f"{handle.id} waiting on {step}")


async def events(handle: WorkflowHandle[Any, Any]) -> list[HistoryEvent]:
    history = await handle.fetch_history()
    return list(history.events)


def of_type(evs: list[HistoryEvent], kind: int) -> list[HistoryEvent]:
    return [e for e in evs if e.event_type == kind]


ET = EventType
