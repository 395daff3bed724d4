"""Webhook endpoints of a tenant and the deliveries of run events to them.

An endpoint's signing secret is stored as given, not hashed: the sender must have it to
sign each delivery (HMAC-SHA256 of the body). It is returned once, by `create_endpoint`,
and never listed or logged. A delivery is unique per (event id, endpoint): the event id
names the run and the event (e.g. ``<workflow_id>/<run_id>/completed``), so emitting the
same event twice queues it once.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from store.engine import write_transaction
from store.records import WebhookDeliveryInfo, WebhookEndpointInfo
from store.tables import WebhookDelivery, WebhookEndpoint, as_utc, utcnow
from store.tenants import require_tenant
from store.upsert import insert_ignore

_ENDPOINTS = WebhookEndpoint.__table__  # type: ignore[attr-defined]
_DELIVERIES = WebhookDelivery.__table__  # type: ignore[attr-defined]
DELIVERY_STATUSES = ("pending", "delivered", "failed")


class WebhookNotFound(LookupError):
    """No endpoint with this id in this tenant."""


def _endpoint(row: Any) -> WebhookEndpointInfo:
    return WebhookEndpointInfo(
        id=row.id,
        tenant=row.tenant,
        url=row.url,
        events=json.loads(row.events),
        created_at=as_utc(row.created_at),
        disabled_at=None if row.disabled_at is None else as_utc(row.disabled_at),
    )


def _delivery(row: Any) -> WebhookDeliveryInfo:
    return WebhookDeliveryInfo(
        id=row.id,
        event_id=row.event_id,
        endpoint_id=row.endpoint_id,
        tenant=row.tenant,
        event_type=row.event_type,
        payload=json.loads(row.payload),
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
        created_at=as_utc(row.created_at),
        delivered_at=None if row.delivered_at is None else as_utc(row.delivered_at),
    )


def _check_url(url: str) -> None:
    if not url.startswith(("https://", "http://")) or len(url) > 2048:
        raise ValueError(f"a webhook URL must be http(s) and at most 2048 characters: {url!r}")


async def create_endpoint(
    engine: AsyncEngine,
    tenant: str,
    url: str,
    events: list[str],
    *,
    secret: str | None = None,
) -> tuple[WebhookEndpointInfo, str]:
    """A new endpoint and its signing secret (generated unless given): show it once."""
    _check_url(url)
    await require_tenant(engine, tenant)
    endpoint_id = "wh_" + secrets.token_hex(8)
    secret = secret or secrets.token_urlsafe(32)
    async with write_transaction(engine) as conn:
        await conn.execute(
            _ENDPOINTS.insert().values(
                id=endpoint_id,
                tenant=tenant,
                url=url,
                secret=secret,
                events=json.dumps(sorted(set(events))),
                created_at=utcnow(),
            )
        )
    return await get_endpoint(engine, tenant, endpoint_id), secret


async def get_endpoint(engine: AsyncEngine, tenant: str, endpoint_id: str) -> WebhookEndpointInfo:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(_ENDPOINTS).where(
                    _ENDPOINTS.c.tenant == tenant, _ENDPOINTS.c.id == endpoint_id
                )
            )
        ).first()
    if row is None:
        raise WebhookNotFound(f"tenant {tenant!r} has no webhook endpoint {endpoint_id!r}")
    return _endpoint(row)


async def endpoint_secret(engine: AsyncEngine, tenant: str, endpoint_id: str) -> str:
    """The signing secret (for the sender only)."""
    async with engine.connect() as conn:
        secret = (
            await conn.execute(
                select(_ENDPOINTS.c.secret).where(
                    _ENDPOINTS.c.tenant == tenant, _ENDPOINTS.c.id == endpoint_id
                )
            )
        ).scalar()
    if secret is None:
        raise WebhookNotFound(f"tenant {tenant!r} has no webhook endpoint {endpoint_id!r}")
    return str(secret)


async def list_endpoints(
    engine: AsyncEngine, tenant: str, *, event: str | None = None, include_disabled: bool = False
) -> list[WebhookEndpointInfo]:
    """A tenant's endpoints; with ``event`` only those subscribed to it."""
    query = select(_ENDPOINTS).where(_ENDPOINTS.c.tenant == tenant)
    if not include_disabled:
        query = query.where(_ENDPOINTS.c.disabled_at.is_(None))
    async with engine.connect() as conn:
        rows = (await conn.execute(query.order_by(_ENDPOINTS.c.created_at))).all()
    found = [_endpoint(r) for r in rows]
    return [e for e in found if event is None or event in e.events]


async def update_endpoint(
    engine: AsyncEngine,
    tenant: str,
    endpoint_id: str,
    *,
    url: str | None = None,
    events: list[str] | None = None,
) -> WebhookEndpointInfo:
    values: dict[str, Any] = {}
    if url is not None:
        _check_url(url)
        values["url"] = url
    if events is not None:
        values["events"] = json.dumps(sorted(set(events)))
    if values:
        async with write_transaction(engine) as conn:
            await conn.execute(
                update(_ENDPOINTS)
                .where(_ENDPOINTS.c.tenant == tenant, _ENDPOINTS.c.id == endpoint_id)
                .values(**values)
            )
    return await get_endpoint(engine, tenant, endpoint_id)


async def disable_endpoint(
    engine: AsyncEngine, tenant: str, endpoint_id: str
) -> WebhookEndpointInfo:
    """Stop sending to an endpoint (kept for its delivery history)."""
    async with write_transaction(engine) as conn:
        await conn.execute(
            update(_ENDPOINTS)
            .where(
                _ENDPOINTS.c.tenant == tenant,
                _ENDPOINTS.c.id == endpoint_id,
                _ENDPOINTS.c.disabled_at.is_(None),
            )
            .values(disabled_at=utcnow())
        )
    return await get_endpoint(engine, tenant, endpoint_id)


async def enqueue_delivery(
    engine: AsyncEngine,
    *,
    event_id: str,
    endpoint_id: str,
    tenant: str,
    event_type: str,
    payload: dict[str, Any],
) -> bool:
    """Queue an event for an endpoint; False when it was queued before."""
    async with write_transaction(engine) as conn:
        return await insert_ignore(
            conn,
            _DELIVERIES,
            {
                "event_id": event_id,
                "endpoint_id": endpoint_id,
                "tenant": tenant,
                "event_type": event_type,
                "payload": json.dumps(payload, sort_keys=True, default=str),
                "status": "pending",
                "attempts": 0,
                "created_at": utcnow(),
            },
        )


async def record_delivery_attempt(
    engine: AsyncEngine,
    delivery_id: int,
    *,
    delivered: bool,
    error: str | None = None,
    give_up: bool = False,
    at: datetime | None = None,
) -> None:
    """Count an attempt: delivered, or its error (``give_up``: status failed)."""
    async with write_transaction(engine, reads_first=True) as conn:
        row = (
            await conn.execute(
                select(_DELIVERIES.c.attempts).where(_DELIVERIES.c.id == delivery_id)
            )
        ).first()
        if row is None:
            raise LookupError(f"no webhook delivery {delivery_id}")
        values: dict[str, Any] = {"attempts": row.attempts + 1}
        if delivered:
            values.update(status="delivered", delivered_at=as_utc(at) if at else utcnow())
        else:
            values.update(
                status="failed" if give_up else "pending", last_error=(error or "")[:4000]
            )
        await conn.execute(
            update(_DELIVERIES).where(_DELIVERIES.c.id == delivery_id).values(**values)
        )


async def list_deliveries(
    engine: AsyncEngine,
    *,
    tenant: str | None = None,
    status: str | None = None,
    endpoint_id: str | None = None,
    limit: int = 100,
) -> list[WebhookDeliveryInfo]:
    """Deliveries, oldest first (the sender's queue is ``status='pending'``)."""
    query = select(_DELIVERIES)
    if tenant is not None:
        query = query.where(_DELIVERIES.c.tenant == tenant)
    if status is not None:
        query = query.where(_DELIVERIES.c.status == status)
    if endpoint_id is not None:
        query = query.where(_DELIVERIES.c.endpoint_id == endpoint_id)
    query = query.order_by(_DELIVERIES.c.created_at, _DELIVERIES.c.id).limit(limit)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [_delivery(r) for r in rows]
