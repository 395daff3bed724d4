"""In-process and fast: the API on a database that refuses connections answers 503 with
Retry-After, in bounded time (before api/dependencies_down.py: 500 Internal Server Error).
The stack tests (test_dependencies_down.py) check the same against a cluster they stop."""

from __future__ import annotations

import asyncio

import httpx

from api.app import create_app
from api.settings import ApiSettings
from store import Store, StoreSettings
from tests.chaos.services import free_port

WELL_FORMED_KEY = "bizos_bk_01234567_" + "s" * 43  # parsed, then looked up in the database


async def test_database_refusing_connections_answers_503_with_retry_after() -> None:
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/bizos"
    store = await Store.open(StoreSettings(database_url=nowhere), migrate=False)
    app = create_app(ApiSettings(), store=store, temporal=object())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            for path in ("/v1/executions", "/v1/costs"):
                r = await asyncio.wait_for(
                    http.get(path, headers={"Authorization": f"Bearer {WELL_FORMED_KEY}"}), 10
                )
                assert r.status_code == 503, (path, r.status_code, r.text)
                assert r.headers["Retry-After"] == "5"
                assert r.json()["type"].endswith("/database-unavailable")
    finally:
        await store.close()
