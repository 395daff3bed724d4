"""Heartbeat for the whole of a step, from a background task.

A step spends its time in places that cannot heartbeat themselves: the first step of a
process waits for crewai to import (seconds), a crew runs in a pool thread, a model call can
take a minute. A task beside the step heartbeats with the step's progress, so the heartbeat
timeout only fires when the worker is really gone, and a cancellation reaches the step at
its next beat.

The beat follows the step's own heartbeat timeout: a third of it, at most `MAX_BEAT_S`.
A third puts two beats inside every timeout window, so one late beat (a busy event loop, a
slow RPC) does not time the step out. Beating often costs nothing: the SDK sends at most one
heartbeat per 80 % of the timeout and keeps only the latest details in between. The cap
keeps long timeouts from stretching the beat past that throttle (which bounds how late a
cancellation arrives) and keeps progress details fresh. Below `MIN_HEARTBEAT_TIMEOUT` the
SDK's throttle leaves too little slack before the server's deadline, so the compiler
refuses such `heartbeat:` values.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from temporalio import activity

MIN_HEARTBEAT_TIMEOUT = timedelta(seconds=1)
MAX_BEAT_S = 2.0
BEATS_PER_TIMEOUT = 3


def beat_every_s(heartbeat_timeout: timedelta | None, cap_s: float = MAX_BEAT_S) -> float:
    """Seconds between beats for an activity with this heartbeat timeout (None: no timeout,
    beat at the cap so cancellations still arrive)."""
    if heartbeat_timeout is None or heartbeat_timeout <= timedelta(0):
        return cap_s
    return min(cap_s, heartbeat_timeout.total_seconds() / BEATS_PER_TIMEOUT)


@asynccontextmanager
async def heartbeating(
    progress: dict[str, Any], *, cap_s: float = MAX_BEAT_S
) -> AsyncIterator[None]:
    """Heartbeat `progress` (read at each beat) while the block runs, at a beat fitted to
    the current activity's heartbeat timeout."""
    every_s = beat_every_s(activity.info().heartbeat_timeout, cap_s)

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
