"""Liveness and readiness: `/healthz` answers while the process runs; `/readyz` checks what a
request needs — Temporal, the database and (when limits are shared) Redis — each with a short
timeout."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

router = APIRouter(tags=["health"])
CHECK_TIMEOUT_S = 2.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    checks: dict[str, str] = {}

    async def temporal() -> None:
        await request.app.state.temporal.workflow_service.get_system_info(
            GetSystemInfoRequest(), timeout=timedelta(seconds=CHECK_TIMEOUT_S)
        )

    async def database() -> None:
        async with request.app.state.store.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def redis() -> None:
        await request.app.state.limiter.ping()

    probes = [("temporal", temporal), ("database", database)]
    limiter = getattr(request.app.state, "limiter", None)
    if limiter is not None and limiter.shared:
        probes.append(("redis", redis))  # in-process limits: no Redis to wait for
    for name, check in probes:
        try:
            await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
            checks[name] = "ok"
        except Exception as e:  # any failure makes the service not ready; say which
            checks[name] = f"unavailable: {type(e).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
        headers={} if ready else {"Retry-After": "5"},
    )
