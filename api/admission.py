"""Admission of `/v1` requests (DESIGN §12): rate limits, Idempotency-Key replays and the
tenant's monthly USD budget.

* Rate limits: :func:`check_rate_limit` runs in the auth dependency, once per request, as
  soon as the API key gives a principal: `limiter.hit(tenant, key_id)`; refused → 429 with
  ``Retry-After`` and ``RateLimit-*``; Redis configured but down → 503 with ``Retry-After``
  (the :class:`~api.redis_conn.LimitsUnavailable` handler), within the backend's deadline.
* Idempotency: :func:`idempotent` wraps the POSTs that start, cancel, resume or decide. With
  an ``Idempotency-Key`` header the first response (status, body) is replayed for 24 h; the
  same key with another body is 422; a duplicate while the first is in flight is 409 with
  ``Retry-After``. A request that fails (any problem, any error) records nothing: its retry
  runs again. Keyed starts derive their workflow id from (tenant, key)
  (:func:`api.idempotency.workflow_id_for`) and take "already started" as the same
  execution, so a lost record never starts a second run.
* Monthly budget: :func:`check_budget` refuses new executions with **402 Payment Required**
  (``budget-exhausted``) once the calendar month's (UTC) spend reaches the tenant's
  ``monthly_budget_usd`` — 402, not 429, because waiting does not help: the month rolls over
  or an admin raises the budget. Crossing 75/90/100 % writes a ``budget.alert`` audit entry
  once per tenant, month and threshold.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Header, Request, Response
from fastapi.responses import JSONResponse

from api import metrics
from api.idempotency import (
    IdempotencyStore,
    InFlight,
    Mismatch,
    New,
    Replay,
    check_key,
    fingerprint,
)
from api.problems import Problem
from api.redis_conn import LimitsUnavailable

log = logging.getLogger("bizos.api.admission")

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
ALERT_THRESHOLDS = (75, 90, 100)
ALERT_ACTION = "budget.alert"

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_HEADER,
        description="Makes this POST safe to retry: the first response (status and body) "
        "is answered again for 24 h; the same key with another body is 422; while the first "
        "is in flight, 409 with Retry-After. 1 to 255 visible ASCII characters.",
    ),
]
"""A route parameter that documents the header (`idempotent` reads it from the request)."""


# --------------------------------------------------------------------------- rate limits


async def check_rate_limit(request: Request, who: Any) -> None:
    """Count this request against its tenant and key; 429 when refused. Once per request."""
    limiter = getattr(request.app.state, "limiter", None)
    if limiter is None or getattr(request.state, "rate_limited", False):
        return
    request.state.rate_limited = True
    decision = await limiter.hit(who.tenant, who.key_id)  # LimitsUnavailable → 503
    request.state.rate_headers = decision.headers()
    if not decision.allowed:
        metrics.RATE_LIMITED.labels(who.tenant).inc()
        raise Problem(
            429,
            "Too many requests",
            f"the {decision.scope} rate limit of {decision.limit} requests per minute is "
            f"reached; retry after {decision.headers()['Retry-After']} s",
            kind="rate-limited",
            headers=decision.headers(),
            scope=decision.scope,
            limit=decision.limit,
        )


# --------------------------------------------------------------------------- idempotency


def _json_body(response: Response) -> Any:
    raw = bytes(response.body)
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw


async def idempotent(
    request: Request,
    who: Any,
    run: Callable[[str | None], Awaitable[Response]],
) -> Response:
    """Answer `run(key)` once per Idempotency-Key (None: no header, no record). `run` gets
    the key so starts can derive their workflow id from it."""
    raw_key = request.headers.get(IDEMPOTENCY_HEADER)
    records: IdempotencyStore | None = getattr(request.app.state, "idempotency", None)
    if raw_key is None:
        return await run(None)
    try:
        key = check_key(raw_key)
    except ValueError as e:
        raise Problem(422, "Invalid request", str(e), kind="invalid-idempotency-key") from None
    if records is None:  # no records at all (an app without admission): Temporal still dedups
        return await run(key)
    fp = fingerprint(request.method, request.url.path, await request.body())
    begun = await records.begin(who.tenant, key, fp)
    if isinstance(begun, Replay):
        headers = {**begun.headers, REPLAYED_HEADER: "true"}
        if isinstance(begun.body, bytes):
            return Response(begun.body, status_code=begun.status, headers=headers)
        return JSONResponse(begun.body, status_code=begun.status, headers=headers)
    if isinstance(begun, InFlight):
        wait = max(1, math.ceil(begun.retry_after_s or 1))
        wait = min(wait, 5)  # the first usually ends in well under a second; poll soon
        raise Problem(
            409,
            "Request in progress",
            f"a request with this Idempotency-Key is still being processed; retry after "
            f"{wait} s to get its response",
            kind="idempotency-in-flight",
            headers={"Retry-After": str(wait)},
        )
    if isinstance(begun, Mismatch):
        raise Problem(
            422,
            "Idempotency-Key reused",
            "this Idempotency-Key was already used with a different request (method, path "
            "or body); use a new key for a new request",
            kind="idempotency-key-reused",
        )
    assert isinstance(begun, New)
    try:
        response = await run(key)
    except BaseException:
        await _abandon(records, who.tenant, key, begun.token)
        raise
    try:
        await records.finish(
            who.tenant, key, response.status_code, _json_body(response), {}, token=begun.token
        )
    except LimitsUnavailable as e:
        # It happened: answer it. Unrecorded, a retry runs again — a start derives the same
        # workflow id (the same execution), a cancel or decision is refused or repeated.
        log.warning("Idempotency-Key response not recorded: %s", e.detail)
    return response


async def _abandon(records: IdempotencyStore, tenant: str, key: str, token: str) -> None:
    # the lease expires by itself anyway; the original error is what the caller sees
    with contextlib.suppress(Exception):
        await asyncio.shield(records.abandon(tenant, key, token=token))


# --------------------------------------------------------------------------- budget


def month_bounds(now: datetime) -> tuple[datetime, datetime]:
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if start.month == 12:
        end = start.replace(year=start.year + 1, month=1)
    else:
        end = start.replace(month=start.month + 1)
    return start, end


_UNREAD: Any = object()


async def check_budget(
    request: Request, tenant: str, *, now: datetime | None = None, info: Any = _UNREAD
) -> None:
    """402 when the tenant's monthly budget is spent; record 75/90/100 % alerts. `info`:
    the tenant's record when the caller has read it already (one store round trip less)."""
    store = request.app.state.store
    if info is _UNREAD:
        info = await store.get_tenant(tenant)
    budget = getattr(info, "monthly_budget_usd", None)
    if budget is None:
        return
    start, end = month_bounds(now or datetime.now(UTC))
    month = start.strftime("%Y-%m")
    lines = await store.costs_by(tenant, "day", since=start, until=end)
    spent = sum(line.usd_nanos for line in lines) / 1e9
    reached = [t for t in ALERT_THRESHOLDS if spent >= budget * t / 100]
    if reached:
        lock = getattr(request.app.state, "budget_alert_lock", None)
        if lock is None:
            lock = request.app.state.budget_alert_lock = asyncio.Lock()
        async with lock:  # one replica: never twice; several: rarely (audit is append-only)
            await _alerts(store, tenant, month, start, reached, spent, budget)
    if spent >= budget:
        metrics.BUDGET_REFUSED.labels(tenant).inc()
        raise Problem(
            402,
            "Budget exhausted",
            f"tenant `{tenant}` has spent ${spent:.4f} of its monthly budget of "
            f"${budget:.2f} for {month} (UTC); new executions are refused until the month "
            "ends or an admin raises the budget",
            kind="budget-exhausted",
            budget_usd=budget,
            spent_usd=round(spent, 9),
            month=month,
        )


async def _alerts(
    store: Any,
    tenant: str,
    month: str,
    start: datetime,
    reached: list[int],
    spent: float,
    budget: float,
) -> None:
    done = {
        e.detail.get("threshold_pct")
        for e in await store.audit_entries(tenant, action=ALERT_ACTION, since=start)
        if e.detail.get("month") == month
    }
    for threshold in reached:
        if threshold in done:
            continue
        metrics.BUDGET_ALERTS.labels(tenant, str(threshold)).inc()
        await store.audit(
            tenant,
            "bizos",
            ALERT_ACTION,
            f"tenant/{tenant}",
            {
                "month": month,
                "threshold_pct": threshold,
                "spent_usd": round(spent, 9),
                "budget_usd": budget,
            },
        )
