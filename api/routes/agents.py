"""Executing one agent in one mode (the `AgentStep` workflow): `POST /agents/{agent_id}/execute`
answers 202 with the execution id, or 200 with the result when `wait=true` and the run ends
within the bounded wait (else it falls back to 202). `{agent_id}` takes the catalog's ids and
the seed's (`market_research_001` …) as aliases."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import WorkflowExecution, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from activities.catalog import default_catalog, task_queue_for
from activities.contract import AgentStepResult
from api.admission import IdempotencyKey, check_budget, idempotent
from api.auth import Operator, Viewer
from api.idempotency import workflow_id_for
from api.problems import Problem
from api.routes.workflows import record_start
from starters.runs import existing_run
from workflows import search_attributes as sa
from workflows.catalog_slice import slice_catalog
from workflows.models import WORKFLOWS_TASK_QUEUE
from workflows.single_agent import AGENT_WORKFLOW_TYPE, AgentRunInput

router = APIRouter(tags=["agents"])
_SEED_ALIAS = re.compile(r"^([a-z][a-z0-9_]*?)_\d{3}$")


class ExecuteAgent(BaseModel):
    """Body of `POST /agents/{agent_id}/execute`."""

    model_config = ConfigDict(extra="forbid")

    mode: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    wait: bool = Field(default=False, description="hold the request (bounded) for the result")
    budget_usd: float | None = Field(default=None, gt=0)
    price_as: str | None = None


def resolve_agent(agent_id: str) -> str:
    """The catalog id for `agent_id` or its seed alias (`market_research_001`)."""
    catalog = default_catalog()
    if agent_id in catalog:
        return agent_id
    alias = _SEED_ALIAS.match(agent_id)
    if alias and alias.group(1) in catalog:
        return alias.group(1)
    raise Problem(404, "Not found", f"no agent `{agent_id}`; GET /v1/agents lists them")


@router.get("/agents")
async def list_agents(who: Viewer) -> list[dict[str, Any]]:
    return [
        {"id": a.id, "name": a.name, "category": a.category, "modes": list(a.modes)}
        for a in default_catalog()
        if a.category != "system"
    ]


@router.post("/agents/{agent_id}/execute", status_code=202)
async def execute_agent(
    agent_id: str,
    body: ExecuteAgent,
    request: Request,
    who: Operator,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """With an `Idempotency-Key` header: the first response again for 24 h (409 while the
    first is in flight, 422 for the same key with another body); the run's id derives from
    (tenant, agent, key), so a key never starts two runs. 402 once the tenant's monthly
    budget is spent."""
    return await idempotent(  # type: ignore[return-value]
        request, who, lambda key: _execute_agent(agent_id, body, request, who, key)
    )


async def _execute_agent(
    agent_id: str, body: ExecuteAgent, request: Request, who: Any, idem_key: str | None
) -> JSONResponse:
    agent = resolve_agent(agent_id)
    catalog = default_catalog()
    if body.mode not in catalog.get(agent).modes:
        raise Problem(
            422,
            "Invalid request",
            f"agent `{agent}` has no mode `{body.mode}` "
            f"(modes: {', '.join(catalog.get(agent).modes)})",
            kind="invalid-mode",
            errors=[{"field": "mode", "problem": "unknown mode"}],
        )
    run_input = AgentRunInput(
        agent=agent,
        mode=body.mode,
        inputs=body.inputs,
        tenant=who.tenant,
        budget_usd=body.budget_usd,
        price_as=body.price_as,
        catalog=slice_catalog(catalog, [agent]).agents[agent],
    )
    await check_budget(request, who.tenant)
    client = request.app.state.temporal
    if idem_key is None:
        wid = f"{who.tenant}.agent.{agent}.{uuid.uuid4().hex[:12]}"
    else:  # `<tenant>.agent.<agent>.idem-<digest>`: the same key is always the same run
        wid = workflow_id_for(who.tenant, f"agent.{agent}", idem_key)
    try:
        handle = await _start_agent(request, who, agent, body, run_input, wid)
    except WorkflowAlreadyStartedError:  # keyed and already started: that execution
        handle = await existing_run(client, wid, result_type=AgentStepResult)
    await record_start(request, who, handle.id, handle.result_run_id, "agent", agent)
    accepted = {
        "execution_id": handle.id,
        "run_id": handle.result_run_id,
        "agent": agent,
        "mode": body.mode,
        "status_url": f"/v1/executions/{handle.id}",
    }
    if body.wait:
        try:
            result = await asyncio.wait_for(
                handle.result(), request.app.state.settings.wait_timeout_s
            )
        except TimeoutError:
            pass  # still running: the caller follows the status URL
        else:
            return JSONResponse(
                {**accepted, "result": result.model_dump(mode="json")}, status_code=200
            )
    return JSONResponse(accepted, status_code=202)


async def _start_agent(
    request: Request,
    who: Any,
    agent: str,
    body: ExecuteAgent,
    run_input: AgentRunInput,
    wid: str,
) -> WorkflowHandle[Any, AgentStepResult]:
    """Start the run; a keyed id (`.idem-`) that exists, running or closed, raises
    WorkflowAlreadyStartedError (the default conflict policy, and no reuse of a closed id)."""
    keyed = ".idem-" in wid
    client = request.app.state.temporal
    return await client.start_workflow(
        AGENT_WORKFLOW_TYPE,
        run_input,
        id=wid,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE
        if keyed
        else WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        task_queue=WORKFLOWS_TASK_QUEUE,
        result_type=AgentStepResult,
        static_summary=f"{agent}/{body.mode} for {who.tenant}",
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(sa.TEMPLATE, f"agent.{agent}"),
                SearchAttributePair(sa.TENANT, who.tenant),
            ]
        ),
        rpc_timeout=timedelta(seconds=request.app.state.settings.rpc_timeout_s),
    )


def _rpc_timeout(request: Request) -> timedelta:
    return timedelta(seconds=request.app.state.settings.rpc_timeout_s)


async def pollers_on(request: Request, category: str) -> int:
    """How many workers poll the category's activity task queue (one DescribeTaskQueue)."""
    client = request.app.state.temporal
    found = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue_for(category)),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        ),
        timeout=_rpc_timeout(request),
    )
    return len(found.pollers)


async def pool_pollers(
    request: Request, categories: Iterable[str], *, timeout_s: float = 3.0
) -> dict[str, int | None]:
    """Pollers per category, asked concurrently (one DescribeTaskQueue per category, not per
    agent) within `timeout_s`; None for a pool whose answer did not come in time."""

    async def one(category: str) -> tuple[str, int | None]:
        try:
            async with asyncio.timeout(timeout_s):
                return category, await pollers_on(request, category)
        except (TimeoutError, RPCError):
            return category, None

    return dict(await asyncio.gather(*(one(c) for c in dict.fromkeys(categories))))


def _run_row(wf: WorkflowExecution) -> dict[str, Any]:
    return {
        "execution_id": wf.id,
        "status": wf.status.name.lower() if wf.status else None,
        "started_at": wf.start_time,
    }


async def agent_runs(
    request: Request, who: Any, agent: str, limit: int = 50
) -> list[dict[str, Any]]:
    """The tenant's latest executions of the agent (Temporal visibility), newest first."""
    client = request.app.state.temporal
    query = f"{sa.TENANT.name} = '{who.tenant}' AND {sa.TEMPLATE.name} = 'agent.{agent}'"
    return [
        _run_row(wf)
        async for wf in client.list_workflows(query, limit=limit, rpc_timeout=_rpc_timeout(request))
    ]


async def runs_by_agent(
    request: Request, who: Any, *, per_agent: int = 50, limit: int = 1000
) -> dict[str, list[dict[str, Any]]]:
    """The tenant's latest single-agent executions of every agent in one visibility query,
    grouped by agent, newest first, at most `per_agent` each."""
    client = request.app.state.temporal
    query = f"{sa.TENANT.name} = '{who.tenant}' AND {sa.TEMPLATE.name} STARTS_WITH 'agent.'"
    grouped: dict[str, list[dict[str, Any]]] = {}
    async for wf in client.list_workflows(query, limit=limit, rpc_timeout=_rpc_timeout(request)):
        template = wf.typed_search_attributes.get(sa.TEMPLATE) or ""
        rows = grouped.setdefault(template.removeprefix("agent."), [])
        if len(rows) < per_agent:
            rows.append(_run_row(wf))
    return grouped


def error_rate(runs: list[dict[str, Any]]) -> float | None:
    """Failed (failed, timed out, terminated) among the closed runs; None without any."""
    closed = [r for r in runs if r["status"] not in ("running", None)]
    failed = [r for r in closed if r["status"] in ("failed", "timed_out", "terminated")]
    return round(len(failed) / len(closed), 4) if closed else None


@router.get("/agents/{agent_id}/status")
async def agent_status(agent_id: str, request: Request, who: Viewer) -> dict[str, Any]:
    """Modes, pool and whether it has pollers, the tenant's recent executions of the agent,
    their error rate and cost, the active configuration and its targets."""
    agent = resolve_agent(agent_id)
    spec = default_catalog().get(agent)
    queue = task_queue_for(spec.category)
    pollers = await pollers_on(request, spec.category)
    recent = await agent_runs(request, who, agent)
    store = request.app.state.store
    spent = [line for line in await store.costs_by(who.tenant, "agent") if line.key == agent]
    active = await store.active_config_version(agent, tenant=who.tenant)
    targets = None
    if active:
        targets = (await store.config_version(agent, active, tenant=who.tenant)).body.get("targets")
    return {
        "agent": agent,
        "name": spec.name,
        "category": spec.category,
        "modes": {m: s.description for m, s in spec.modes.items()},
        "pool": {"task_queue": queue, "pollers": pollers},
        "recent_executions": recent[:10],
        "error_rate": error_rate(recent),
        "cost_usd": round(spent[0].usd, 9) if spent else 0.0,
        "calls": spent[0].calls if spent else 0,
        "active_config_version": active,
        "targets": targets,
    }
