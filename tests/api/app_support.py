"""The app as the API tests run it, shared by test_schema, test_tenant_matrix and test_postman:
real Temporal (the session's dev server, in-process workflow and system workers), a real
store, tenants with one key per role. Every API test module builds its app here.

`cross_loop()` lets a synchronous client on another thread's event loop (schemathesis's ASGI
client) call the app, which stays on the loop that owns its store, Temporal client and
workers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.settings import ApiSettings
from store import Store, StoreSettings
from tests.conftest import server_address
from worker.local_activities import LocalActivities
from worker.plugin import BizosPlugin
from worker.pools import build_worker
from workflows.registry import load_registry, set_registry

REPO = Path(__file__).resolve().parents[2]
SPEC_DIRS = [
    REPO / "dag_specs",
    REPO / "dag_specs" / "examples",
    REPO / "tests" / "specs",
    REPO / "tests" / "templates" / "specs",
]
ROLES = ("admin", "operator", "approver", "viewer")
TENANTS = ("acme", "globex", "acme-eu")
"""`acme` is tenant A in the cross-tenant tests; `acme-eu` has a name that starts like A's."""


@dataclass
class Api:
    app: FastAPI
    http: httpx.AsyncClient
    store: Store
    temporal: Client
    keys: dict[str, str]  # "<tenant>:<role>" -> raw key

    def as_(self, who: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}", **extra}


def offline_app() -> FastAPI:
    """The app without store or Temporal: enough for its OpenAPI document."""
    return create_app(ApiSettings(), store=object(), temporal=object())


@asynccontextmanager
async def running_api(
    temporal_env: WorkflowEnvironment,
    home: Path,
    *,
    tenants: Sequence[str] = TENANTS,
    budgets: dict[str, float] | None = None,
    limiter: Any = None,
    idempotency: Any = None,
    namespace: str | None = None,
) -> AsyncIterator[Api]:
    """The app on the session's Temporal with in-process workflow and noop workers whose
    run-start local activities (configuration pins, webhook fan-out) use the app's store;
    `tenants` each get a key per role (`<tenant>:<role>`). Give an isolated `namespace` when
    the tests read what the local activities write (approver groups, decision log): on the
    shared one, another test's long-lived workflow worker (with another store) may take the
    tasks."""
    set_registry(load_registry(SPEC_DIRS))
    client = await Client.connect(
        server_address(temporal_env),
        namespace=namespace or temporal_env.client.namespace,
        plugins=[BizosPlugin()],
    )
    store = await Store.open(StoreSettings(home=home))
    keys: dict[str, str] = {}
    for tenant in tenants:
        await store.create_tenant(
            tenant, name=tenant.title(), monthly_budget_usd=(budgets or {}).get(tenant)
        )
        for role in ROLES:
            _, raw = await store.create_key(tenant, f"{role}@{tenant}", role)
            keys[f"{tenant}:{role}"] = raw
    app = create_app(
        ApiSettings(wait_timeout_s=15),
        store=store,
        temporal=client,
        limiter=limiter,
        idempotency=idempotency,
    )
    try:
        async with (
            build_worker(client, "workflows", local_activities=LocalActivities(store=store)),
            build_worker(client, "system"),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://api"
            ) as http,
        ):
            yield Api(app, http, store, client, keys)
    finally:
        await store.close()


Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Message, Receive, Send], Awaitable[None]]


def cross_loop(app: ASGIApp, loop: asyncio.AbstractEventLoop) -> ASGIApp:
    """An ASGI app that runs `app` on `loop` (which must be running, on another thread) and
    relays `receive`/`send` back to the caller's loop."""

    async def relay(scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # the app's lifespan is the fixture's: answer here
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        caller = asyncio.get_running_loop()

        async def receive_there() -> Message:
            return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(receive(), caller))

        async def send_there(message: Message) -> None:
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(send(message), caller))

        await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(app(scope, receive_there, send_there), loop)
        )

    return relay
