"""Executions: the tenant's run history (filters, newest first, cursor paging), one run's
live DAG, steps, decisions and errors with cancel and resume, and its agents' activity as it
happens over server-sent events.

The list and the actions are the `/v1` API's own code (`api.routes.executions`): one
implementation, the same tenant checks. The page asks Temporal for the run's `progress` once
per load; while the run is open, `static/executions.js` re-fetches the live part
(`/fragment`) every few seconds. The activity stream never asks Temporal per viewer: it tails
the store (`api.console.live`) and checks whether the run has closed through a short cache
shared by every viewer of the run.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from sqlalchemy import func, or_, select
from temporalio.client import (
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.service import RPCError

from activities.contract import AgentStepResult
from api.console.dag_svg import render_dag_svg
from api.console.live import SSE_HEADERS, event_stream, resume_after
from api.console.output_view import artifact_url, blob_refs, filename
from api.console.render import env, page, redirect
from api.console.session import Operator, Viewer
from api.problems import Problem
from api.routes.executions import (
    AGENT_PATTERN,
    STATUSES,
    TEMPLATE_PATTERN,
    ResumeBody,
    _cancel,
    _resume,
    find_executions,
)
from api.routes.workflows import tenant_handle
from starters.estimate import is_estimate_id
from store.tables import NANOS_PER_USD, LedgerEntry
from workflows.compiler import CompiledDag
from workflows.models import Progress, ResumeSeed
from workflows.plans import PlanError, compile_plan
from workflows.registry import default_registry
from workflows.single_agent import AGENT_WORKFLOW_TYPE, AgentRunInput

router = APIRouter()

PAGE_SIZE = 25
OUTPUT_CHARS = 20_000
"""Longest output text put in a page (the rest is cut, and the page says so)."""
SHORT_OUTPUT = 160
CLOSED_CACHE_S = 3.0
"""How long one answer to "has the run closed?" serves every viewer of its event stream."""
FLUSH_GRACE_S = 2.0
"""A closed run's last events may still be flushing (`live_events.FINAL_FLUSH_TIMEOUT_S`)."""
_LEDGER = LedgerEntry.__table__  # type: ignore[attr-defined]
_TEMPLATE = re.compile(TEMPLATE_PATTERN)
_AGENT = re.compile(AGENT_PATTERN)
_OPEN = {WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW}
_RESUMABLE = {
    WorkflowExecutionStatus.FAILED,
    WorkflowExecutionStatus.CANCELED,
    WorkflowExecutionStatus.TERMINATED,
    WorkflowExecutionStatus.TIMED_OUT,
}


def _rpc(request: Request) -> timedelta:
    return timedelta(seconds=request.app.state.settings.rpc_timeout_s)


# ---------------------------------------------------------------------------- the list


def _parse_day(raw: str, errors: list[str], what: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors.append(f"{what}: `{raw}` is not a date (YYYY-MM-DD)")
        return None


def _iso(raw: str | None) -> datetime | None:
    if not raw:
        return None
    return datetime.fromisoformat(raw.replace("Z", "+00:00")).replace(tzinfo=UTC)


def _duration(start: datetime | None, end: datetime | None) -> str:
    if start is None:
        return "—"
    seconds = int(((end or datetime.now(UTC)) - start).total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


async def _costs(request: Request, tenant: str, ids: list[str]) -> dict[str, float]:
    """Each run's spend from the ledger (its child runs' included), in one query."""
    if not ids:
        return {}
    c = _LEDGER.c
    matches = [c.workflow_id.in_(ids)] + [
        c.workflow_id.startswith(i + ".", autoescape=True) for i in ids
    ]
    query = (
        select(c.workflow_id, func.coalesce(func.sum(c.usd_nanos), 0))
        .where(c.tenant == tenant, or_(*matches))
        .group_by(c.workflow_id)
    )
    async with request.app.state.store.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    by_length = sorted(ids, key=len, reverse=True)  # a child's id extends its parent's
    totals = dict.fromkeys(ids, 0)
    for workflow_id, nanos in rows:
        owner = next(
            (i for i in by_length if workflow_id == i or workflow_id.startswith(i + ".")), None
        )
        if owner is not None:
            totals[owner] += int(nanos)
    return {i: n / NANOS_PER_USD for i, n in totals.items()}


def _templates_using(agent: str) -> list[str]:
    return sorted(
        dag.name
        for dag in default_registry().current.values()
        if any(s.spec.agent == agent for s in dag.steps.values())
    )


def _agents() -> list[str]:
    from activities.catalog import default_catalog

    return sorted(a.id for a in default_catalog())


@router.get("/executions", response_class=HTMLResponse)
async def executions(
    request: Request,
    user: Viewer,
    template: str = "",
    status: str = "",
    agent: str = "",
    since: str = "",
    until: str = "",
    estimates: str = "",
    cursor: str = "",
) -> HTMLResponse:
    errors: list[str] = []
    if template and not _TEMPLATE.match(template):
        errors.append(f"template: `{template}` is not a template name")
    if agent and not _AGENT.match(agent):
        errors.append(f"agent: `{agent}` is not an agent id")
    if status and status not in STATUSES:
        errors.append(f"status: one of {', '.join(STATUSES)}")
    day_from = _parse_day(since, errors, "from")
    day_to = _parse_day(until, errors, "to")
    if day_from and day_to and day_to < day_from:
        errors.append("to: the last day comes before the first")
    filters = {
        "template": template,
        "status": status,
        "agent": agent,
        "since": since,
        "until": until,
        "estimates": "1" if estimates else "",
    }
    rows: list[dict[str, Any]] = []
    next_cursor = None
    if not errors:
        try:
            found = await find_executions(
                request,
                user.tenant,
                template=template or None,
                templates=_templates_using(agent) if agent else (),
                agent=agent or None,
                status=status or None,
                since=datetime.combine(day_from, dtime(), UTC) if day_from else None,
                until=datetime.combine(day_to + timedelta(days=1), dtime(), UTC)
                if day_to
                else None,
                limit=PAGE_SIZE,
                cursor=cursor or None,
                estimates=bool(estimates),
            )
        except Problem as e:
            errors.append(e.detail or e.title)
        else:
            rows = found["items"]
            next_cursor = found["next_cursor"]
    costs = await _costs(request, user.tenant, [r["execution_id"] for r in rows])
    for r in rows:
        started, closed = _iso(r["started_at"]), _iso(r["closed_at"])
        r["started"] = started
        r["duration"] = _duration(started, closed)
        r["cost_usd"] = costs.get(r["execution_id"], 0.0)
        what = r["template"] or r["type"]
        r["what"] = f"agent {what[6:]}" if what.startswith("agent.") else what
    older = None
    if next_cursor:
        older = "/admin/executions?" + _query({**filters, "cursor": next_cursor})
    return await page(
        request,
        user,
        "executions/list.html",
        {
            "rows": rows,
            "filters": filters,
            "errors": errors,
            "older": older,
            "first_page": "/admin/executions?" + _query(filters) if cursor else None,
            "templates": sorted(d.name for d in default_registry().current.values()),
            "agents": _agents(),
            "statuses": list(STATUSES),
        },
        status=422 if errors else 200,
        section="executions",
    )


def _query(values: dict[str, str]) -> str:
    return urlencode({k: v for k, v in values.items() if v})


# ---------------------------------------------------------------------------- one run


@dataclass
class RunView:
    """Everything one execution's page shows."""

    id: str
    desc: WorkflowExecutionDescription
    status: str
    open: bool
    agent_run: bool
    progress: Progress | None = None
    progress_error: str | None = None
    dag: CompiledDag | None = None
    agent_input: AgentRunInput | None = None
    agent_result: AgentStepResult | None = None
    failure: str | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[Any] = field(default_factory=list)

    @property
    def estimate(self) -> bool:
        return is_estimate_id(self.id)

    @property
    def resumable(self) -> bool:
        return not self.agent_run and self.desc.status in _RESUMABLE

    @property
    def waiting(self) -> list[str]:
        return list(self.progress.waiting) if self.progress is not None else []

    @property
    def cost_usd(self) -> float | None:
        if self.progress is not None:
            return self.progress.cost_usd
        if self.agent_result is not None:
            return self.agent_result.cost_usd
        return None

    @property
    def budget(self) -> tuple[float, int] | None:
        """(budget in USD, percent used rounded up to a 5% step, at most 100)."""
        p = self.progress
        if p is None or not p.budget_usd:
            return None
        cap = p.budget_usd + p.budget_extended_usd
        used = p.cost_usd / cap * 100 if cap else 0
        return cap, min(100, int(-(-used // 5) * 5))


def _status_name(desc: WorkflowExecutionDescription) -> str:
    """As the list and its filter name it (`cancelled`, not Temporal's `canceled`)."""
    if desc.status is None:
        return "unknown"
    name = desc.status.name.lower()
    return "cancelled" if name == "canceled" else name


def _dag_for(desc: WorkflowExecutionDescription, progress: Progress | None) -> CompiledDag | None:
    """The compiled template the run runs: the registry's version when its spec hash is the
    run's, else none (the page then lists steps without a picture)."""
    if progress is None or not progress.spec_hash:
        return None
    registry = default_registry()
    for dag in (
        registry.version(desc.workflow_type, progress.version),
        registry.current.get(desc.workflow_type),
    ):
        if dag is not None and dag.hash == progress.spec_hash:
            return dag
    return None


def _as_text(value: Any) -> str:
    text = (
        value
        if isinstance(value, str)
        else json.dumps(value, indent=2, ensure_ascii=False, default=str, sort_keys=True)
    )
    if len(text) > OUTPUT_CHARS:
        text = text[:OUTPUT_CHARS] + f"\n… (cut at {OUTPUT_CHARS:,} characters)"
    return text


_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg")


def _output_row(execution_id: str, step: str, value: Any) -> dict[str, Any]:
    """One step's output as escaped text, with the files it names (`blob://…`) as links,
    images as `<img>` (where even an SVG runs no script)."""
    text = _as_text(value)
    files = [
        {
            "name": filename(ref),
            "url": artifact_url(execution_id, ref),
            "image": ref.lower().endswith(_IMAGE_SUFFIXES),
        }
        for ref in blob_refs(value)[:20]
    ]
    short = len(text) <= SHORT_OUTPUT and "\n" not in text
    preview = " ".join(text.split())
    if len(preview) > SHORT_OUTPUT:
        preview = preview[: SHORT_OUTPUT - 1] + "…"
    return {"step": step, "text": text, "short": short, "preview": preview, "files": files}


async def _first_input(handle: WorkflowHandle[Any, Any], request: Request) -> AgentRunInput | None:
    """A single-agent run's input (agent, mode, inputs): the first event of its history."""
    try:
        async for event in handle.fetch_history_events(page_size=1, rpc_timeout=_rpc(request)):
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            [found] = await request.app.state.temporal.data_converter.decode(
                payloads, [AgentRunInput]
            )
            return found if isinstance(found, AgentRunInput) else None
    except (RPCError, ValueError, TypeError):
        return None
    return None


async def _failure(handle: WorkflowHandle[Any, Any], request: Request) -> str | None:
    try:
        await handle.result(rpc_timeout=_rpc(request))
    except WorkflowFailureError as e:
        cause: Any = e.cause
        while getattr(cause, "cause", None) is not None and not getattr(cause, "message", ""):
            cause = cause.cause
        return str(getattr(cause, "message", None) or cause)
    except Exception:  # the page still shows everything else
        return None
    return None


async def _load(request: Request, user: Any, execution_id: str, *, full: bool) -> RunView:
    """The run of the user's tenant (404 otherwise); `full` adds what only the whole page
    shows (step outputs, decisions log, the failure) to what the live part needs."""
    handle = await tenant_handle(request, user, execution_id)
    desc = await handle.describe(rpc_timeout=_rpc(request))
    view = RunView(
        id=execution_id,
        desc=desc,
        status=_status_name(desc),
        open=desc.status in _OPEN,
        agent_run=desc.workflow_type == AGENT_WORKFLOW_TYPE,
    )
    if view.agent_run:
        view.agent_input = await _first_input(handle, request)
        if desc.status == WorkflowExecutionStatus.COMPLETED:
            typed = request.app.state.temporal.get_workflow_handle(
                execution_id, result_type=AgentStepResult
            )
            try:
                view.agent_result = await typed.result(rpc_timeout=_rpc(request))
            except Exception:  # an unreadable result: the page says none
                view.agent_result = None
            if view.agent_result is not None:
                out = view.agent_result
                view.outputs = [_output_row(execution_id, "agent", out.output_view or out.output)]
        elif desc.status in _RESUMABLE:
            view.failure = await _failure(handle, request)
        return view
    try:
        view.progress = await handle.query(
            "progress", result_type=Progress, rpc_timeout=_rpc(request)
        )
    except Exception as e:  # no worker, or a run that never started its steps
        view.progress_error = f"the run's progress is not available (yet): {e}"
    view.dag = _dag_for(desc, view.progress)
    if not full:
        return view
    if view.progress is not None and view.progress.steps:
        seed: ResumeSeed | None = None
        try:
            seed = await handle.query(
                "resume_seed", result_type=ResumeSeed, rpc_timeout=_rpc(request)
            )
        except Exception:  # outputs are a bonus: the steps table stands
            seed = None
        if seed is not None:
            if view.dag is None and seed.plan is not None:
                try:
                    view.dag = compile_plan(seed.plan)
                except PlanError:
                    view.dag = None
            view.outputs = [
                _output_row(execution_id, sid, s.output)
                for sid, s in seed.steps.items()
                if s.output is not None
            ]
    if desc.status in _RESUMABLE and desc.status != WorkflowExecutionStatus.CANCELED:
        view.failure = await _failure(handle, request)
    view.decisions = await request.app.state.store.list_decisions(
        user.tenant, workflow_id=execution_id, limit=200
    )
    return view


def _steps(view: RunView) -> list[dict[str, Any]]:
    if view.progress is None:
        return []
    rows = []
    for s in view.progress.steps:
        step = view.dag.steps.get(s.id) if view.dag is not None else None
        what = s.kind
        if step is not None and step.kind == "agent":
            what = f"{step.spec.agent}/{step.spec.mode}"
        elif step is not None and step.kind == "workflow":
            what = f"workflow {step.spec.workflow}"
        rows.append(
            {
                "id": s.id,
                "what": what,
                "status": "completed" if s.status == "succeeded" else s.status,
                "attempts": s.attempts,
                "cost_usd": s.cost_usd,
                "error": s.error,
                "failed_tools": s.failed_tools,
                "summary": s.summary if s.status == "succeeded" else "",
                "fanout": f"{s.items_done}/{s.items} items" if s.items is not None else "",
                "waiting_for": s.waiting_for,
            }
        )
    return rows


def _live_context(request: Request, view: RunView) -> dict[str, Any]:
    dag_svg = None
    if view.dag is not None and view.progress is not None:
        states = {s.id: s.status for s in view.progress.steps}
        dag_svg = render_dag_svg(view.dag, states)
    return {
        "run": view,
        "steps": _steps(view),
        "dag_svg": dag_svg,
        "fragment_src": f"/admin/executions/{view.id}/fragment",
    }


@router.get("/executions/{execution_id}", response_class=HTMLResponse)
async def execution(execution_id: str, request: Request, user: Viewer) -> HTMLResponse:
    view = await _load(request, user, execution_id, full=True)
    return await page(
        request,
        user,
        "executions/detail.html",
        {
            **_live_context(request, view),
            "temporal_url_run_id": view.desc.run_id,
            "events_src": f"/admin/executions/{execution_id}/events",
        },
        section="executions",
    )


@router.get("/executions/{execution_id}/fragment", response_class=HTMLResponse)
async def execution_fragment(execution_id: str, request: Request, user: Viewer) -> HTMLResponse:
    """The page's live part (header numbers, DAG, steps), for `executions.js` to swap in."""
    view = await _load(request, user, execution_id, full=False)
    html = env.get_template("executions/_live.html").render(
        request=request, user=user, **_live_context(request, view)
    )
    return HTMLResponse(html)


@router.post("/executions/{execution_id}/cancel", response_model=None)
async def cancel(
    execution_id: str, request: Request, user: Operator
) -> RedirectResponse | HTMLResponse:
    back = f"/admin/executions/{execution_id}"
    try:
        await _cancel(execution_id, request, user)
    except Problem as e:
        if e.status == 404:
            raise
        return await redirect(request, user, back, f"Not cancelled: {e.detail}", kind="error")
    except RPCError as e:  # e.g. the run closed meanwhile
        return await redirect(request, user, back, f"Not cancelled: {e.message}", kind="error")
    _closed.pop(execution_id, None)
    return await redirect(request, user, back, "Cancel requested: the run stops shortly.")


@router.post("/executions/{execution_id}/resume", response_model=None)
async def resume(
    execution_id: str, request: Request, user: Operator
) -> RedirectResponse | HTMLResponse:
    try:
        started = await _resume(execution_id, ResumeBody(), request, user)
    except Problem as e:
        if e.status == 404:
            raise
        return await redirect(
            request,
            user,
            f"/admin/executions/{execution_id}",
            f"Not resumed: {e.detail}",
            kind="error",
        )
    new_id = started["execution_id"]
    return await redirect(
        request,
        user,
        f"/admin/executions/{new_id}",
        f"Resumed {execution_id} as {new_id}: finished steps are reused, the rest run.",
    )


# ---------------------------------------------------------------------------- live activity

_closed: dict[str, tuple[float, bool]] = {}
"""workflow id -> (monotonic time asked, closed for at least `FLUSH_GRACE_S`)."""


async def run_finished(request: Request, workflow_id: str) -> bool:
    """True once the run has closed (and its last events had time to land). One describe
    per run per `CLOSED_CACHE_S` serves every viewer in this process; a closed run is
    remembered for good (resumes get new ids)."""
    now = time.monotonic()
    cached = _closed.get(workflow_id)
    if cached is not None and (cached[1] or now - cached[0] < CLOSED_CACHE_S):
        return cached[1]
    # Marked as asked before the call: viewers polling meanwhile use the last answer.
    _closed[workflow_id] = (now, False)
    try:
        desc = await request.app.state.temporal.get_workflow_handle(workflow_id).describe(
            rpc_timeout=_rpc(request)
        )
    except RPCError:
        return False  # Temporal briefly away: keep tailing, ask again next time
    closed_at = desc.close_time
    done = (
        desc.status not in _OPEN
        and closed_at is not None
        and (datetime.now(UTC) - closed_at).total_seconds() >= FLUSH_GRACE_S
    )
    if len(_closed) > 10_000:
        _closed.clear()
    _closed[workflow_id] = (time.monotonic(), done)
    return done


@router.get("/executions/{execution_id}/events", response_model=None)
async def execution_events(execution_id: str, request: Request, user: Viewer) -> StreamingResponse:
    """Server-sent events: every stored activity event of the run after `Last-Event-ID`
    (or `?after=`), then new ones as they are written; ends (an `end` event) once the run
    has closed and everything was sent."""
    handle = await tenant_handle(request, user, execution_id)
    # the run the page shows: a workflow id started again has older runs' events too
    run_id = (await handle.describe(rpc_timeout=_rpc(request))).run_id
    store = request.app.state.store

    async def done() -> bool:
        return await run_finished(request, execution_id)

    return StreamingResponse(
        event_stream(store, execution_id, resume_after(request), stop=done, run_id=run_id),
        media_type="text/event-stream",
        headers=SSE_HEADERS,
    )
