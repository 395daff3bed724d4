"""The tenant's recurring runs (Temporal schedules): list, create, pause, unpause, trigger,
delete. Schedules made over the API are named `<tenant>.<id>` and start runs for that tenant
only; another tenant's schedule is 404. The console calls the same inner functions
(`tenant_schedules`, `create_tenant_schedule`, …) with its signed-in user as `who`."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.auth import Operator, Viewer
from api.problems import Problem
from starters.schedules import (
    SCHEDULE_MEMO_KEY,
    ScheduleError,
    ScheduleRow,
    create_schedule,
    delete_schedule,
    describe_row,
    describe_schedule,
    manual_request,
)
from workflows import search_attributes as sa
from workflows.models import RunInput
from workflows.registry import default_registry

router = APIRouter(tags=["schedules"])
SCHEDULE_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_SHORT_ID = re.compile(SCHEDULE_ID_PATTERN)
_DESCRIBE_AT_ONCE = 8


class CreateSchedule(BaseModel):
    """Body of `POST /schedules`."""

    model_config = ConfigDict(extra="forbid")

    schedule_id: str = Field(pattern=SCHEDULE_ID_PATTERN)
    template: str
    cron: list[str] = Field(min_length=1, max_length=10)
    params: dict[str, Any] = Field(default_factory=dict)
    paused: bool = False
    note: str = Field(default="", max_length=500)


class PauseSchedule(BaseModel):
    """Optional body of `POST /schedules/{id}/pause` and `/unpause`."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=500)


def _rpc(request: Request) -> timedelta:
    settings = getattr(request.app.state, "settings", None)
    return timedelta(seconds=getattr(settings, "rpc_timeout_s", 10.0))


def short_id(who: Any, full_id: str) -> str:
    """`acme.weekly-note` → `weekly-note` (what the tenant calls it)."""
    prefix = f"{who.tenant}."
    return full_id[len(prefix) :] if full_id.startswith(prefix) else full_id


def _not_found(schedule_id: str) -> Problem:
    return Problem(404, "Not found", f"no schedule `{schedule_id}`")


# ---------------------------------------------------------------- inner functions


async def tenant_schedules(request: Request, who: Any) -> list[ScheduleRow]:
    """The tenant's schedules, by id. Visibility finds the candidates (by the schedule's
    `BizosTenant` search attribute; it lags a moment behind creates and deletes); each is
    then described (strongly consistent) and kept only if its runs are the tenant's."""
    client: Client = request.app.state.temporal
    ids: list[str] = []
    # tenant ids match store.records.TENANT_ID_PATTERN: nothing reaches the query raw
    query = f"{sa.TENANT.name} = '{who.tenant}'"
    async for entry in await client.list_schedules(query, rpc_timeout=_rpc(request)):
        marker = (await entry.memo()).get(SCHEDULE_MEMO_KEY)
        if isinstance(marker, dict):
            ids.append(entry.id)
    gate = asyncio.Semaphore(_DESCRIBE_AT_ONCE)

    async def one(schedule_id: str) -> ScheduleRow | None:
        async with gate:
            desc = await describe_schedule(client, schedule_id)
            if desc is None:  # deleted since the list was built
                return None
            marker = (await desc.memo()).get(SCHEDULE_MEMO_KEY) or {}
            origin = str(marker.get("origin")) if isinstance(marker, dict) else "other"
            return await describe_row(client, desc, origin)

    rows = await asyncio.gather(*(one(i) for i in ids))
    return sorted(
        (r for r in rows if r is not None and r.tenant == who.tenant),
        key=lambda r: r.schedule_id,
    )


async def tenant_schedule(request: Request, who: Any, schedule_id: str) -> ScheduleRow:
    """One schedule of the tenant by its short id; 404 when absent or another tenant's."""
    if not _SHORT_ID.match(schedule_id):
        raise _not_found(schedule_id)
    client: Client = request.app.state.temporal
    desc = await describe_schedule(client, f"{who.tenant}.{schedule_id}")
    if desc is None:
        raise _not_found(schedule_id)
    marker = (await desc.memo()).get(SCHEDULE_MEMO_KEY) or {}
    origin = str(marker.get("origin")) if isinstance(marker, dict) else "other"
    row = await describe_row(client, desc, origin)
    if row.tenant != who.tenant:
        raise _not_found(schedule_id)
    return row


async def create_tenant_schedule(request: Request, who: Any, body: CreateSchedule) -> ScheduleRow:
    """404 unknown template, 409 the id exists, 422 a bad cron or params."""
    try:
        dag = default_registry().by_name(body.template)
    except KeyError as e:
        raise Problem(404, "Not found", str(e).strip("'\"")) from None
    schedule_id = f"{who.tenant}.{body.schedule_id}"
    client: Client = request.app.state.temporal
    if await describe_schedule(client, schedule_id) is not None:
        raise Problem(409, "Conflict", f"schedule `{body.schedule_id}` exists", kind="conflict")
    try:
        req = manual_request(
            dag,
            schedule_id,
            body.cron,
            RunInput(params=body.params, tenant=who.tenant),
            paused=body.paused,
            note=body.note,
        )
        await create_schedule(client, dag, req)
    except ScheduleError as e:
        raise Problem(422, "Invalid request", str(e), kind="invalid-schedule") from None
    await request.app.state.store.audit(who.tenant, who.name, "schedule.create", schedule_id)
    return await tenant_schedule(request, who, body.schedule_id)


async def delete_tenant_schedule(request: Request, who: Any, schedule_id: str) -> None:
    row = await tenant_schedule(request, who, schedule_id)
    try:
        await delete_schedule(request.app.state.temporal, row.schedule_id)
    except ScheduleError as e:
        raise Problem(409, "Conflict", str(e), kind="conflict") from None
    await request.app.state.store.audit(who.tenant, who.name, "schedule.delete", row.schedule_id)


async def pause_tenant_schedule(
    request: Request, who: Any, schedule_id: str, *, paused: bool, note: str = ""
) -> ScheduleRow:
    """Pause (or unpause) one schedule; the note says who did it unless one is given."""
    row = await tenant_schedule(request, who, schedule_id)
    handle = request.app.state.temporal.get_schedule_handle(row.schedule_id)
    verb = "paused" if paused else "unpaused"
    text = note or f"{verb} by {who.name}"
    try:
        if paused:
            await handle.pause(note=text, rpc_timeout=_rpc(request))
        else:
            await handle.unpause(note=text, rpc_timeout=_rpc(request))
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            raise _not_found(schedule_id) from None
        raise
    await request.app.state.store.audit(
        who.tenant,
        who.name,
        f"schedule.{'pause' if paused else 'unpause'}",
        row.schedule_id,
        {"note": text},
    )
    return await tenant_schedule(request, who, schedule_id)


async def trigger_tenant_schedule(request: Request, who: Any, schedule_id: str) -> ScheduleRow:
    """Start the schedule's action now. The schedule's overlap policy applies (by default
    `skip`: while an earlier run is still going, the trigger starts nothing)."""
    row = await tenant_schedule(request, who, schedule_id)
    handle = request.app.state.temporal.get_schedule_handle(row.schedule_id)
    try:
        await handle.trigger(rpc_timeout=_rpc(request))
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            raise _not_found(schedule_id) from None
        raise
    await request.app.state.store.audit(who.tenant, who.name, "schedule.trigger", row.schedule_id)
    return row


# ---------------------------------------------------------------- routes


@router.get("/schedules")
async def schedules(request: Request, who: Viewer) -> list[dict[str, Any]]:
    return [r.model_dump(mode="json") for r in await tenant_schedules(request, who)]


@router.post("/schedules", status_code=201)
async def create(body: CreateSchedule, request: Request, who: Operator) -> dict[str, Any]:
    return (await create_tenant_schedule(request, who, body)).model_dump(mode="json")


@router.post("/schedules/{schedule_id}/pause")
async def pause(
    schedule_id: str, request: Request, who: Operator, body: PauseSchedule | None = None
) -> dict[str, Any]:
    note = body.note if body else ""
    row = await pause_tenant_schedule(request, who, schedule_id, paused=True, note=note)
    return row.model_dump(mode="json")


@router.post("/schedules/{schedule_id}/unpause")
async def unpause(
    schedule_id: str, request: Request, who: Operator, body: PauseSchedule | None = None
) -> dict[str, Any]:
    note = body.note if body else ""
    row = await pause_tenant_schedule(request, who, schedule_id, paused=False, note=note)
    return row.model_dump(mode="json")


@router.post("/schedules/{schedule_id}/trigger", status_code=202)
async def trigger(schedule_id: str, request: Request, who: Operator) -> dict[str, Any]:
    """202: the run starts asynchronously (its id is `<workflow id prefix>-<time>`)."""
    row = await trigger_tenant_schedule(request, who, schedule_id)
    return {"schedule_id": row.schedule_id, "status": "trigger requested"}


@router.delete("/schedules/{schedule_id}", status_code=204)
async def delete(schedule_id: str, request: Request, who: Operator) -> None:
    await delete_tenant_schedule(request, who, schedule_id)
