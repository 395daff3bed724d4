"""Wait for a state, never for a time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T]], *, timeout_s: float = 30.0, what: str = "condition"
) -> T:
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
