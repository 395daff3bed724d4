"""The workflow library and launcher: the templates with their DAGs, a launch form generated
from each template's params, a priced offline estimate before launch, and the launch.

* `GET /admin/workflows`: the shipped templates (and the examples) as cards.
* `GET /admin/workflows/{name}`: the DAG, the steps, the launch form (`?example=1` fills it
  with the spec's example, `?from=<estimate>` with an estimate's params).
* `POST /admin/workflows/{name}/launch` (operator): validated with the template's params
  model (the form comes back with each message beside its field), then started the API's
  way (`api.routes.workflows.start_template`) and shown on its execution page.
* `POST /admin/workflows/{name}/estimate` (operator): starts the template as an estimate
  (`starters.estimate`: offline policy priced as a model, no notification, every wait
  decided by this process) and answers at once with its page,
  `GET /admin/workflows/{name}/estimate/{key}`, which refreshes itself while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.console.dag_svg import render_dag_svg
from api.console.params_form import (
    ParsedForm,
    example_values,
    form_fields,
    parse_form,
    price_as_choices,
    values_of,
)
from api.console.render import page, redirect
from api.console.session import ConsoleUser, Operator, Viewer
from api.problems import Problem
from starters.estimate import (
    ESTIMATE_KEY_PREFIX,
    AutoDecision,
    CostEstimate,
    decide_waiting,
    drive_estimate,
    estimate_id,
    estimate_result,
    start_estimate,
)
from starters.runs import ESTIMATE_MEMO_KEY
from workflows.compiler import CompiledDag, CompiledStep
from workflows.mermaid import duration_text
from workflows.models import RunInput
from workflows.registry import DEFAULT_SPEC_DIR, EXAMPLES_DIR, default_registry

router = APIRouter()
log = logging.getLogger(__name__)

ESTIMATE_DEADLINE_S = 15 * 60  # an estimate still running by then is cancelled
_ESTIMATE_KEY = re.compile(rf"^{ESTIMATE_KEY_PREFIX}[a-z0-9]{{1,32}}$")


# ---------------------------------------------------------------- templates


def _template(name: str) -> CompiledDag:
    try:
        return default_registry().by_name(name)
    except KeyError:
        raise Problem(404, "Not found", f"no template `{name}`") from None


def _shelf(dag: CompiledDag) -> str:
    """`shipped` (dag_specs/), `example` (an examples/ directory) or `more` (another of
    $BIZOS_SPEC_DIRS)."""
    folder = Path(dag.source).parent.resolve()
    if folder == DEFAULT_SPEC_DIR.resolve():
        return "shipped"
    if folder == EXAMPLES_DIR.resolve() or folder.name == "examples":
        return "example"
    return "more"


def _is_example(dag: CompiledDag) -> bool:
    return _shelf(dag) == "example"


def _agents(dag: CompiledDag) -> list[str]:
    found = {s.spec.agent for s in dag.steps.values() if s.kind == "agent" and s.spec.agent}
    return sorted(found)


def _card(dag: CompiledDag) -> dict[str, Any]:
    kinds = {s.kind for s in dag.steps.values()}
    return {
        "name": dag.name,
        "version": dag.version,
        "description": dag.spec.description,
        "steps": len(dag.steps),
        "agents": _agents(dag),
        "children": sorted(
            {
                s.spec.workflow
                for s in dag.steps.values()
                if s.kind == "workflow" and s.spec.workflow
            }
        ),
        "approvals": sum(1 for s in dag.steps.values() if s.kind == "approval"),
        "choices": sum(1 for s in dag.steps.values() if s.kind == "choice"),
        "has_people": bool(kinds & {"approval", "choice"}),
        "schedules": [
            {"id": sc.id, "cron": ", ".join(sc.cron), "paused": sc.paused}
            for sc in dag.spec.schedules
        ],
        "budget_usd": dag.spec.budget_usd,
        "svg": render_dag_svg(dag),
    }


def _duration(d: timedelta | None) -> str:
    return duration_text(d) if d is not None else ""


def _people(step: CompiledStep) -> str:
    """The approvals column: who decides what, how long they have."""
    spec = step.spec
    if spec.approval is not None:
        a = spec.approval
        parts = [f"“{a.prompt}”"]
        if a.approvers:
            chain = " → ".join(f"{lv.group} ({_duration(lv.timeout)})" for lv in a.approvers)
            parts.append(f"approvers: {chain}")
        else:
            parts.append(f"timeout {_duration(a.timeout)}")
        parts.append(f"on timeout: {a.on_timeout}")
        if a.revise:
            parts.append(f"may send back to {a.revise}")
        if a.bind:
            parts.append(f"judges {', '.join(a.bind)}")
        return "; ".join(parts)
    if spec.choice is not None:
        c = spec.choice
        if c.by:
            return f"chosen by expression among {', '.join(c.options)}"
        parts = [f"“{c.prompt}”", f"options: {', '.join(c.options)}"]
        if c.default:
            parts.append(f"default {c.default}")
        if c.approvers:
            parts.append("approvers: " + " → ".join(lv.group for lv in c.approvers))
        return "; ".join(parts)
    return ""


def _what(step: CompiledStep) -> str:
    spec = step.spec
    if step.kind == "agent":
        return f"{spec.agent} / {spec.mode}"
    if step.kind == "workflow":
        return f"workflow {spec.workflow}"
    return step.kind


def _steps(dag: CompiledDag) -> list[dict[str, Any]]:
    return [
        {
            "id": s.id,
            "kind": s.kind,
            "what": _what(s),
            "summary": s.summary,
            "after": list(s.after),
            "when": s.spec.when or "",
            "foreach": bool(s.foreach),
            "people": _people(s),
        }
        for s in dag.steps.values()
    ]


async def _template_page(
    request: Request,
    user: ConsoleUser,
    dag: CompiledDag,
    *,
    values: dict[str, str] | None = None,
    parsed: ParsedForm | None = None,
    status: int = 200,
    note: str = "",
) -> HTMLResponse:
    errors = parsed.errors if parsed is not None else {}
    run_values = parsed.values if parsed is not None else (values or {})
    return await page(
        request,
        user,
        "workflows/template.html",
        {
            "dag": dag,
            "card": _card(dag),
            "svg_tb": render_dag_svg(dag, direction="TB"),
            "steps": _steps(dag),
            "fields": form_fields(dag, parsed.values if parsed is not None else values, errors),
            "errors": errors,
            "general": parsed.general if parsed is not None else [],
            "budget_usd": run_values.get("budget_usd", ""),
            "price_as": run_values.get("price_as", ""),
            "price_as_choices": price_as_choices(),
            "has_example": bool(dag.spec.example),
            "is_example": _is_example(dag),
            "can_launch": user.may("operator"),
            "note": note,
        },
        status=status,
        section="workflows",
    )


@router.get("/workflows")
async def library(request: Request, user: Viewer) -> HTMLResponse:
    dags = sorted(default_registry().current.values(), key=lambda d: d.name)
    return await page(
        request,
        user,
        "workflows/library.html",
        {
            "templates": [_card(d) for d in dags if _shelf(d) == "shipped"],
            "examples": [_card(d) for d in dags if _shelf(d) == "example"],
            "more": [_card(d) for d in dags if _shelf(d) == "more"],
        },
        section="workflows",
    )


@router.get("/workflows/{name}")
async def template_page(
    name: str, request: Request, user: Viewer, example: bool = False
) -> HTMLResponse:
    dag = _template(name)
    values = None
    if example:
        values = example_values(dag)
    source = request.query_params.get("from", "")
    if source:  # "edit these params" from an estimate's page
        with contextlib.suppress(Problem):
            workflow_id, _ = await _estimate_handle(request, user, dag, source)
            values = values_of(dag, await _run_params(request.app.state.temporal, workflow_id))
    return await _template_page(request, user, dag, values=values)


@router.post("/workflows/{name}/launch")
async def launch(name: str, request: Request, user: Operator) -> Response:
    from api.routes.workflows import start_template

    dag = _template(name)
    parsed = parse_form(dag, await request.form())
    if not parsed.ok:
        return await _template_page(request, user, dag, parsed=parsed, status=422)
    try:
        started = await start_template(
            request, user, dag.name, parsed.params, parsed.budget_usd, parsed.price_as
        )
    except Problem as e:
        # Anything the form could not check (the tenant's budget, a template changed since):
        # the form again, with what was typed.
        parsed.general.append(f"{e.title}: {e.detail}")
        return await _template_page(request, user, dag, parsed=parsed, status=e.status)
    return await redirect(
        request,
        user,
        f"/admin/executions/{started.execution_id}",
        f"started {dag.name} v{dag.version}: {started.execution_id}",
    )


# ---------------------------------------------------------------- estimates


def _drivers(request: Request) -> dict[str, asyncio.Task[None]]:
    found = getattr(request.app.state, "console_estimates", None)
    if found is None:
        found = request.app.state.console_estimates = {}
    return found


def _decider(user: ConsoleUser) -> str:
    return f"{user.name} (console estimate)"[:200]


async def _drive(client: Client, dag: CompiledDag, workflow_id: str, by: str) -> None:
    """This process decides the estimate's waits until it ends; one that runs too long
    (or breaks) is cancelled rather than left waiting."""
    done: dict[tuple[str, str], AutoDecision] = {}
    try:
        async with asyncio.timeout(ESTIMATE_DEADLINE_S):
            await drive_estimate(client, default_registry(), dag, workflow_id, done, by=by)
    except Exception:
        log.warning("estimate %s: cancelled, its driver stopped", workflow_id, exc_info=True)
        with contextlib.suppress(Exception):
            await client.get_workflow_handle(workflow_id).cancel()
    except asyncio.CancelledError:  # the app is stopping: the estimate stops too (if it can)
        with contextlib.suppress(Exception):
            handle = client.get_workflow_handle(workflow_id)
            await asyncio.wait_for(handle.cancel(rpc_timeout=timedelta(seconds=2)), 3)
        raise


def _follow(request: Request, dag: CompiledDag, workflow_id: str, by: str) -> None:
    drivers = _drivers(request)
    task = drivers.get(workflow_id)
    if task is not None and not task.done():
        return
    task = asyncio.create_task(
        _drive(request.app.state.temporal, dag, workflow_id, by), name=f"estimate {workflow_id}"
    )
    drivers[workflow_id] = task
    task.add_done_callback(lambda _t: drivers.pop(workflow_id, None))


@router.post("/workflows/{name}/estimate")
async def estimate(name: str, request: Request, user: Operator) -> Response:
    dag = _template(name)
    form = dict(await request.form())
    if not form.get("price_as") or form.get("price_as") == "none":
        form["price_as"] = "chain"  # an estimate is always priced
    parsed = parse_form(dag, form)
    if not parsed.ok:
        return await _template_page(request, user, dag, parsed=parsed, status=422)
    assert parsed.price_as is not None
    handle = await start_estimate(
        request.app.state.temporal,
        dag,
        parsed.params,
        price_as=parsed.price_as,
        tenant=user.tenant,
        rpc_timeout=timedelta(seconds=request.app.state.settings.rpc_timeout_s),
    )
    await request.app.state.store.audit(
        user.tenant, user.name, "estimate.start", handle.id, {"template": dag.name}
    )
    _follow(request, dag, handle.id, _decider(user))
    key = handle.id.rsplit(".", 1)[1]
    return await redirect(
        request,
        user,
        f"/admin/workflows/{dag.name}/estimate/{key}",
        f"estimating {dag.name}: an offline run priced as {parsed.price_as}",
    )


async def _estimate_handle(
    request: Request, user: ConsoleUser, dag: CompiledDag, key: str
) -> tuple[str, str]:
    """(workflow id, price_as) of the caller's tenant's estimate `key`; 404 otherwise."""
    if not _ESTIMATE_KEY.match(key):
        raise Problem(404, "Not found", f"no estimate `{key}`")
    workflow_id = estimate_id(user.tenant, dag, key)
    try:
        desc = await request.app.state.temporal.get_workflow_handle(workflow_id).describe()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            raise Problem(404, "Not found", f"no estimate `{key}`") from None
        raise Problem(503, "Temporal unavailable", str(e), headers={"Retry-After": "5"}) from None
    memo = await desc.memo()
    marked = memo.get(ESTIMATE_MEMO_KEY)
    if not isinstance(marked, dict):
        raise Problem(404, "Not found", f"no estimate `{key}`")
    return workflow_id, str(marked.get("price_as") or "chain")


async def _run_params(client: Client, workflow_id: str) -> dict[str, Any]:
    """The params a run started with (its start event's input)."""
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        started = event.workflow_execution_started_event_attributes
        decoded = await client.data_converter.decode(list(started.input.payloads), [RunInput])
        if decoded and isinstance(decoded[0], RunInput):
            return dict(decoded[0].params)
        break
    return {}


@router.get("/workflows/{name}/estimate/{key}")
async def estimate_page(name: str, key: str, request: Request, user: Viewer) -> HTMLResponse:
    dag = _template(name)
    workflow_id, price_as = await _estimate_handle(request, user, dag, key)
    client: Client = request.app.state.temporal
    registry = default_registry()
    running_here = workflow_id in _drivers(request)
    if not running_here:
        # Started by another replica or before a restart: each look decides what waits.
        with contextlib.suppress(RPCError):
            await decide_waiting(client, workflow_id, dag, registry, {}, by=_decider(user))
    est: CostEstimate = await estimate_result(
        client, registry, dag, workflow_id, request.app.state.store, price_as=price_as
    )
    if est.status != "running":
        driver = _drivers(request).pop(workflow_id, None)
        if driver is not None and not driver.done():
            driver.cancel()  # it would only see the same next poll
    params = await _run_params(client, workflow_id)
    states = {s.step: s.status for s in est.steps}
    return await page(
        request,
        user,
        "workflows/estimate.html",
        {
            "dag": dag,
            "key": key,
            "est": est,
            "running": est.status == "running",
            "svg": render_dag_svg(dag, states),
            "launch_values": values_of(dag, params),
            "params": params,
            "can_launch": user.may("operator"),
        },
        section="workflows",
    )
