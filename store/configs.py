"""Agent configuration versions: immutable bodies numbered per (tenant, agent), one active
version per (tenant, agent) for new runs, and per-run pins so a run keeps the version it
started with. Every function works on tenant ``default`` unless told otherwise; a run's
pins read its own tenant's configurations (`tenant_of_workflow`)."""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from store.engine import write_transaction
from store.records import TENANT_ID_PATTERN, ConfigVersionInfo
from store.tables import AgentConfigActive, AgentConfigVersion, RunConfigPin, utcnow
from store.upsert import insert_ignore

_VERSIONS = AgentConfigVersion.__table__  # type: ignore[attr-defined]
_ACTIVE = AgentConfigActive.__table__  # type: ignore[attr-defined]
_PINS = RunConfigPin.__table__  # type: ignore[attr-defined]
_CREATE_ATTEMPTS = 5
DEFAULT_TENANT = "default"
_TENANT_ID = re.compile(TENANT_ID_PATTERN)


class ConfigVersionNotFound(LookupError):
    """The requested configuration version does not exist."""


def tenant_of_workflow(workflow_id: str) -> str:
    """The tenant of a run from its workflow id ``<tenant>.<template>.<key>`` (child runs
    append ``.<step>…``); ``default`` for ids of another shape (tests, hand-made ids)."""
    parts = workflow_id.split(".")
    if len(parts) >= 3 and _TENANT_ID.match(parts[0]):
        return parts[0]
    return DEFAULT_TENANT


async def create_version(
    engine: AsyncEngine,
    agent_id: str,
    body: dict[str, Any],
    *,
    note: str = "",
    activate: bool = True,
    request_key: str | None = None,
    tenant: str = DEFAULT_TENANT,
) -> int:
    """Store a new version (next number for the tenant's agent) and optionally make it
    active.

    With ``request_key`` the call is idempotent (per tenant): repeating it returns the
    version the first call created. Concurrent creators race on the (tenant, agent,
    version) key; the loser retries.
    """
    encoded = json.dumps(body, sort_keys=True)
    for _ in range(_CREATE_ATTEMPTS):
        if request_key is not None:
            existing = await _version_for_request(engine, tenant, request_key)
            if existing is not None:
                return existing
        try:
            async with write_transaction(engine, reads_first=True) as conn:
                latest = (
                    await conn.execute(
                        select(func.max(_VERSIONS.c.version)).where(
                            _VERSIONS.c.tenant == tenant, _VERSIONS.c.agent_id == agent_id
                        )
                    )
                ).scalar()
                version = int(latest or 0) + 1
                await conn.execute(
                    _VERSIONS.insert().values(
                        tenant=tenant,
                        agent_id=agent_id,
                        version=version,
                        body=encoded,
                        note=note,
                        request_key=request_key,
                        created_at=utcnow(),
                    )
                )
                if activate:
                    await _set_active(conn, tenant, agent_id, version)
            return version
        except IntegrityError:
            continue
    raise RuntimeError(f"could not allocate a configuration version for agent {agent_id!r}")


async def _version_for_request(engine: AsyncEngine, tenant: str, request_key: str) -> int | None:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                select(_VERSIONS.c.version).where(
                    _VERSIONS.c.tenant == tenant, _VERSIONS.c.request_key == request_key
                )
            )
        ).scalar()


async def _set_active(conn: Any, tenant: str, agent_id: str, version: int) -> None:
    if not await insert_ignore(
        conn,
        _ACTIVE,
        {"tenant": tenant, "agent_id": agent_id, "version": version, "updated_at": utcnow()},
    ):
        await conn.execute(
            update(_ACTIVE)
            .where(_ACTIVE.c.tenant == tenant, _ACTIVE.c.agent_id == agent_id)
            .values(version=version, updated_at=utcnow())
        )


async def _active(conn: Any, tenant: str, agent_id: str) -> int | None:
    return (
        await conn.execute(
            select(_ACTIVE.c.version).where(
                _ACTIVE.c.tenant == tenant, _ACTIVE.c.agent_id == agent_id
            )
        )
    ).scalar()


async def activate_version(
    engine: AsyncEngine, agent_id: str, version: int, *, tenant: str = DEFAULT_TENANT
) -> None:
    await get_version(engine, agent_id, version, tenant=tenant)  # refuse unknown versions
    async with write_transaction(engine) as conn:
        await _set_active(conn, tenant, agent_id, version)


async def active_version(
    engine: AsyncEngine, agent_id: str, *, tenant: str = DEFAULT_TENANT
) -> int | None:
    async with engine.connect() as conn:
        return await _active(conn, tenant, agent_id)


async def get_version(
    engine: AsyncEngine, agent_id: str, version: int, *, tenant: str = DEFAULT_TENANT
) -> ConfigVersionInfo:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(_VERSIONS.c.body, _VERSIONS.c.note).where(
                    _VERSIONS.c.tenant == tenant,
                    _VERSIONS.c.agent_id == agent_id,
                    _VERSIONS.c.version == version,
                )
            )
        ).first()
        active = await _active(conn, tenant, agent_id)
    if row is None:
        where = "" if tenant == DEFAULT_TENANT else f" in tenant {tenant!r}"
        raise ConfigVersionNotFound(
            f"agent {agent_id!r} has no configuration version {version}{where}; "
            "list versions with `bizos agents show <id> --versions`"
        )
    return ConfigVersionInfo(
        agent_id=agent_id,
        version=version,
        body=json.loads(row[0]),
        note=row[1],
        active=active == version,
    )


async def list_versions(
    engine: AsyncEngine, agent_id: str, *, tenant: str = DEFAULT_TENANT
) -> list[ConfigVersionInfo]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(_VERSIONS.c.version, _VERSIONS.c.body, _VERSIONS.c.note)
                .where(_VERSIONS.c.tenant == tenant, _VERSIONS.c.agent_id == agent_id)
                .order_by(_VERSIONS.c.version)
            )
        ).all()
        active = await _active(conn, tenant, agent_id)
    return [
        ConfigVersionInfo(
            agent_id=agent_id, version=v, body=json.loads(b), note=n, active=v == active
        )
        for v, b, n in rows
    ]


async def pin_for_run(
    engine: AsyncEngine,
    workflow_id: str,
    run_id: str,
    agent_id: str,
    *,
    tenant: str | None = None,
) -> int:
    """The version this run uses for the agent: the active one of the run's tenant
    (``tenant``, else `tenant_of_workflow`) the first time it is asked, the same one ever
    after (0 = no stored version, catalog defaults)."""
    tenant = tenant or tenant_of_workflow(workflow_id)
    async with write_transaction(engine, reads_first=True) as conn:
        existing = (
            await conn.execute(
                select(_PINS.c.version).where(
                    _PINS.c.workflow_id == workflow_id,
                    _PINS.c.run_id == run_id,
                    _PINS.c.agent_id == agent_id,
                )
            )
        ).scalar()
        if existing is not None:
            return int(existing)
        active = await _active(conn, tenant, agent_id)
        await insert_ignore(
            conn,
            _PINS,
            {
                "workflow_id": workflow_id,
                "run_id": run_id,
                "agent_id": agent_id,
                "version": int(active or 0),
                "created_at": utcnow(),
            },
        )
        # Another step of the same run may have pinned concurrently: its pin stands.
        pinned = (
            await conn.execute(
                select(_PINS.c.version).where(
                    _PINS.c.workflow_id == workflow_id,
                    _PINS.c.run_id == run_id,
                    _PINS.c.agent_id == agent_id,
                )
            )
        ).scalar()
    return int(pinned if pinned is not None else 0)
