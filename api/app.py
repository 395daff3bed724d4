"""The FastAPI application: routes under `/v1`, OpenAPI at `/openapi.json`, docs at `/docs`.

`create_app()` wires the process's store and Temporal client in its lifespan (or takes them
from the caller, as tests do); routes never block on a workflow: they start, signal, update
and query, each call with an RPC timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from api import metrics, problems
from api.body_limit import BodyLimit
from api.console import mount_console
from api.console.session import SessionStore
from api.idempotency import IdempotencyStore
from api.limits import RateLimiter
from api.problems import PROBLEM_RESPONSES
from api.redis_conn import open_backend
from api.routes import (
    agents,
    approver_groups,
    codec,
    configurations,
    costs,
    decisions,
    executions,
    health,
    links,
    schedules,
    secrets,
    templates,
    webhooks,
    workflows,
)
from api.settings import ApiSettings
from worker.tracing import instrument_app


class _Closing:
    def __init__(self, close: Callable[[], Awaitable[None]]) -> None:
        self.close = close


def create_app(
    settings: ApiSettings | None = None,
    *,
    store: Any = None,
    temporal: Any = None,
    limiter: RateLimiter | None = None,
    idempotency: IdempotencyStore | None = None,
    sessions: SessionStore | None = None,
) -> FastAPI:
    """The app. `limiter`/`idempotency` given (tests): used as they are; not given: the
    lifespan opens one Redis backend (`settings.redis`) for both. An app whose lifespan does
    not run (tests on a bare ASGI transport) and was given neither checks no rate limits and
    keeps no Idempotency-Key records (keyed starts still derive their workflow ids)."""
    settings = settings or ApiSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned: list[Any] = []
        if app.state.store is None:
            from store import Store

            app.state.store = await Store.open()
            owned.append(app.state.store)
        if app.state.temporal is None:  # a real process, not a test's app: its secrets too
            from activities.secrets.configure import install_configured_backend
            from worker.connection import connect

            await asyncio.to_thread(install_configured_backend)  # a Vault login blocks

            app.state.temporal = await connect()
        if settings.production:
            # decision links need their signing secret (from the backend installed above)
            from activities.notify.links import LinkSettings, signing_secret

            await asyncio.to_thread(signing_secret, LinkSettings(production=True))
        if app.state.limiter is None or app.state.idempotency is None or app.state.sessions is None:
            backend = await open_backend(settings.redis)
            owned.append(_Closing(backend.aclose))
            print(f"bizos api: {backend.message}", flush=True)
            if app.state.limiter is None:
                app.state.limiter = RateLimiter.from_backend(backend)
            if app.state.idempotency is None:
                app.state.idempotency = IdempotencyStore.from_backend(backend)
            if app.state.sessions is None:  # console sessions: where the limits are
                app.state.sessions = SessionStore.from_backend(backend)
        try:
            yield
        finally:
            for item in owned:
                await item.close()

    app = FastAPI(
        title="BizOS Agents",
        version="1",
        description="Run teams of AI agents as durable Temporal workflows: execute agents and "
        "templates, decide approvals, follow executions and their costs, per tenant.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.temporal = temporal
    app.state.limiter = limiter
    app.state.idempotency = idempotency
    app.state.sessions = sessions
    problems.install(app)
    app.add_middleware(metrics.MetricsMiddleware)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(templates.router, prefix="/v1", responses=PROBLEM_RESPONSES)
    app.include_router(workflows.router, prefix="/v1", responses=PROBLEM_RESPONSES)
    app.include_router(agents.router, prefix="/v1", responses=PROBLEM_RESPONSES)
    app.include_router(executions.router, prefix="/v1", responses=PROBLEM_RESPONSES)
    app.include_router(costs.router, prefix="/v1", responses=PROBLEM_RESPONSES)
    app.include_router(configurations.router, prefix="/v1", responses=PROBLEM_RESPONSES)
    app.include_router(schedules.router, prefix="/v1", responses=PROBLEM_RESPONSES)
    app.include_router(webhooks.router, prefix="/v1", responses=PROBLEM_RESPONSES)
    app.include_router(approver_groups.router, prefix="/v1", responses=PROBLEM_RESPONSES)
    app.include_router(decisions.router, prefix="/v1", responses=PROBLEM_RESPONSES)
    app.include_router(links.router, prefix="/v1")  # no key: the signed token is the credential
    app.include_router(secrets.router, prefix="/v1", responses=PROBLEM_RESPONSES)
    app.include_router(codec.router, prefix="/v1")  # Temporal's codec protocol, for operators
    mount_console(app)  # the admin console at /admin, on the same keys and tenants
    instrument_app(app)  # traces requests when OTEL_EXPORTER_OTLP_ENDPOINT is set
    return app
