"""The approvals inbox: every run of the tenant waiting on a person, and one decision page per
waiting step with what is to be judged in view (the upstream outputs rendered, the creatives
as images), the escalation level and deadline, the revise round and earlier comments, and
the digest of what is shown, which the decision carries.

Listing and deciding go through the same code as `GET /v1/approvals` and
`POST /v1/executions/{id}/decisions`; a refused decision (stale digest, decided already, not
this level's approver, no feedback for a revise) re-renders the page with the reason and
what the person typed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import yaml
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

from activities.contract import COMMENT_LIMIT, REF_KEY, is_output_ref
from api.console import output_view as view
from api.console.render import page, redirect
from api.console.session import Approver, ConsoleUser, Viewer
from api.problems import Problem
from api.routes.executions import DecisionBody, submit_decision, waiting_approvals
from api.routes.workflows import tenant_handle
from starters.estimate import is_estimate_id
from workflows.digest import outputs_digest
from workflows.models import Progress, ResumeSeed, StepProgress

router = APIRouter()

TEXT_ARTIFACT_BYTES = 256 * 1024
"""Markdown/text artifacts up to this size are rendered in the page (bigger: a download)."""
VIA = "api"
"""How console decisions are recorded: `Decision.via` admits update, api, link, cli and
signal; the console is the HTTP API's principal-checked path, so `api`."""


def _rpc(request: Request) -> timedelta:
    return timedelta(seconds=request.app.state.settings.rpc_timeout_s)


def time_left(deadline: datetime | str | None, now: datetime | None = None) -> str:
    """`1h 59m left`, `3m left`, `overdue`; `—` without a deadline."""
    if deadline is None or deadline == "":
        return "—"
    when = datetime.fromisoformat(deadline) if isinstance(deadline, str) else deadline
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    left = (when - (now or datetime.now(UTC))).total_seconds()
    if left <= 0:
        return "overdue"
    days, rest = divmod(int(left), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = max(1, rest // 60) if not (days or hours) else rest // 60
    if days:
        return f"{days}d {hours}h left"
    if hours:
        return f"{hours}h {minutes}m left"
    return f"{minutes}m left"


def where(step: StepProgress | dict[str, Any]) -> str:
    """`level 1 of 2 (group writers)`, with the revise round when there is one."""
    get = step.get if isinstance(step, dict) else lambda k: getattr(step, k)
    level = (get("level") or 0) + 1
    text = f"level {level} of {get('levels')}" if get("levels") else f"level {level}"
    if get("group"):
        text += f" (group {get('group')})"
    if get("round"):
        text += f", revision round {get('round')}"
    return text


def may_decide(user: ConsoleUser, approvers: list[str] | None) -> bool:
    return user.may("approver") and (approvers is None or user.name in approvers)


# ------------------------------------------------------------------ the inbox


@router.get("/approvals", response_class=HTMLResponse)
async def inbox(request: Request, user: Viewer) -> HTMLResponse:
    # an estimate (a priced offline run the launcher drives) decides its own waits
    waiting = await waiting_approvals(request, user)
    rows = [r for r in waiting if not is_estimate_id(r["execution_id"])]
    now = datetime.now(UTC)
    for row in rows:
        row["deadline_at"] = datetime.fromisoformat(row["deadline"]) if row["deadline"] else None
        row["time_left"] = time_left(row["deadline"], now)
        row["where"] = where(row)
        row["yours"] = may_decide(user, row["approvers"])
        row["page_url"] = decision_url(row["execution_id"], row["step"])
    return await page(request, user, "approvals/inbox.html", {"rows": rows}, section="approvals")


def decision_url(execution_id: str, step: str) -> str:
    return f"/admin/approvals/{quote(execution_id, safe='')}/{quote(step, safe='')}"


# ------------------------------------------------------------------ one decision


async def _query(handle: Any, name: str, result_type: Any, request: Request) -> Any:
    try:
        return await handle.query(name, result_type=result_type, rpc_timeout=_rpc(request))
    except (RPCError, WorkflowQueryFailedError) as e:
        raise Problem(
            503,
            "Try again shortly",
            f"no workflow worker answered ({e})",
            headers={"Retry-After": "5"},
        ) from None


def upstream_of(step: StepProgress, seed: ResumeSeed | None) -> list[str]:
    """What is to be judged: the steps the decision is bound to (`bind`), else the steps it
    comes after (from the spec the run carries)."""
    if step.bind:
        return list(step.bind)
    if seed is None or seed.plan is None:
        return []
    try:
        spec = yaml.safe_load(seed.plan.spec) or {}
    except yaml.YAMLError:
        return []
    for s in spec.get("steps") or []:
        if isinstance(s, dict) and s.get("id") == step.id:
            after = s.get("after") or []
            return [after] if isinstance(after, str) else [a for a in after if isinstance(a, str)]
    return []


async def _full_output(request: Request, execution_id: str, output: Any) -> Any:
    """An output stored by reference (its run carries a bounded view): the whole of it, when
    it is this execution's own stored output; the view otherwise."""
    if not is_output_ref(output):
        return output
    ref = output[REF_KEY]
    if not ref.startswith(f"bizos-output:{execution_id}/"):
        return output
    try:
        return await request.app.state.store.get_output(ref)
    except LookupError:
        return output


async def _text_artifact(request: Request, user: ConsoleUser, ref: str) -> str | None:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.app.state.store.open_blob(ref, tenant=user.tenant):
        chunks.append(chunk)
        size += len(chunk)
        if size > TEXT_ARTIFACT_BYTES:
            return None
    return b"".join(chunks).decode("utf-8", errors="replace")


async def _artifacts(
    request: Request, user: ConsoleUser, execution_id: str, output: Any, recorded: dict[str, Any]
) -> list[dict[str, Any]]:
    """The artifacts an output names that are recorded for this execution of the tenant:
    images (shown as `<img>`), texts (rendered), others (downloads)."""
    found = []
    for ref in view.blob_refs(output):
        info = recorded.get(ref)
        if info is None:
            continue  # not this execution's file: shown as the text it is, never fetched
        item = {
            "ref": ref,
            "name": view.filename(ref),
            "url": view.artifact_url(execution_id, ref),
            "content_type": info.content_type or "application/octet-stream",
            "size": info.size,
            "image": view.is_image(info.content_type),
            "text": None,
        }
        if (
            not item["image"]
            and view.is_markdown(info.content_type, ref)
            and info.size is not None
            and info.size <= TEXT_ARTIFACT_BYTES
        ):
            text = await _text_artifact(request, user, ref)
            item["text"] = view.markdown(text) if text is not None else None
        found.append(item)
    return found


async def decision_context(
    request: Request, user: ConsoleUser, execution_id: str, step_id: str
) -> dict[str, Any]:
    """Everything the decision page shows (404: another tenant's run, or no such step)."""
    handle = await tenant_handle(request, user, execution_id)
    progress: Progress = await _query(handle, "progress", Progress, request)
    step = next((s for s in progress.steps if s.id == step_id), None)
    if step is None:
        raise Problem(404, "Not found", f"run {execution_id} has no step `{step_id}`")
    try:
        seed: ResumeSeed | None = await handle.query(
            "resume_seed", result_type=ResumeSeed, rpc_timeout=_rpc(request)
        )
    except (RPCError, WorkflowQueryFailedError):
        seed = None
    upstream = upstream_of(step, seed)
    judged = {
        sid: (seed.steps[sid].output if seed is not None and sid in seed.steps else None)
        for sid in upstream
    }
    # what the run checks for `bind`: the digest of exactly these outputs (workflows.digest)
    shown_digest = outputs_digest(judged) if upstream else None
    recorded = {
        str(r.ref): r
        for r in await request.app.state.store.blobs.refs_for_run(execution_id)
        if r.ref.tenant == user.tenant
    }
    by_id = {s.id: s for s in progress.steps}
    outputs = []
    for sid in upstream:
        output = await _full_output(request, execution_id, judged[sid])
        s = by_id.get(sid)
        outputs.append(
            {
                "id": sid,
                "status": s.status if s else "unknown",
                "summary": s.summary if s else "",
                "has_output": seed is not None and sid in seed.steps and judged[sid] is not None,
                "post": view.render_post(output) if view.looks_like_post(output) else None,
                "fields": view.render_value(output),
                "artifacts": await _artifacts(request, user, execution_id, output, recorded),
                "rounds": s.rounds if s else [],
            }
        )
    waiting = step.status == "waiting"
    can_revise = (
        waiting
        and step.waiting_for == "approval"
        and step.max_revisions is not None
        and step.round < step.max_revisions
    )
    return {
        "execution_id": execution_id,
        "template": progress.template,
        "run_status": progress.status,
        "step": step,
        "waiting": waiting,
        "where": where(step),
        "time_left": time_left(step.deadline),
        "outputs": outputs,
        "digest": shown_digest if step.bind else (step.digest or shown_digest),
        "digest_changed": bool(step.bind) and shown_digest != step.digest,
        "can_revise": can_revise,
        "yours": may_decide(user, step.approvers),
        "history": list(reversed(step.decisions)),
        "escalations": step.escalations,
        "comment_limit": COMMENT_LIMIT,
        "action": decision_url(execution_id, step_id) + "/decide",
        "comment": "",
        "error": None,
    }


@router.get("/approvals/{execution_id}/{step}", response_class=HTMLResponse)
async def decision_page(
    execution_id: str, step: str, request: Request, user: Viewer
) -> HTMLResponse:
    context = await decision_context(request, user, execution_id, step)
    return await _render(request, user, context)


async def _render(
    request: Request, user: ConsoleUser, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    return await page(
        request, user, "approvals/decide.html", context, status=status, section="approvals"
    )


def parse_decision(raw: str) -> tuple[str, str | None]:
    """The button's value: `approve`, `reject`, `revise` or `choose:<option>`."""
    kind, _, option = raw.partition(":")
    return kind, (option if kind == "choose" else None)


@router.post("/approvals/{execution_id}/{step}/decide", response_model=None)
async def decide(execution_id: str, step: str, request: Request, user: Approver) -> Response:
    form = await request.form()
    raw = str(form.get("decision") or "")
    comment = str(form.get("comment") or "")
    digest = str(form.get("digest") or "") or None
    kind, option = parse_decision(raw)
    try:
        if kind == "revise" and not comment.strip():
            raise Problem(
                422,
                "Feedback needed",
                "a revision needs feedback: say in the comment what should change",
            )
        try:
            body = DecisionBody(
                step=step, decision=kind, option=option, comment=comment, digest=digest
            )
        except ValidationError as e:
            first = e.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise Problem(422, "Invalid decision", f"{field}: {first['msg']}") from None
        receipt = await submit_decision(execution_id, body, request, user)
    except Problem as p:
        if p.status == 404:
            raise
        context = await decision_context(request, user, execution_id, step)
        context["error"] = f"{p.title}: {p.detail}" if p.detail else p.title
        context["comment"] = comment
        return await _render(request, user, context, status=p.status)
    done = {"approve": "Approved", "reject": "Rejected", "revise": "Sent back for revision"}
    what = done.get(kind) or f"Chose {option}"
    moved = "the run moves on" if receipt.applied else "kept until the step is reached"
    return await redirect(
        request, user, "/admin/approvals", f"{what}: {step} of {execution_id} ({moved})."
    )
