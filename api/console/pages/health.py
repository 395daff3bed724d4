"""Health: the worker pools and their pollers (the workflow pool and each agent category,
from Temporal's DescribeTaskQueue for workflow and activity tasks, asked concurrently, each
bounded), the service's readiness (the same probes as `/readyz`) and the tenant's error rate
per template over the last 7 days (from Temporal visibility: scheduled runs count too)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowExecutionStatus

from activities.catalog import CATEGORIES, task_queue_for
from api.console.render import page
from api.console.session import ConsoleUser, Viewer
from api.routes.health import readyz
from workflows import search_attributes as sa
from workflows.models import WORKFLOWS_TASK_QUEUE

router = APIRouter()
WORKFLOWS_POOL = "workflows"
DESCRIBE_TIMEOUT_S = 3.0
ERROR_WINDOW = timedelta(days=7)
ERROR_SCAN_LIMIT = 2000  # runs read from visibility for the error rate, newest first
# What went wrong by itself; a cancelled or terminated run was stopped by a person.
FAILED = frozenset({WorkflowExecutionStatus.FAILED, WorkflowExecutionStatus.TIMED_OUT})


@dataclass
class PoolHealth:
    pool: str
    task_queue: str
    workflow_pollers: int = 0
    activity_pollers: int = 0
    last_access: datetime | None = None
    identities: list[str] = field(default_factory=list)
    problem: str = ""

    @property
    def pollers(self) -> int:
        # the workflow pool polls workflow tasks; an agent pool, activity tasks
        return self.workflow_pollers if self.pool == WORKFLOWS_POOL else self.activity_pollers

    @property
    def status(self) -> str:
        if self.problem:
            return "unknown"
        return "healthy" if self.pollers > 0 else "down"


def pools() -> list[tuple[str, str]]:
    """(pool, task queue): the workflow pool, then every agent category."""
    return [(WORKFLOWS_POOL, WORKFLOWS_TASK_QUEUE)] + [(c, task_queue_for(c)) for c in CATEGORIES]


async def pool_health(client: Client) -> list[PoolHealth]:
    """Every pool's pollers; both task types of every queue are asked at once, each call
    bounded, so one slow answer costs at most DESCRIBE_TIMEOUT_S and marks only its pool."""
    found = [PoolHealth(pool, queue) for pool, queue in pools()]
    kinds = (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)

    async def describe(entry: PoolHealth, kind: Any) -> None:
        try:
            answer = await asyncio.wait_for(
                client.workflow_service.describe_task_queue(
                    DescribeTaskQueueRequest(
                        namespace=client.namespace,
                        task_queue=TaskQueue(name=entry.task_queue),
                        task_queue_type=kind,
                    ),
                    timeout=timedelta(seconds=DESCRIBE_TIMEOUT_S),
                ),
                DESCRIBE_TIMEOUT_S + 0.5,
            )
        except Exception as e:  # shown on the pool's row; the other pools still answer
            entry.problem = f"DescribeTaskQueue failed: {type(e).__name__}"
            return
        for poller in answer.pollers:
            if poller.identity and poller.identity not in entry.identities:
                entry.identities.append(poller.identity)
            if poller.HasField("last_access_time"):
                at = poller.last_access_time.ToDatetime(tzinfo=UTC)
                if entry.last_access is None or at > entry.last_access:
                    entry.last_access = at
        if kind == TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW:
            entry.workflow_pollers = len(answer.pollers)
        else:
            entry.activity_pollers = len(answer.pollers)

    await asyncio.gather(*(describe(entry, kind) for entry in found for kind in kinds))
    for entry in found:
        entry.identities.sort()
    return found


async def readiness(request: Request) -> dict[str, Any]:
    """What `/readyz` answers (status and each check), as a dict."""
    answer = await readyz(request)
    return dict(json.loads(bytes(answer.body)))


@dataclass
class ErrorRate:
    template: str
    total: int = 0
    running: int = 0
    failed: int = 0

    @property
    def finished(self) -> int:
        return self.total - self.running

    @property
    def rate(self) -> float | None:
        return self.failed / self.finished if self.finished else None


def _count(runs: Iterable[tuple[str, WorkflowExecutionStatus | None]]) -> list[ErrorRate]:
    rates: dict[str, ErrorRate] = {}
    for template, status in runs:
        rate = rates.setdefault(template, ErrorRate(template))
        rate.total += 1
        if status in (None, WorkflowExecutionStatus.RUNNING):
            rate.running += 1
        elif status in FAILED:
            rate.failed += 1
    return sorted(rates.values(), key=lambda r: (-(r.rate or 0.0), -r.total, r.template))


async def error_rates(request: Request, user: ConsoleUser) -> tuple[list[ErrorRate], bool]:
    """Failed (failed, timed out) / finished runs per template of the tenant
    started in the last 7 days, from Temporal visibility; True when the scan hit its
    limit (the figures then cover the newest runs only)."""
    client: Client = request.app.state.temporal
    since = (datetime.now(UTC) - ERROR_WINDOW).strftime("%Y-%m-%dT%H:%M:%SZ")
    # the tenant id matches store.records.TENANT_ID_PATTERN: nothing reaches the query raw
    query = f"{sa.TENANT.name} = '{user.tenant}' AND StartTime > '{since}'"
    runs: list[tuple[str, WorkflowExecutionStatus | None]] = []
    rpc = timedelta(seconds=request.app.state.settings.rpc_timeout_s)
    async for wf in client.list_workflows(query, limit=ERROR_SCAN_LIMIT, rpc_timeout=rpc):
        template = wf.typed_search_attributes.get(sa.TEMPLATE) or wf.workflow_type
        runs.append((template, wf.status))
    return _count(runs), len(runs) >= ERROR_SCAN_LIMIT


async def error_summary(request: Request, user: ConsoleUser) -> dict[str, Any]:
    """`error_rates` for a page: a Temporal outage shows as a message, not a broken page."""
    try:
        rates, capped = await asyncio.wait_for(error_rates(request, user), 10.0)
    except Exception as e:  # the rest of the page still renders
        return {
            "rates": [],
            "capped": False,
            "problem": f"unavailable: {type(e).__name__}",
            "window_days": ERROR_WINDOW.days,
        }
    return {"rates": rates, "capped": capped, "problem": "", "window_days": ERROR_WINDOW.days}


@router.get("/health")
async def health_page(request: Request, user: Viewer) -> HTMLResponse:
    client: Client = request.app.state.temporal
    found, ready, errors = await asyncio.gather(
        pool_health(client), readiness(request), error_summary(request, user)
    )
    return await page(
        request,
        user,
        "health/index.html",
        {"pools": found, "ready": ready, "errors": errors},
        section="health",
    )
