"""Heartbeat for the whole of a step, from a background task.

A step spends its time in places that cannot heartbeat themselves: the first step of a
process waits for crewai to import (seconds), a crew runs in a pool thread, a model call can
take a minute. A task beside the step heartbeats on a fixed beat with the step's progress,
so the heartbeat timeout only fires when the worker is really gone, and a cancellation
reaches the step within one beat.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from temporalio import activity


@asynccontextmanager
async def heartbeating(every_s: float, progress: dict[str, Any]) -> AsyncIterator[None]:
    async def beat() -> None:
        # A step shorter than half a beat never heartbeats (one RPC saved per quick step);
        # after that, one beat per period.
        await asyncio.sleep(every_s / 2)
        while True:
            activity.heartbeat(dict(progress))
            await asyncio.sleep(every_s)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
