"""Executing templates: `POST /workflows/{template}/execute` starts a run for the caller's
tenant; `GET /workflows/{execution_id}/status` follows it. Another tenant's run is 404."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from api.admission import IdempotencyKey, check_budget, idempotent
from api.auth import Operator, Viewer
from api.idempotency import workflow_id_for
from api.problems import Problem
from starters.runs import check_price_as, start_run
from workflows.admission import ensure_admission
from workflows.compiler import params_error_lines
from workflows.models import Progress, RunInput
from workflows.registry import default_registry

router = APIRouter(tags=["workflows"])


class ExecuteWorkflow(BaseModel):
    """Body of `POST /workflows/{template}/execute`."""

    model_config = ConfigDict(extra="forbid")

    params: dict[str, Any] = Field(default_factory=dict)
    budget_usd: float | None = Field(default=None, gt=0)
    price_as: str | None = None


class Execution(BaseModel):
    execution_id: str
    run_id: str | None = None
    template: str
    status_url: str


def _timeout(request: Request) -> timedelta:
    return timedelta(seconds=request.app.state.settings.rpc_timeout_s)


@router.post(
    "/workflows/{template}/execute",
    status_code=202,
    response_model=Execution,
)
async def execute_workflow(
    template: str,
    body: ExecuteWorkflow,
    request: Request,
    who: Operator,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """With an `Idempotency-Key` header: the first response again for 24 h (409 while the
    first is in flight, 422 for the same key with another body); the run's id derives from
    (tenant, template, key), so a key never starts two runs. 402 once the tenant's monthly
    budget is spent."""
    return await idempotent(
        request, who, lambda key: _execute_workflow(template, body, request, who, key)
    )


async def _execute_workflow(
    template: str, body: ExecuteWorkflow, request: Request, who: Any, idem_key: str | None
) -> Response:
    accepted = await start_template(
        request, who, template, body.params, body.budget_usd, body.price_as, idem_key
    )
    return JSONResponse(accepted.model_dump(mode="json"), status_code=202)


async def start_template(
    request: Request,
    who: Any,
    template: str,
    params: dict[str, Any],
    budget_usd: float | None = None,
    price_as: str | None = None,
    idem_key: str | None = None,
) -> Execution:
    """Start `template` for `who`'s tenant (the API's and the console's one way): 404 for an
    unknown template, 422 for invalid params or `price_as`, 402 once the tenant's monthly
    budget is spent; the run is indexed and audited. With `idem_key` the run's id derives
    from (tenant, template, key), so a key never starts two runs."""
    try:
        dag = default_registry().by_name(template)
    except KeyError as e:
        raise Problem(404, "Not found", str(e).strip("'\"")) from None
    try:
        dag.params_model.model_validate(params)
    except ValidationError as e:
        raise Problem(
            422, "Invalid request", "; ".join(params_error_lines(e)), kind="invalid-params"
        ) from None
    try:
        check_price_as(price_as)
    except ValueError as e:
        raise Problem(422, "Invalid request", str(e), kind="invalid-price-as") from None
    store = request.app.state.store
    # Independent reads at once, the tenant's record read once for the budget and the cap:
    # under load each store call waits for a pooled connection, so a start's latency is
    # the longest of these rather than their sum (bench/suite_load.py).
    webhooks, groups, tenant = await asyncio.gather(
        store.list_webhooks(who.tenant),
        store.list_approver_groups(who.tenant),
        store.get_tenant(who.tenant),
    )
    run_input = RunInput(
        params=params,
        tenant=who.tenant,
        budget_usd=budget_usd,
        price_as=price_as,
        # runs of tenants without webhooks or approver groups (Slack/email notifications)
        # emit no events and pay nothing for them
        notify=bool(webhooks) or bool(groups),
    )
    await check_budget(request, who.tenant, info=tenant)
    if tenant is not None and tenant.max_running:
        # Over the tenant's running cap the run starts at once and waits, durably, for a
        # slot from the tenant's admission workflow (nothing queued lives in this process).
        run_input.admission = await ensure_admission(
            request.app.state.temporal, who.tenant, tenant.max_running
        )
    if idem_key is None:
        key = uuid.uuid4().hex[:12]
    else:  # `<tenant>.<template>.idem-<digest>`: the same key is always the same run
        key = workflow_id_for(who.tenant, dag.name, idem_key).removeprefix(
            f"{who.tenant}.{dag.name}."
        )
    handle = await start_run(
        request.app.state.temporal,
        dag,
        run_input,
        key=key,
        once=idem_key is not None,
        rpc_timeout=_timeout(request),
    )
    await record_start(request, who, handle.id, handle.result_run_id, "template", dag.name)
    return Execution(
        execution_id=handle.id,
        run_id=handle.result_run_id,
        template=dag.name,
        status_url=f"/v1/workflows/{handle.id}/status",
    )


@router.get("/workflows/{template}/execute", include_in_schema=False)
async def execute_with_get(template: str) -> None:
    raise Problem(
        405,
        "Method not allowed",
        f"execute a template with POST /v1/workflows/{template}/execute "
        '({"params": {...}}), not GET',
        headers={"Allow": "POST"},
    )


async def record_start(
    request: Request, who: Any, execution_id: str, run_id: str | None, kind: str, name: str
) -> None:
    """The execution in the tenant's index and audit log (who started what, when)."""
    store = request.app.state.store
    # two independent writes (index row, audit row): at once, not one after the other
    await asyncio.gather(
        store.record_execution(
            workflow_id=execution_id, run_id=run_id or "", tenant=who.tenant, kind=kind, name=name
        ),
        store.audit(who.tenant, who.name, "execution.start", execution_id, {kind: name}),
    )


async def tenant_handle(request: Request, who: Any, execution_id: str) -> WorkflowHandle[Any, Any]:
    """The run, if it belongs to the caller's tenant; 404 otherwise (never 403: another
    tenant's ids are not confirmed to exist)."""
    if not execution_id.startswith(f"{who.tenant}."):
        raise Problem(404, "Not found", f"no execution `{execution_id}`")
    handle = request.app.state.temporal.get_workflow_handle(execution_id)
    try:
        await handle.describe(rpc_timeout=_timeout(request))
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            raise Problem(404, "Not found", f"no execution `{execution_id}`") from None
        raise Problem(503, "Temporal unavailable", str(e), headers={"Retry-After": "5"}) from None
    return handle


@router.get("/workflows/{execution_id}/status")
async def workflow_status(execution_id: str, request: Request, who: Viewer) -> dict[str, Any]:
    handle = await tenant_handle(request, who, execution_id)
    desc = await handle.describe(rpc_timeout=_timeout(request))
    progress = await handle.query("progress", result_type=Progress, rpc_timeout=_timeout(request))
    return {
        "execution_id": execution_id,
        "temporal_status": desc.status.name if desc.status else None,
        "progress": progress.model_dump(mode="json"),
    }
