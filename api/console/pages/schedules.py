"""The tenant's schedules: list (spec, params, paused, next runs, recent runs), create from a
form (template, cron or interval, params as JSON checked against the template's params with
each problem naming its field), pause, unpause, trigger now, delete. The /v1 inner functions
do the work, so the console and the API apply the same rules (tenant scope, audit)."""

from __future__ import annotations

import contextlib
import json
import re
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from api.console.render import page, redirect
from api.console.session import ConsoleUser, Operator, Viewer
from api.problems import Problem
from api.routes.schedules import (
    SCHEDULE_ID_PATTERN,
    CreateSchedule,
    create_tenant_schedule,
    delete_tenant_schedule,
    pause_tenant_schedule,
    short_id,
    tenant_schedule,
    tenant_schedules,
    trigger_tenant_schedule,
)
from starters.schedules import ScheduleRow
from workflows.compiler import cron_problem
from workflows.registry import default_registry

router = APIRouter()
_SHORT_ID = re.compile(SCHEDULE_ID_PATTERN)
_INTERVAL = re.compile(r"^\s*(\d+)\s*([mhd])\s*$")
# Intervals become cron expressions (what schedules made here carry), so only those that
# divide an hour or a day evenly: they fire at the same clock times every day.
INTERVALS = ("5m", "10m", "15m", "20m", "30m", "1h", "2h", "3h", "4h", "6h", "8h", "12h", "1d")
NOTE_LIMIT = 500


def interval_cron(text: str) -> str:
    """`15m` → `*/15 * * * *`, `2h` → `0 */2 * * *`, `1d` → `0 0 * * *`; ValueError else."""
    found = _INTERVAL.match(text)
    if not found:
        raise ValueError(
            f"write an interval as minutes, hours or days: one of {', '.join(INTERVALS)}"
        )
    n, unit = int(found.group(1)), found.group(2)
    if unit == "m" and n in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30):
        return "* * * * *" if n == 1 else f"*/{n} * * * *"
    if (unit == "m" and n == 60) or (unit == "h" and n == 1):
        return "0 * * * *"
    if unit == "h" and n in (2, 3, 4, 6, 8, 12):
        return f"0 */{n} * * *"
    if (unit == "h" and n == 24) or (unit == "d" and n == 1):
        return "0 0 * * *"
    raise ValueError(
        f"`{text.strip()}` does not divide an hour or a day evenly; use one of "
        f"{', '.join(INTERVALS)}, or a cron expression"
    )


def _templates() -> list[dict[str, Any]]:
    out = []
    for dag in sorted(default_registry().current.values(), key=lambda d: d.name):
        props = dag.params_model.model_json_schema().get("properties", {})
        out.append({"name": dag.name, "params": sorted(props)})
    return out


def _view(user: ConsoleUser, row: ScheduleRow) -> dict[str, Any]:
    return {
        "id": short_id(user, row.schedule_id),
        "full_id": row.schedule_id,
        "template": row.template or row.workflow_type,
        "cron": row.cron,
        "params": json.dumps(row.params, sort_keys=True) if row.params is not None else "",
        "paused": row.paused,
        "note": row.note,
        "next_runs": row.next_runs,
        "recent_runs": [r for r in row.recent_runs if r][-5:],
        "running": [r for r in row.running if r],
        "origin": row.origin,
    }


async def _render(
    request: Request,
    user: ConsoleUser,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, list[str]] | None = None,
    created: str = "",
    status: int = 200,
) -> HTMLResponse:
    rows = await tenant_schedules(request, user)
    # visibility lags a moment behind a create: the one just made is shown anyway
    if created and not any(short_id(user, r.schedule_id) == created for r in rows):
        with contextlib.suppress(Problem):  # deleted meanwhile, or not an id of ours
            rows.append(await tenant_schedule(request, user, created))
    return await page(
        request,
        user,
        "schedules/list.html",
        {
            "rows": [_view(user, r) for r in sorted(rows, key=lambda r: r.schedule_id)],
            "templates": _templates(),
            "intervals": INTERVALS,
            "form": form or {"params": "{}"},
            "errors": errors or {},
            "can_edit": user.may("operator"),
            "id_pattern": SCHEDULE_ID_PATTERN,
        },
        status=status,
        section="schedules",
    )


@router.get("/schedules")
async def schedules_page(request: Request, user: Viewer, created: str = "") -> HTMLResponse:
    return await _render(request, user, created=created)


def _check(form: dict[str, str]) -> tuple[CreateSchedule | None, dict[str, list[str]]]:
    """The form as a `CreateSchedule`, or the problems by field (nothing is created then)."""
    errors: dict[str, list[str]] = {}

    def bad(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    template = form.get("template", "")
    dag = None
    with contextlib.suppress(KeyError):
        dag = default_registry().by_name(template) if template else None
    if dag is None:
        bad("template", "choose a template" if not template else f"no template `{template}`")
    schedule_id = form.get("schedule_id", "").strip()
    if not schedule_id and template:
        schedule_id = f"{template.replace('_', '-')[:50]}-{secrets.token_hex(3)}"
        form["schedule_id"] = schedule_id
    if not _SHORT_ID.match(schedule_id):
        bad(
            "schedule_id",
            "lowercase letters, digits, `-` and `_`, starting with a letter or digit, "
            "at most 63 characters",
        )
    cron_text, interval = form.get("cron", "").strip(), form.get("interval", "").strip()
    crons: list[str] = []
    if cron_text and interval:
        bad("cron", "give a cron expression or an interval, not both")
    elif cron_text:
        lines = [c.strip() for c in cron_text.splitlines() if c.strip()]
        if len(lines) > 10:
            bad("cron", "at most 10 cron expressions")
        for expr in lines:
            problem = cron_problem(expr)
            if problem:
                bad("cron", f"`{expr}`: {problem}")
        crons = lines
    elif interval:
        try:
            crons = [interval_cron(interval)]
        except ValueError as e:
            bad("interval", str(e))
    else:
        bad("cron", 'give a cron expression (e.g. "0 9 * * MON") or choose an interval')
    params: dict[str, Any] = {}
    raw = form.get("params", "").strip() or "{}"
    try:
        loaded = json.loads(raw)
    except json.JSONDecodeError as e:
        bad("params", f"not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})")
    else:
        if not isinstance(loaded, dict):
            bad("params", 'params must be a JSON object, e.g. {"topic": "weekly"}')
        else:
            params = loaded
            if dag is not None:
                try:
                    dag.params_model.model_validate(params)
                except ValidationError as e:
                    for err in e.errors():
                        field = ".".join(str(p) for p in err["loc"]) or "params"
                        if err["type"] == "extra_forbidden":
                            bad("params", f"`{field}`: not a param of {dag.name}")
                        elif err["type"] == "missing":
                            bad("params", f"`{field}`: required")
                        else:
                            bad("params", f"`{field}`: {err['msg']}")
    note = form.get("note", "")
    if len(note) > NOTE_LIMIT:
        bad("note", f"at most {NOTE_LIMIT} characters")
    if errors:
        return None, errors
    return (
        CreateSchedule(
            schedule_id=schedule_id,
            template=template,
            cron=crons,
            params=params,
            paused=form.get("paused") == "on",
            note=note,
        ),
        {},
    )


@router.post("/schedules")
async def create_from_form(request: Request, user: Operator) -> Response:
    raw = await request.form()
    form = {
        k: str(raw.get(k) or "")
        for k in ("template", "schedule_id", "cron", "interval", "params", "note", "paused")
    }
    body, errors = _check(form)
    if body is None:
        return await _render(request, user, form=form, errors=errors, status=422)
    try:
        await create_tenant_schedule(request, user, body)
    except Problem as e:
        field = {404: "template", 409: "schedule_id"}.get(e.status, "form")
        return await _render(request, user, form=form, errors={field: [e.detail]}, status=e.status)
    return await redirect(
        request,
        user,
        f"/admin/schedules?created={body.schedule_id}",
        f"Schedule `{body.schedule_id}` created"
        + (" (paused)" if body.paused else f": {', '.join(body.cron)} (UTC)"),
    )


async def _act(request: Request, user: ConsoleUser, schedule_id: str, action: str) -> Response:
    try:
        if action == "pause":
            await pause_tenant_schedule(request, user, schedule_id, paused=True)
            message = f"Schedule `{schedule_id}` paused: it starts nothing until unpaused"
        elif action == "unpause":
            await pause_tenant_schedule(request, user, schedule_id, paused=False)
            message = f"Schedule `{schedule_id}` unpaused"
        elif action == "trigger":
            row = await trigger_tenant_schedule(request, user, schedule_id)
            message = f"Schedule `{schedule_id}` triggered: a run starts now"
            if row.running:
                message += " (unless the schedule skips overlapping runs: one is still going)"
        else:
            await delete_tenant_schedule(request, user, schedule_id)
            message = f"Schedule `{schedule_id}` deleted"
    except Problem as e:
        if e.status == 404:
            raise
        return await redirect(request, user, "/admin/schedules", e.detail, kind="error")
    return await redirect(request, user, "/admin/schedules", message)


@router.post("/schedules/{schedule_id}/pause")
async def pause(schedule_id: str, request: Request, user: Operator) -> Response:
    return await _act(request, user, schedule_id, "pause")


@router.post("/schedules/{schedule_id}/unpause")
async def unpause(schedule_id: str, request: Request, user: Operator) -> Response:
    return await _act(request, user, schedule_id, "unpause")


@router.post("/schedules/{schedule_id}/trigger")
async def trigger(schedule_id: str, request: Request, user: Operator) -> Response:
    return await _act(request, user, schedule_id, "trigger")


@router.post("/schedules/{schedule_id}/delete")
async def delete(schedule_id: str, request: Request, user: Operator) -> Response:
    return await _act(request, user, schedule_id, "delete")
