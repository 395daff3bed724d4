"""The tenant's recurring runs (Temporal schedules): list, create, delete. Schedules made over
the API are named `<tenant>.<id>` and start runs for that tenant only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Operator, Viewer
from api.problems import Problem
from starters.schedules import (
    ScheduleError,
    create_schedule,
    delete_schedule,
    describe_row,
    describe_schedule,
    list_schedules,
    manual_request,
)
from workflows.models import RunInput
from workflows.registry import default_registry

router = APIRouter(tags=["schedules"])


class CreateSchedule(BaseModel):
    """Body of `POST /schedules`."""

    model_config = ConfigDict(extra="forbid")

    schedule_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    template: str
    cron: list[str] = Field(min_length=1, max_length=10)
    params: dict[str, Any] = Field(default_factory=dict)
    paused: bool = False
    note: str = Field(default="", max_length=500)


@router.get("/schedules")
async def schedules(request: Request, who: Viewer) -> list[dict[str, Any]]:
    rows = await list_schedules(request.app.state.temporal)
    return [r.model_dump(mode="json") for r in rows if r.tenant == who.tenant]


@router.post("/schedules", status_code=201)
async def create(body: CreateSchedule, request: Request, who: Operator) -> dict[str, Any]:
    try:
        dag = default_registry().by_name(body.template)
    except KeyError as e:
        raise Problem(404, "Not found", str(e).strip("'\"")) from None
    schedule_id = f"{who.tenant}.{body.schedule_id}"
    client = request.app.state.temporal
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
    except ScheduleError as e:
        raise Problem(422, "Invalid request", str(e), kind="invalid-schedule") from None
    await create_schedule(client, dag, req)
    await request.app.state.store.audit(who.tenant, who.name, "schedule.create", schedule_id)
    desc = await describe_schedule(client, schedule_id)
    assert desc is not None
    return (await describe_row(client, desc, "cli")).model_dump(mode="json")


@router.delete("/schedules/{schedule_id}", status_code=204)
async def delete(schedule_id: str, request: Request, who: Operator) -> None:
    full = f"{who.tenant}.{schedule_id}"
    client = request.app.state.temporal
    desc = await describe_schedule(client, full)
    if desc is None:
        raise Problem(404, "Not found", f"no schedule `{schedule_id}`")
    row = await describe_row(client, desc, "cli")
    if row.tenant != who.tenant:
        raise Problem(404, "Not found", f"no schedule `{schedule_id}`")
    try:
        await delete_schedule(client, full)
    except ScheduleError as e:
        raise Problem(409, "Conflict", str(e), kind="conflict") from None
    await request.app.state.store.audit(who.tenant, who.name, "schedule.delete", full)
