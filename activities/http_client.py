"""One httpx client (connection pool) per delivery activity instance, opened on first use and
closed with the worker: what the webhook and notification activities share."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx


class LazyHttpClient:
    def __init__(self, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> httpx.AsyncClient:
        async with self._lock:
            if self._client is None:
                # imported here: workflow code imports the activities' models, never httpx
                import httpx

                # no redirects followed (a receiver cannot bounce a signed request elsewhere),
                # no proxy settings from the environment
                self._client = httpx.AsyncClient(
                    follow_redirects=False, transport=self._transport, trust_env=False
                )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
