"""Per-tenant agent configuration versions over the catalog: create (validated), history
(who, when), diff, activate (rollback). New runs use the active version; running runs keep the
one they pinned when they started."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from activities.catalog import default_catalog
from activities.catalog.agent_config import AgentConfig
from api.auth import Operator, Viewer
from api.problems import Problem
from api.routes.agents import resolve_agent

router = APIRouter(tags=["agents"])


class Configure(BaseModel):
    """Body of `POST /agents/{agent_id}/configure`."""

    model_config = ConfigDict(extra="forbid")

    config: dict[str, Any] = Field(
        description="an AgentConfig: persona, task templates, tools_off, providers, "
        "temperature, max_tokens, max_iter, targets, per-mode overrides"
    )
    note: str = Field(default="", max_length=500)
    activate: bool = True


def _validated(agent_id: str, body: dict[str, Any]) -> AgentConfig:
    try:
        config = AgentConfig.model_validate(body)
        config.check_against(default_catalog().get(agent_id))
    except ValidationError as e:
        errors = [
            {"field": "config." + ".".join(str(p) for p in err["loc"]), "problem": err["msg"]}
            for err in e.errors()
        ]
        raise Problem(
            422,
            "Invalid request",
            "; ".join(f"{x['field']}: {x['problem']}" for x in errors),
            kind="invalid-config",
            errors=errors,
        ) from None
    except ValueError as e:
        raise Problem(422, "Invalid request", str(e), kind="invalid-config") from None
    return config


async def create_config(
    request: Request,
    who: Any,
    agent: str,
    body: dict[str, Any],
    *,
    note: str = "",
    activate: bool = True,
) -> int:
    """Validate `body` against the agent and store it as the tenant's next version (audited
    as `who`); a Problem (422, `errors` naming the fields) when it is invalid."""
    config = _validated(agent, body)
    store = request.app.state.store
    version: int = await store.create_config_version(
        agent,
        config.model_dump(exclude_defaults=True),
        note=note,
        activate=activate,
        tenant=who.tenant,
    )
    await store.audit(who.tenant, who.name, "config.create", f"{agent}@{version}", {"note": note})
    return version


async def config_history(request: Request, who: Any, agent: str) -> dict[str, Any]:
    """The tenant's versions of the agent (oldest first) with who made each and when, and
    the active one."""
    store = request.app.state.store
    versions = await store.config_versions(agent, tenant=who.tenant)
    made = {
        e.target: e
        for e in await store.audit_entries(who.tenant, action="config.create", limit=1000)
        if e.target.startswith(f"{agent}@")
    }
    history = []
    for v in versions:
        entry = made.get(f"{agent}@{v.version}")
        history.append(
            {
                "version": v.version,
                "active": v.active,
                "note": v.note,
                "config": v.body,
                "by": entry.actor if entry else None,
                "at": entry.at if entry else None,
            }
        )
    return {
        "agent": agent,
        "active": await store.active_config_version(agent, tenant=who.tenant),
        "versions": history,
    }


async def activate_config(request: Request, who: Any, agent: str, version: int) -> None:
    """Make `version` the tenant's active one for new runs (a rollback); 404 if unknown."""
    store = request.app.state.store
    try:
        await store.activate_config_version(agent, version, tenant=who.tenant)
    except LookupError:
        raise Problem(404, "Not found", f"agent {agent} has no version {version}") from None
    await store.audit(who.tenant, who.name, "config.activate", f"{agent}@{version}")


@router.post("/agents/{agent_id}/configure", status_code=201)
async def configure(
    agent_id: str, body: Configure, request: Request, who: Operator
) -> dict[str, Any]:
    agent = resolve_agent(agent_id)
    version = await create_config(
        request, who, agent, body.config, note=body.note, activate=body.activate
    )
    return {"agent": agent, "version": version, "active": body.activate}


@router.get("/agents/{agent_id}/configurations")
async def configurations(agent_id: str, request: Request, who: Viewer) -> dict[str, Any]:
    return await config_history(request, who, resolve_agent(agent_id))


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


@router.get("/agents/{agent_id}/configurations/diff")
async def diff(
    agent_id: str,
    request: Request,
    who: Viewer,
    from_: int = Query(..., alias="from", ge=0, description="0 = catalog defaults"),
    to: int = Query(..., ge=0),
) -> dict[str, Any]:
    agent = resolve_agent(agent_id)
    store = request.app.state.store

    async def body(version: int) -> dict[str, Any]:
        if version == 0:
            return {}
        try:
            return dict((await store.config_version(agent, version, tenant=who.tenant)).body)
        except LookupError:
            raise Problem(404, "Not found", f"agent {agent} has no version {version}") from None

    left, right = _flatten(await body(from_)), _flatten(await body(to))
    changes = [
        {"path": path, "from": left.get(path), "to": right.get(path)}
        for path in sorted(set(left) | set(right))
        if left.get(path) != right.get(path)
    ]
    return {"agent": agent, "from": from_, "to": to, "changes": changes}


@router.post("/agents/{agent_id}/configurations/{version}/activate")
async def activate(agent_id: str, version: int, request: Request, who: Operator) -> dict[str, Any]:
    agent = resolve_agent(agent_id)
    await activate_config(request, who, agent, version)
    return {"agent": agent, "active": version}
