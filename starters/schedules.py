"""Recurring runs as real Temporal schedules: create, list, delete, and sync with the specs.

A schedule's action starts the template exactly as `bizos start` does (`RunInput`, the
`bizos_spec` memo pin, search attributes, execution timeout, summary: `start_options()`),
so a scheduled run is a normal run. Never the legacy `cron_schedule=` start option: schedules
are visible and controllable in the Web UI and with `temporal schedule …`.

Ownership. Every schedule bizos makes carries the memo `bizos_schedule` with its origin:
`spec` (declared under `schedules:` in a spec, id `bizos.<template>.<schedule id>`, kept in
step by `sync`) or `cli` (made by `bizos schedule create`). `sync` creates, updates and
deletes only `spec` schedules; anything else in the namespace is left alone. The action's memo
holds a fingerprint of what the spec asked for, so `sync` updates a schedule only when the
spec (or the template version it pins) changed — a second sync changes nothing, and a person's
pause in the Web UI survives until the spec itself changes.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleState,
    ScheduleUpdate,
)
from temporalio.client import ScheduleSpec as TemporalScheduleSpec
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from starters.runs import start_options
from workflows import search_attributes as sa
from workflows.compiler import CompiledDag, cron_problem, params_error_lines
from workflows.models import SPEC_MEMO_KEY, RunInput
from workflows.registry import SpecRegistry
from workflows.spec import OverlapPolicy

SCHEDULE_MEMO_KEY = "bizos_schedule"
SYNC_PREFIX = "bizos."
# A run missed while the server was down still starts if the server is back within a day;
# older misses are dropped rather than started in a burst.
CATCHUP_WINDOW = timedelta(days=1)

Origin = Literal["spec", "cli"]


class ScheduleError(ValueError):
    """A schedule cannot be created, changed or deleted; the message says what to do."""


class ScheduleRequest(BaseModel):
    """What one bizos schedule should be: from a spec's `schedules:` or `bizos schedule create`."""

    schedule_id: str = Field(min_length=1, max_length=200)
    template: str
    origin: Origin
    name: str = Field(description="spec schedule id, or the schedule id for `cli` ones")
    cron: list[str] = Field(min_length=1)
    run_input: RunInput
    jitter: timedelta | None = None
    paused: bool = False
    overlap: OverlapPolicy = OverlapPolicy.skip
    note: str = ""

    def fingerprint(self, dag: CompiledDag) -> str:
        """Changes when the spec's schedule or the template version it starts changes."""
        body = {"request": self.model_dump(mode="json"), "pin": dag.pin}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class ScheduleRow(BaseModel):
    """One schedule as `bizos schedule list` shows it."""

    schedule_id: str
    origin: Literal["spec", "cli", "other"]
    workflow_type: str
    template: str | None = None
    tenant: str | None = None
    cron: list[str] = Field(default_factory=list)
    params: dict[str, Any] | None = None
    paused: bool = False
    note: str = ""
    next_runs: list[datetime] = Field(default_factory=list)
    recent_runs: list[str] = Field(default_factory=list, description="workflow ids, newest last")
    running: list[str] = Field(default_factory=list)
    fingerprint: str | None = None


class SyncReport(BaseModel):
    """What `bizos schedule sync` did (or, with dry_run, would do)."""

    created: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    deleted: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
    conflicts: list[str] = Field(default_factory=list)
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)


# ---------------------------------------------------------------- requests


def spec_schedule_id(template: str, name: str) -> str:
    return f"{SYNC_PREFIX}{template}.{name}"


def requests_from_registry(registry: SpecRegistry) -> list[ScheduleRequest]:
    """Every schedule the current specs declare (frozen versions declare none that count)."""
    requests = []
    for dag in sorted(registry.current.values(), key=lambda d: d.name):
        for s in dag.spec.schedules:
            requests.append(
                ScheduleRequest(
                    schedule_id=spec_schedule_id(dag.name, s.id),
                    template=dag.name,
                    origin="spec",
                    name=s.id,
                    cron=list(s.cron),
                    run_input=RunInput(params=s.params, tenant=s.tenant),
                    jitter=s.jitter,
                    paused=s.paused,
                    overlap=s.overlap,
                    note=s.note,
                )
            )
    return requests


def manual_request(
    dag: CompiledDag,
    schedule_id: str,
    cron: list[str],
    run_input: RunInput,
    *,
    jitter: timedelta | None = None,
    paused: bool = False,
    overlap: OverlapPolicy = OverlapPolicy.skip,
    note: str = "",
) -> ScheduleRequest:
    """A hand-made schedule, checked like a spec's: cron parses, params fit the contract."""
    if schedule_id.startswith(SYNC_PREFIX):
        raise ScheduleError(
            f"schedule ids starting with `{SYNC_PREFIX}` belong to `bizos schedule sync`; "
            f"declare it under `schedules:` in {dag.name}'s spec, or pick another id"
        )
    if not cron:
        raise ScheduleError('give at least one --cron, e.g. --cron "0 9 * * MON"')
    for expr in cron:
        problem = cron_problem(expr)
        if problem:
            raise ScheduleError(f"cron `{expr}`: {problem}")
    try:
        dag.params_model.model_validate(run_input.params)
    except ValidationError as e:
        raise ScheduleError(f"{dag.name}: " + "; ".join(params_error_lines(e))) from None
    return ScheduleRequest(
        schedule_id=schedule_id,
        template=dag.name,
        origin="cli",
        name=schedule_id,
        cron=cron,
        run_input=run_input,
        jitter=jitter,
        paused=paused,
        overlap=overlap,
        note=note,
    )


# ---------------------------------------------------------------- Temporal objects


def build_schedule(dag: CompiledDag, req: ScheduleRequest) -> Schedule:
    """The Temporal schedule: its action is a `bizos start` of the template."""
    # Temporal appends the scheduled time to this id, so runs read
    # `<tenant>.<template>.<name>-2026-01-05T09:00:00Z`.
    opts = start_options(dag, req.run_input, f"{req.run_input.tenant}.{dag.name}.{req.name}")
    memo = {
        **opts["memo"],
        SCHEDULE_MEMO_KEY: {
            "schedule_id": req.schedule_id,
            "origin": req.origin,
            "cron": req.cron,
            "fingerprint": req.fingerprint(dag),
        },
    }
    default_note = (
        f"kept in step with dag_specs/{dag.name}.yaml by `bizos schedule sync`; edit the spec"
        if req.origin == "spec"
        else "made with `bizos schedule create`"
    )
    return Schedule(
        action=ScheduleActionStartWorkflow(
            dag.workflow_type,
            req.run_input,
            id=opts["id"],
            task_queue=opts["task_queue"],
            execution_timeout=opts["execution_timeout"],
            memo=memo,
            typed_search_attributes=opts["search_attributes"],
            static_summary=opts["static_summary"],
            static_details=opts["static_details"] + f"  \n**Schedule** `{req.schedule_id}`",
        ),
        spec=TemporalScheduleSpec(cron_expressions=list(req.cron), jitter=req.jitter),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy[req.overlap.name.upper()],
            catchup_window=CATCHUP_WINDOW,
        ),
        state=ScheduleState(note=req.note or default_note, paused=req.paused),
    )


def _schedule_search_attributes(req: ScheduleRequest) -> TypedSearchAttributes:
    # `temporal schedule list --query "BizosTemplate = '…'"` finds a template's schedules.
    return TypedSearchAttributes(
        [
            SearchAttributePair(sa.TEMPLATE, req.template),
            SearchAttributePair(sa.TENANT, req.run_input.tenant),
        ]
    )


async def create_schedule(client: Client, dag: CompiledDag, req: ScheduleRequest) -> ScheduleHandle:
    try:
        return await client.create_schedule(
            req.schedule_id,
            build_schedule(dag, req),
            memo={SCHEDULE_MEMO_KEY: {"origin": req.origin, "template": req.template}},
            search_attributes=_schedule_search_attributes(req),
        )
    except ScheduleAlreadyRunningError:
        raise ScheduleError(
            f"schedule `{req.schedule_id}` already exists; delete it first "
            f"(`bizos schedule delete {req.schedule_id}`) or pick another id"
        ) from None


async def _update_schedule(client: Client, dag: CompiledDag, req: ScheduleRequest) -> None:
    new = build_schedule(dag, req)
    await client.get_schedule_handle(req.schedule_id).update(
        lambda _: ScheduleUpdate(schedule=new, search_attributes=_schedule_search_attributes(req))
    )


async def describe_schedule(client: Client, schedule_id: str) -> ScheduleDescription | None:
    try:
        return await client.get_schedule_handle(schedule_id).describe()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def _origin(desc: ScheduleDescription) -> str:
    marker = (await desc.memo()).get(SCHEDULE_MEMO_KEY)
    return str(marker.get("origin")) if isinstance(marker, dict) else "other"


def _action_memo(client: Client, desc: ScheduleDescription) -> dict[str, Any]:
    action = desc.schedule.action
    if not isinstance(action, ScheduleActionStartWorkflow) or not action.memo:
        return {}
    conv = client.data_converter.payload_converter
    # Described schedules carry raw payloads; one built here carries plain values.
    return {
        key: conv.from_payload(value) if isinstance(value, Payload) else value
        for key, value in action.memo.items()
    }


def _action_input(client: Client, desc: ScheduleDescription) -> RunInput | None:
    action = desc.schedule.action
    if not isinstance(action, ScheduleActionStartWorkflow) or len(action.args) != 1:
        return None
    arg = action.args[0]
    if isinstance(arg, RunInput):
        return arg
    if not isinstance(arg, Payload):
        return None
    try:
        return client.data_converter.payload_converter.from_payload(arg, RunInput)
    except Exception:  # a hand-made schedule may start a workflow with any input
        return None


# ---------------------------------------------------------------- list / delete


async def describe_row(client: Client, desc: ScheduleDescription, origin: str) -> ScheduleRow:
    action = desc.schedule.action
    workflow_type = action.workflow if isinstance(action, ScheduleActionStartWorkflow) else "?"
    memo = _action_memo(client, desc)
    marker = memo.get(SCHEDULE_MEMO_KEY) or {}
    pin = memo.get(SPEC_MEMO_KEY) or {}
    run_input = _action_input(client, desc)
    return ScheduleRow(
        schedule_id=desc.id,
        origin=origin if origin in ("spec", "cli") else "other",  # type: ignore[arg-type]
        workflow_type=workflow_type,
        template=pin.get("name"),
        tenant=run_input.tenant if run_input else None,
        cron=list(marker.get("cron") or desc.schedule.spec.cron_expressions),
        params=run_input.params if run_input else None,
        paused=desc.schedule.state.paused,
        note=desc.schedule.state.note or "",
        next_runs=list(desc.info.next_action_times[:3]),
        recent_runs=[getattr(a.action, "workflow_id", "") for a in desc.info.recent_actions],
        running=[getattr(a, "workflow_id", "") for a in desc.info.running_actions],
        fingerprint=marker.get("fingerprint"),
    )


async def list_schedules(client: Client, *, include_others: bool = False) -> list[ScheduleRow]:
    """bizos schedules (and with include_others every schedule of the namespace), by id.

    The list comes from visibility, which lags a moment behind creates and deletes; each
    entry is then described (strongly consistent) for its details."""
    rows = []
    async for entry in await client.list_schedules():
        marker = (await entry.memo()).get(SCHEDULE_MEMO_KEY)
        origin = str(marker.get("origin")) if isinstance(marker, dict) else "other"
        if origin == "other" and not include_others:
            continue
        desc = await describe_schedule(client, entry.id)
        if desc is not None:
            rows.append(await describe_row(client, desc, origin))
    return sorted(rows, key=lambda r: r.schedule_id)


async def delete_schedule(client: Client, schedule_id: str, *, force: bool = False) -> str:
    """Delete one schedule; returns its origin. Refuses schedules bizos did not make unless
    forced; a deleted `spec` schedule comes back at the next sync unless the spec drops it."""
    desc = await describe_schedule(client, schedule_id)
    if desc is None:
        raise ScheduleError(f"no schedule `{schedule_id}` (see `bizos schedule list --all`)")
    origin = await _origin(desc)
    if origin == "other" and not force:
        raise ScheduleError(
            f"schedule `{schedule_id}` was not made by bizos; pass --force to delete it anyway"
        )
    await client.get_schedule_handle(schedule_id).delete()
    return origin


# ---------------------------------------------------------------- sync


async def sync_schedules(
    client: Client, registry: SpecRegistry, *, dry_run: bool = False
) -> SyncReport:
    """Make the namespace's `spec` schedules match the specs: create the missing, update the
    changed, delete those no spec declares. Idempotent; other schedules are never touched."""
    report = SyncReport(dry_run=dry_run)
    wanted = {r.schedule_id: r for r in requests_from_registry(registry)}
    for schedule_id, req in wanted.items():
        dag = registry.by_name(req.template)
        # describe, not the (eventually consistent) list: a schedule created a moment ago
        # by a previous sync must be seen, or this one would try to create it again.
        desc = await describe_schedule(client, schedule_id)
        if desc is None:
            if not dry_run:
                await create_schedule(client, dag, req)
            report.created.append(schedule_id)
        elif await _origin(desc) != "spec":
            report.conflicts.append(
                f"{schedule_id}: a schedule with this id exists but `bizos schedule sync` did "
                f"not make it; delete or rename it (`temporal schedule delete --schedule-id "
                f"{schedule_id}`) and sync again"
            )
        elif (_action_memo(client, desc).get(SCHEDULE_MEMO_KEY) or {}).get(
            "fingerprint"
        ) == req.fingerprint(dag):
            report.unchanged.append(schedule_id)
        else:
            if not dry_run:
                await _update_schedule(client, dag, req)
            report.updated.append(schedule_id)
    async for entry in await client.list_schedules():
        if entry.id in wanted or not entry.id.startswith(SYNC_PREFIX):
            continue
        marker = (await entry.memo()).get(SCHEDULE_MEMO_KEY)
        if not (isinstance(marker, dict) and marker.get("origin") == "spec"):
            continue
        desc = await describe_schedule(client, entry.id)
        if desc is None:  # already gone; the list lags behind deletes
            continue
        if not dry_run:
            try:
                await client.get_schedule_handle(entry.id).delete()
            except RPCError as e:
                if e.status != RPCStatusCode.NOT_FOUND:
                    raise
                continue
        report.deleted.append(entry.id)
    for bucket in (report.created, report.updated, report.deleted, report.unchanged):
        bucket.sort()
    return report
