"""The decision log: who decided what, when, at which escalation level and revise round, on
what digest and through which path (api, link, cli, signal) — and the timeouts and
escalations between. Read from the store (runs write it as they go), per run or per
approver, newest first. Tenant-checked: another tenant's run is 404."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query, Request

from api.auth import Viewer
from api.problems import Problem
from api.routes.workflows import tenant_handle
from store.records import DecisionInfo as DecisionLogItem  # the log row, as stored

router = APIRouter(tags=["decisions"])


def _items(found: list[object]) -> list[DecisionLogItem]:
    return [DecisionLogItem.model_validate(d, from_attributes=True) for d in found]


@router.get("/executions/{execution_id}/decisions", response_model=list[DecisionLogItem])
async def run_decisions(
    execution_id: str,
    request: Request,
    who: Viewer,
    step: str | None = Query(None, max_length=64),
    limit: int = Query(100, ge=1, le=1000),
) -> list[DecisionLogItem]:
    """Every decision, timeout and escalation of one execution, newest first."""
    if not execution_id.startswith(f"{who.tenant}."):
        raise Problem(404, "Not found", f"no execution `{execution_id}`")
    found = await request.app.state.store.list_decisions(
        who.tenant, workflow_id=execution_id, step=step, limit=limit
    )
    if not found:
        await tenant_handle(request, who, execution_id)  # an unknown run is 404, not []
    return _items(found)


@router.get("/decisions", response_model=list[DecisionLogItem])
async def decisions(
    request: Request,
    who: Viewer,
    by: str | None = Query(None, max_length=200, description="a principal's decisions"),
    execution_id: str | None = Query(None, max_length=256),
    step: str | None = Query(None, max_length=64),
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> list[DecisionLogItem]:
    """The tenant's decision log, newest first: `by=<principal>` for one approver's."""
    found = await request.app.state.store.list_decisions(
        who.tenant,
        workflow_id=execution_id,
        by=by,
        step=step,
        since=since,
        until=until,
        limit=limit,
    )
    return _items(found)
