"""`bizos schedule create|list|delete|sync`: recurring runs as Temporal schedules.

The logic is in `starters.schedules`; this module parses options and prints. No crewai import.
"""

from __future__ import annotations

import json
from typing import TypeVar

import typer
from rich.table import Table

from activities.catalog.durations import parse_duration
from starters.output import (
    OutputFormat,
    console,
    emit,
    parse_json_object,
    run_command,
)
from workflows.spec import OverlapPolicy

T = TypeVar("T")

schedule_app = typer.Typer(
    help="Recurring runs as Temporal schedules: create, list, delete, sync with the specs.",
    no_args_is_help=True,
)

OutputOpt = typer.Option(OutputFormat.text, "--output", "-o", help="text, json or jsonl")


@schedule_app.command("create")
def create(
    template: str = typer.Argument(..., help="template name, e.g. performance_review"),
    schedule_id: str = typer.Argument(..., help="the Temporal schedule id, e.g. weekly-growth"),
    cron: list[str] = typer.Option(  # noqa: B008 - typer's idiom
        ..., "--cron", help='cron in UTC, repeatable: --cron "0 9 * * MON"'
    ),
    params: str = typer.Option("{}", "--params", "-p", help="JSON object, or @file.json"),
    tenant: str = typer.Option("default", "--tenant"),
    budget: float | None = typer.Option(None, "--budget", help="cost cap in USD per run"),
    jitter: str | None = typer.Option(None, "--jitter", help="random delay per run, e.g. 5m"),
    paused: bool = typer.Option(False, "--paused", help="create it paused"),
    overlap: OverlapPolicy = typer.Option(  # noqa: B008 - typer's idiom
        OverlapPolicy.skip, "--overlap", help="when a run is due while the last one runs"
    ),
    note: str = typer.Option("", "--note"),
    output: OutputFormat = OutputOpt,
) -> None:
    """Create a schedule by hand (`sync` leaves it alone; `delete` removes it)."""
    from pydantic import ValidationError

    from starters.schedules import ScheduleError, create_schedule, manual_request
    from worker.connection import connect
    from workflows.models import RunInput
    from workflows.registry import default_registry

    parsed = parse_json_object(params)

    async def go() -> str:
        dag = default_registry().by_name(template)
        try:
            run_input = RunInput(params=parsed, tenant=tenant, budget_usd=budget)
            every = parse_duration(jitter) if jitter else None
        except (ValidationError, ValueError) as e:
            raise ScheduleError(str(e)) from None
        req = manual_request(
            dag,
            schedule_id,
            cron,
            run_input,
            jitter=every,
            paused=paused,
            overlap=overlap,
            note=note,
        )
        client = await connect()
        await create_schedule(client, dag, req)
        return req.schedule_id

    created = run_command(go)
    if output is OutputFormat.text:
        console.print(f"created schedule {created}", highlight=False)
    else:
        emit({"schedule_id": created, "created": True}, output)


@schedule_app.command("list")
def list_cmd(
    include_others: bool = typer.Option(False, "--all", help="also schedules bizos did not make"),
    output: OutputFormat = OutputOpt,
) -> None:
    """bizos schedules: origin (spec or cli), template, cron, params, next runs."""
    from starters.schedules import ScheduleRow, list_schedules
    from worker.connection import connect

    async def go() -> list[ScheduleRow]:
        client = await connect()
        return await list_schedules(client, include_others=include_others)

    rows = run_command(go)
    if output is OutputFormat.jsonl:
        for row in rows:
            emit(row, output)
        return
    if output is OutputFormat.json:
        emit(rows, output)
        return
    table = Table("schedule", "origin", "template", "cron", "paused", "next run", "params")
    for r in rows:
        table.add_row(
            r.schedule_id,
            r.origin,
            r.template or r.workflow_type,
            ", ".join(r.cron),
            "yes" if r.paused else "",
            r.next_runs[0].isoformat() if r.next_runs else "",
            json.dumps(r.params, sort_keys=True) if r.params is not None else "",
        )
    console.print(table)


@schedule_app.command("delete")
def delete(
    schedule_id: str,
    force: bool = typer.Option(False, "--force", help="delete a schedule bizos did not make"),
    output: OutputFormat = OutputOpt,
) -> None:
    """Delete a schedule (runs it already started go on)."""
    from starters.schedules import delete_schedule
    from worker.connection import connect

    async def go() -> str:
        client = await connect()
        return await delete_schedule(client, schedule_id, force=force)

    origin = run_command(go)
    if output is not OutputFormat.text:
        emit({"schedule_id": schedule_id, "deleted": True, "origin": origin}, output)
        return
    console.print(f"deleted schedule {schedule_id}", highlight=False)
    if origin == "spec":
        console.print(
            "it comes back at the next `bizos schedule sync` unless its spec drops it",
            highlight=False,
        )


@schedule_app.command("sync")
def sync(
    dry_run: bool = typer.Option(False, "--dry-run", help="say what would change, change nothing"),
    output: OutputFormat = OutputOpt,
) -> None:
    """Create, update and delete the schedules the specs declare (`schedules:`); idempotent.
    Exits 1 when a schedule id is taken by one sync did not make."""
    from starters.schedules import SyncReport, sync_schedules
    from worker.connection import connect
    from workflows.registry import load_registry

    async def go() -> SyncReport:
        registry = load_registry()
        client = await connect()
        return await sync_schedules(client, registry, dry_run=dry_run)

    report = run_command(go)
    if output is not OutputFormat.text:
        emit(report, output)
    else:
        verb = "would be " if dry_run else ""
        for label, ids in (
            ("created", report.created),
            ("updated", report.updated),
            ("deleted", report.deleted),
        ):
            for sid in ids:
                console.print(f"{verb}{label} {sid}", highlight=False)
        for problem in report.conflicts:
            console.print(f"[red]conflict:[/] {problem}", highlight=False, soft_wrap=True)
        if not report.changed and not report.conflicts:
            console.print(
                f"{len(report.unchanged)} schedule(s) already match the specs", highlight=False
            )
    if report.conflicts:
        raise typer.Exit(1)
