"""One tenant's executions: cancel, resume, people's decisions, and the approvals waiting.
Every call checks the execution belongs to the caller's tenant (another tenant's is 404)."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote, unquote

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.workflowservice.v1 import ListWorkflowExecutionsRequest
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.converter import decode_typed_search_attributes
from temporalio.service import RPCError, RPCStatusCode

from activities.contract import COMMENT_LIMIT, AgentStepResult
from api.admission import IdempotencyKey, idempotent
from api.auth import Approver, Operator, Viewer
from api.problems import Problem
from api.routes.workflows import tenant_handle
from starters.estimate import is_estimate_id
from starters.resume import ResumeError, resume_run
from starters.runs import ESTIMATE_MEMO_KEY
from store.blobs import BlobRef, BlobStat
from workflows import search_attributes as sa
from workflows.models import DIGEST_PATTERN, Decision, DecisionReceipt, Progress
from workflows.single_agent import AGENT_WORKFLOW_TYPE

router = APIRouter(tags=["executions"])

INBOX_QUERIES = 16
"""`progress` queries in flight at once while reading the approvals inbox."""


class DecisionBody(BaseModel):
    """Body of `POST /executions/{id}/decisions`: the `decide` update's `Decision` without
    `by`, which is always the key's principal."""

    model_config = ConfigDict(extra="forbid")

    step: str = Field(max_length=64)
    decision: str = Field(pattern="^(approve|reject|choose|revise)$")
    option: str | None = Field(default=None, max_length=64)
    comment: str = Field(
        default="", max_length=COMMENT_LIMIT, description="a `revise` decision's feedback"
    )
    digest: str | None = Field(
        default=None,
        pattern=DIGEST_PATTERN,
        description="the digest of the outputs judged (the approvals inbox shows it); "
        "required by approvals with `bind`",
    )


class ResumeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    params: dict[str, Any] = Field(
        default_factory=dict, description="params to change (e.g. the input that failed)"
    )


def _rpc(request: Request) -> timedelta:
    return timedelta(seconds=request.app.state.settings.rpc_timeout_s)


@router.post("/executions/{execution_id}/cancel", status_code=202, response_model=dict[str, str])
async def cancel(
    execution_id: str,
    request: Request,
    who: Operator,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """`Idempotency-Key`: the first answer again (see POST /workflows/{template}/execute)."""

    async def run(_key: str | None) -> Response:
        return JSONResponse(await _cancel(execution_id, request, who), status_code=202)

    return await idempotent(request, who, run)


async def _cancel(execution_id: str, request: Request, who: Any) -> dict[str, str]:
    handle = await tenant_handle(request, who, execution_id)
    await handle.cancel(rpc_timeout=_rpc(request))
    await request.app.state.store.audit(who.tenant, who.name, "execution.cancel", execution_id)
    return {"execution_id": execution_id, "status": "cancel requested"}


@router.post("/executions/{execution_id}/resume", status_code=202, response_model=dict[str, str])
async def resume(
    execution_id: str,
    body: ResumeBody,
    request: Request,
    who: Operator,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """`Idempotency-Key`: the first answer again (see POST /workflows/{template}/execute)."""

    async def run(_key: str | None) -> Response:
        return JSONResponse(await _resume(execution_id, body, request, who), status_code=202)

    return await idempotent(request, who, run)


async def _resume(
    execution_id: str, body: ResumeBody, request: Request, who: Any
) -> dict[str, str]:
    await tenant_handle(request, who, execution_id)
    try:
        handle = await resume_run(request.app.state.temporal, execution_id, params=body.params)
    except ResumeError as e:
        raise Problem(409, "Cannot resume", str(e), kind="cannot-resume") from None
    await request.app.state.store.audit(
        who.tenant, who.name, "execution.resume", execution_id, {"as": handle.id}
    )
    return {
        "execution_id": handle.id,
        "resumed_from": execution_id,
        "status_url": f"/v1/workflows/{handle.id}/status",
    }


@router.post("/executions/{execution_id}/decisions", response_model=DecisionReceipt)
async def decide(
    execution_id: str,
    body: DecisionBody,
    request: Request,
    who: Approver,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """`Idempotency-Key`: the first answer again (see POST /workflows/{template}/execute)."""

    async def run(_key: str | None) -> Response:
        receipt = await submit_decision(execution_id, body, request, who)
        return JSONResponse(receipt.model_dump(mode="json"))

    return await idempotent(request, who, run)


async def submit_decision(
    execution_id: str, body: DecisionBody, request: Request, who: Any
) -> DecisionReceipt:
    """The run's `decide` update as the caller's principal (`by` = its name, `via: api`):
    what this route and the console's decision form send; a refusal is a 409 naming why.
    No `describe` first: the update itself answers NOT_FOUND for an unknown run (404), one
    Temporal round trip per decision instead of two (approve-all of thousands of runs)."""
    if not execution_id.startswith(f"{who.tenant}."):
        raise Problem(404, "Not found", f"no execution `{execution_id}`")
    if body.decision == "revise" and not body.comment.strip():
        raise Problem(422, "Invalid request", "a `revise` decision needs feedback in `comment`")
    handle = request.app.state.temporal.get_workflow_handle(execution_id)
    decision = Decision(
        step=body.step,
        decision=body.decision,  # type: ignore[arg-type]
        option=body.option,
        comment=body.comment,
        by=who.name,
        digest=body.digest,
        via="api",
    )
    try:
        receipt = await handle.execute_update(
            "decide", decision, result_type=DecisionReceipt, rpc_timeout=_rpc(request)
        )
    except WorkflowUpdateFailedError as e:
        cause = getattr(e.cause, "message", None) or str(e.cause)
        raise Problem(409, "Decision refused", cause, kind="decision-refused") from None
    except (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError) as e:
        if isinstance(e, WorkflowUpdateRPCTimeoutOrCancelledError) or e.status in (
            RPCStatusCode.DEADLINE_EXCEEDED,
            RPCStatusCode.UNAVAILABLE,
        ):
            # No live worker took the update in time: never hang the caller.
            raise Problem(
                503,
                "Workers unavailable",
                "no workflow worker answered; try again shortly",
                headers={"Retry-After": "5"},
            ) from None
        if isinstance(e, RPCError) and e.status == RPCStatusCode.NOT_FOUND:
            raise Problem(404, "Not found", f"no execution `{execution_id}`") from None
        if isinstance(e, RPCError) and "already completed" in e.message:
            raise Problem(
                409,
                "Decision refused",
                f"run {execution_id} has ended: nothing is waiting for a decision",
                kind="decision-refused",
            ) from None
        raise
    await request.app.state.store.audit(
        who.tenant,
        who.name,
        "decision",
        execution_id,
        {
            "step": body.step,
            "decision": body.decision,
            "option": body.option,
            "via": "api",
            "level": receipt.level,
            "round": receipt.round,
        },
    )
    return receipt


@router.get("/approvals")
async def approvals(request: Request, who: Viewer) -> list[dict[str, Any]]:
    """Runs of the caller's tenant waiting for a person, with what they wait on."""
    return await waiting_approvals(request, who)


async def waiting_approvals(request: Request, who: Any) -> list[dict[str, Any]]:
    """Every step of the tenant's running runs that waits for a person (the API's inbox and
    the console's): newest runs first, as Temporal's visibility lists them."""
    client = request.app.state.temporal
    query = (
        f"{sa.TENANT.name} = '{who.tenant}' AND {sa.PENDING_APPROVALS.name} IS NOT NULL "
        "AND ExecutionStatus = 'Running'"
    )
    ids = [wf.id async for wf in client.list_workflows(query, limit=200, rpc_timeout=_rpc(request))]
    # One `progress` query per run, INBOX_QUERIES at a time: one after another, a full
    # inbox (200 runs) took 200 round trips end to end (bench/suite_load.py).
    slots = asyncio.Semaphore(INBOX_QUERIES)

    async def progress_of(workflow_id: str) -> Progress | None:
        async with slots:
            try:
                return await client.get_workflow_handle(workflow_id).query(
                    "progress", result_type=Progress, rpc_timeout=_rpc(request)
                )
            except RPCError as e:
                if e.status == RPCStatusCode.NOT_FOUND:
                    return None  # deleted since it was listed
                raise

    progresses = await asyncio.gather(*(progress_of(i) for i in ids))
    found: list[dict[str, Any]] = []
    for wf_id, progress in zip(ids, progresses, strict=True):
        if progress is None:
            continue
        for step in progress.steps:
            if step.status == "waiting":
                found.append(
                    {
                        "execution_id": wf_id,
                        "template": progress.template,
                        "step": step.id,
                        "waiting_for": step.waiting_for,
                        "prompt": step.prompt,
                        "options": step.options,
                        # escalation level, who may decide, until when, and what is judged
                        "level": step.level,
                        "levels": step.levels,
                        "group": step.group,
                        "approvers": step.approvers,
                        "deadline": step.deadline.isoformat() if step.deadline else None,
                        "digest": step.digest,
                        "bind": step.bind,
                        "round": step.round,
                        "max_revisions": step.max_revisions,
                        "decide_url": f"/v1/executions/{wf_id}/decisions",
                    }
                )
    return found


_STATUS_NAMES = {
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING: "running",
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED: "completed",
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_FAILED: "failed",
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_CANCELED: "cancelled",
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TERMINATED: "terminated",
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TIMED_OUT: "timed_out",
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW: "continued",
}
STATUSES = {
    "running": "Running",
    "completed": "Completed",
    "failed": "Failed",
    "cancelled": "Canceled",
    "terminated": "Terminated",
    "timed_out": "TimedOut",
}


TEMPLATE_PATTERN = r"^[a-z][a-z0-9_]{0,47}$"
AGENT_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"


@router.get("/executions")
async def list_executions(
    request: Request,
    who: Viewer,
    template: str | None = Query(None, pattern=TEMPLATE_PATTERN),
    agent: str | None = Query(None, pattern=AGENT_PATTERN),
    status: Literal["running", "completed", "failed", "cancelled", "terminated", "timed_out"]
    | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = Query(50, ge=1, le=200),
    cursor: str | None = Query(None, max_length=2048),
) -> dict[str, Any]:
    """The tenant's executions, newest first, from Temporal's visibility (so runs started by
    any client are listed); `cursor` continues where the last page stopped."""
    return await find_executions(
        request,
        who.tenant,
        template=template,
        agent=agent,
        status=status,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )


_NAME = re.compile(r"^[a-z][a-z0-9_.]{0,70}$")
ESTIMATE_PAGES = 5
"""With estimates hidden, at most this many visibility pages are read to fill one page."""


def _is_estimate(e: Any) -> bool:
    # starters.estimate: memo `bizos_estimate`, id `<tenant>.<template>.estimate-…`
    return ESTIMATE_MEMO_KEY in e.memo.fields or is_estimate_id(e.execution.workflow_id)


def _item(e: Any) -> dict[str, Any]:
    found = decode_typed_search_attributes(e.search_attributes)
    return {
        "execution_id": e.execution.workflow_id,
        "run_id": e.execution.run_id,
        "type": e.type.name,
        "status": _STATUS_NAMES.get(e.status, "unknown"),
        "started_at": e.start_time.ToDatetime().isoformat() + "Z",
        "closed_at": e.close_time.ToDatetime().isoformat() + "Z"
        if e.HasField("close_time")
        else None,
        "template": found.get(sa.TEMPLATE),
        "waiting": list(found.get(sa.PENDING_APPROVALS) or []),
        "estimate": _is_estimate(e),
        "parent_id": e.parent_execution.workflow_id if e.HasField("parent_execution") else None,
    }


async def find_executions(
    request: Request,
    tenant: str,
    *,
    template: str | None = None,
    agent: str | None = None,
    templates: Sequence[str] = (),
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
    estimates: bool = True,
) -> dict[str, Any]:
    """One page of the tenant's executions, newest first (`GET /v1/executions` and the
    console's list). `agent` is that agent's own runs; `templates` widens it to runs of any
    of these templates (the console passes the templates using the agent). `estimates=False`
    leaves out cost-estimate runs (`bizos specs cost`, the launcher's estimate); then a page
    may read several visibility pages and hold more than `limit` items."""
    # Every value below is validated by its pattern or type: nothing reaches the query raw.
    names = [n for n in templates if _NAME.match(n)]
    clauses = [f"{sa.TENANT.name} = '{tenant}'"]
    if template:
        clauses.append(f"{sa.TEMPLATE.name} = '{template}'")
    if agent:
        names.append(f"agent.{agent}")
    if names:
        listed = ", ".join(f"'{n}'" for n in dict.fromkeys(names))
        clauses.append(f"{sa.TEMPLATE.name} IN ({listed})")
    if status:
        clauses.append(f"ExecutionStatus = '{STATUSES[status]}'")
    if since:
        clauses.append(f"StartTime >= '{since.isoformat()}'")
    if until:
        clauses.append(f"StartTime < '{until.isoformat()}'")
    token = b""
    if cursor:
        try:
            token = base64.urlsafe_b64decode(cursor.encode())
        except ValueError:
            raise Problem(422, "Invalid request", "cursor is not one this API gave") from None
    items: list[dict[str, Any]] = []
    for _ in range(1 if estimates else ESTIMATE_PAGES):
        try:
            resp = await request.app.state.temporal.workflow_service.list_workflow_executions(
                ListWorkflowExecutionsRequest(
                    namespace=request.app.state.temporal.namespace,
                    query=" AND ".join(clauses),
                    page_size=limit,
                    next_page_token=token,
                ),
                timeout=_rpc(request),
            )
        except RPCError as e:
            # a forged or corrupted cursor is a page token the server cannot parse
            if token and e.status not in (
                RPCStatusCode.UNAVAILABLE,
                RPCStatusCode.DEADLINE_EXCEEDED,
            ):
                raise Problem(422, "Invalid request", "cursor is not one this API gave") from None
            raise
        items += [_item(e) for e in resp.executions if estimates or not _is_estimate(e)]
        token = resp.next_page_token
        if not token or len(items) >= limit:
            break
    next_cursor = base64.urlsafe_b64encode(token).decode() if token else None
    return {"items": items, "next_cursor": next_cursor}


@router.get("/executions/{execution_id}/artifacts")
async def artifacts(execution_id: str, request: Request, who: Viewer) -> list[dict[str, Any]]:
    """The files the execution's steps wrote (blob refs recorded for it)."""
    await tenant_handle(request, who, execution_id)
    refs = await request.app.state.store.blobs.refs_for_run(execution_id)
    return [
        {
            "ref": str(r.ref),
            "size": r.size,
            "content_type": r.content_type,
            "url": f"/v1/executions/{execution_id}/artifacts/{quote(str(r.ref), safe='')}",
        }
        for r in refs
        if r.ref.tenant == who.tenant
    ]


async def artifact_blob(
    execution_id: str, ref: str, request: Request, who: Any
) -> tuple[BlobRef, BlobStat]:
    """The blob `ref` (URL-quoted or not) names, with its size and type — only when it is an
    artifact of this execution of the caller's tenant (404 otherwise, 422 not a ref)."""
    await tenant_handle(request, who, execution_id)
    store = request.app.state.store
    try:
        parsed = BlobRef.parse(unquote(ref))
    except ValueError as e:
        raise Problem(422, "Invalid request", str(e), kind="invalid-ref") from None
    recorded = await store.blobs.refs_for_run(execution_id)
    if parsed.tenant != who.tenant or all(r.ref != parsed for r in recorded):
        raise Problem(404, "Not found", f"execution `{execution_id}` has no artifact `{parsed}`")
    stat: BlobStat = await store.stat_blob(parsed, tenant=who.tenant)
    return parsed, stat


@router.get("/executions/{execution_id}/artifacts/{ref:path}")
async def artifact(execution_id: str, ref: str, request: Request, who: Viewer) -> StreamingResponse:
    """One file, streamed — only when the blob belongs to this execution and tenant."""
    parsed, stat = await artifact_blob(execution_id, ref, request, who)
    store = request.app.state.store
    return StreamingResponse(
        store.open_blob(parsed, tenant=who.tenant),
        media_type=stat.content_type or "application/octet-stream",
        headers={
            "Content-Length": str(stat.size),
            "Content-Disposition": f'attachment; filename="{parsed.filename}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/executions/{execution_id}")
async def execution(execution_id: str, request: Request, who: Viewer) -> dict[str, Any]:
    """Any execution of the tenant — a template's run or one agent's: its Temporal status,
    and its progress (templates) or result (agents, once completed)."""
    handle = await tenant_handle(request, who, execution_id)
    desc = await handle.describe(rpc_timeout=_rpc(request))
    status = desc.status.name.lower() if desc.status else None
    body: dict[str, Any] = {
        "execution_id": execution_id,
        "type": desc.workflow_type,
        "status": status,
        "started_at": desc.start_time,
        "closed_at": desc.close_time,
    }
    if desc.workflow_type == AGENT_WORKFLOW_TYPE:
        if status == "completed":
            typed = request.app.state.temporal.get_workflow_handle(
                execution_id, result_type=AgentStepResult
            )
            body["result"] = (await typed.result(rpc_timeout=_rpc(request))).model_dump(mode="json")
        return body
    progress = await handle.query("progress", result_type=Progress, rpc_timeout=_rpc(request))
    body["progress"] = progress.model_dump(mode="json")
    return body
