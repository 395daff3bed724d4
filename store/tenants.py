"""Tenants: the customers of the service, each with optional limits (monthly budget, most
runs at once). Tenant ``default`` exists from revision 0005 (the CLI's and every run's
tenant before there were tenants)."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from store.engine import write_transaction
from store.records import TENANT_ID_PATTERN, TenantInfo
from store.tables import NANOS_PER_USD, Tenant, as_utc, utcnow

_TENANTS = Tenant.__table__  # type: ignore[attr-defined]
_TENANT_ID = re.compile(TENANT_ID_PATTERN)


class TenantExists(ValueError):
    """A tenant with this id exists already."""


class TenantNotFound(LookupError):
    """No tenant has this id."""


def check_tenant_id(tenant: str) -> str:
    if not _TENANT_ID.match(tenant):
        raise ValueError(
            f"invalid tenant id {tenant!r}: lowercase letters, digits, '_' and '-', "
            "starting with a letter or digit, at most 63 characters"
        )
    return tenant


def _info(row: object) -> TenantInfo:
    budget = row.monthly_budget_nanos  # type: ignore[attr-defined]
    return TenantInfo(
        id=row.id,  # type: ignore[attr-defined]
        name=row.name,  # type: ignore[attr-defined]
        monthly_budget_usd=None if budget is None else budget / NANOS_PER_USD,
        max_running=row.max_running,  # type: ignore[attr-defined]
        created_at=as_utc(row.created_at),  # type: ignore[attr-defined]
    )


async def create_tenant(
    engine: AsyncEngine,
    tenant_id: str,
    *,
    name: str | None = None,
    monthly_budget_usd: float | None = None,
    max_running: int | None = None,
) -> TenantInfo:
    check_tenant_id(tenant_id)
    if monthly_budget_usd is not None and monthly_budget_usd < 0:
        raise ValueError("the monthly budget must be 0 or more (USD)")
    if max_running is not None and max_running < 1:
        raise ValueError("max running must be at least 1")
    values = {
        "id": tenant_id,
        "name": name or tenant_id,
        "monthly_budget_nanos": None
        if monthly_budget_usd is None
        else round(monthly_budget_usd * NANOS_PER_USD),
        "max_running": max_running,
        "created_at": utcnow(),
    }
    try:
        async with write_transaction(engine) as conn:
            await conn.execute(_TENANTS.insert().values(**values))
    except IntegrityError:
        raise TenantExists(f"tenant {tenant_id!r} exists already") from None
    found = await get_tenant(engine, tenant_id)
    assert found is not None
    return found


async def get_tenant(engine: AsyncEngine, tenant_id: str) -> TenantInfo | None:
    async with engine.connect() as conn:
        row = (await conn.execute(select(_TENANTS).where(_TENANTS.c.id == tenant_id))).first()
    return None if row is None else _info(row)


async def require_tenant(engine: AsyncEngine, tenant_id: str) -> TenantInfo:
    found = await get_tenant(engine, tenant_id)
    if found is None:
        raise TenantNotFound(
            f"no tenant {tenant_id!r}; create it with `bizos tenants create {tenant_id}`"
        )
    return found


async def list_tenants(engine: AsyncEngine) -> list[TenantInfo]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(_TENANTS).order_by(_TENANTS.c.id))).all()
    return [_info(r) for r in rows]
