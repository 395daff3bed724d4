"""The audit log: who (principal name) did what (``key.create``, ``key.revoke``,
``config.create``, ``config.activate``, ``execution.start``, ``execution.cancel``,
``execution.resume``, ``decision``, …) to which resource of a tenant. Append-only.
``detail`` is JSON the caller makes: never a key, secret or personal data."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from store.engine import write_transaction
from store.records import AuditEntry
from store.tables import AuditRecord, as_utc, utcnow

_AUDIT = AuditRecord.__table__  # type: ignore[attr-defined]


async def audit(
    engine: AsyncEngine,
    tenant: str,
    actor: str,
    action: str,
    target: str,
    detail: dict[str, Any] | None = None,
) -> None:
    async with write_transaction(engine) as conn:
        await conn.execute(
            _AUDIT.insert().values(
                tenant=tenant,
                actor=actor[:128],
                action=action[:64],
                target=target[:512],
                detail=json.dumps(detail or {}, sort_keys=True, default=str),
                at=utcnow(),
            )
        )


async def list_audit(
    engine: AsyncEngine,
    tenant: str,
    *,
    action: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """A tenant's entries, newest first."""
    query = select(_AUDIT).where(_AUDIT.c.tenant == tenant)
    if action is not None:
        query = query.where(_AUDIT.c.action == action)
    if since is not None:
        query = query.where(_AUDIT.c.at >= as_utc(since))
    query = query.order_by(_AUDIT.c.at.desc(), _AUDIT.c.id.desc()).limit(limit)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        AuditEntry(
            id=r.id,
            tenant=r.tenant,
            actor=r.actor,
            action=r.action,
            target=r.target,
            detail=json.loads(r.detail),
            at=as_utc(r.at),
        )
        for r in rows
    ]
