"""`bizos artifacts get|ls|gc`: files and big outputs in the blob store, by reference.

Opens the store from the environment (``BIZOS_HOME``, ``BIZOS_DATABASE_URL``, the
``BIZOS_BLOB_*``/``BIZOS_S3_*`` settings); never talks to Temporal, never imports crewai.
`refs_in_step_outputs` is what `bizos status` lists: the refs a run's agent steps returned,
read from its Temporal history.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.table import Table

from starters.output import OutputFormat, console, emit, err_console, fail

if TYPE_CHECKING:
    from temporalio.client import Client

    from store import GcReport, Store
    from store.blobs import RecordedRef

T = TypeVar("T")

artifacts_app = typer.Typer(
    help="Files and big outputs in the blob store: get one, list a run's, collect garbage.",
    no_args_is_help=True,
)

OutputOpt = typer.Option(OutputFormat.text, "--output", "-o", help="text, json or jsonl")
GET_HINT = "fetch one: bizos artifacts get <ref> -o FILE"


async def refs_in_step_outputs(client: Client, workflow_id: str) -> dict[str, list[str]]:
    """``{step: [blob ref, ...]}``: every ``blob://`` string in the outputs the run's agent
    steps completed with (``step#i`` for a `foreach` item), in history order. Outputs
    stored by reference show the refs of their bounded view only."""
    from temporalio.api.enums.v1 import EventType

    from activities.contract import RUN_AGENT, AgentStepInput, AgentStepResult

    decode = client.data_converter.decode
    handle = client.get_workflow_handle(workflow_id)
    step_of: dict[int, str] = {}
    found: dict[str, list[str]] = {}
    async for e in handle.fetch_history_events():
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = e.activity_task_scheduled_event_attributes
            if attrs.activity_type.name == RUN_AGENT:
                [inp] = await decode(attrs.input.payloads, [AgentStepInput])
                item = "" if inp.item_index is None else f"#{inp.item_index}"
                step_of[e.event_id] = inp.step_id + item
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            done = e.activity_task_completed_event_attributes
            step = step_of.get(done.scheduled_event_id)
            if step is not None:
                [res] = await decode(done.result.payloads, [AgentStepResult])
                refs = _blob_strings([res.output, res.output_view])
                if refs:
                    found[step] = list(dict.fromkeys(refs))
    return found


def _blob_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value.startswith("blob://") else []
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [ref for v in value for ref in _blob_strings(v)]
    return []


def _with_store(action: Callable[[Store], Awaitable[T]]) -> T:
    """Run ``action`` on a freshly opened store; blob errors become one actionable line."""
    from store import Store
    from store.blobs import BlobError

    async def go() -> T:
        store = await Store.open()
        try:
            return await action(store)
        finally:
            await store.close()

    try:
        return asyncio.run(go())
    except BlobError as e:
        fail(str(e))
    except OSError as e:
        fail(f"{e.filename or ''}: {e.strerror or e}".lstrip(": "))
    raise AssertionError("unreachable")


@artifacts_app.command("get")
def get(
    ref: str = typer.Argument(..., help="blob://<tenant>/<sha256>/<filename>"),
    out: Path | None = typer.Option(  # noqa: B008 - typer's idiom
        None,
        "--out",
        "-o",
        help="file to write, or an existing directory (the ref's filename is used); "
        "default: standard output",
    ),
    tenant: str | None = typer.Option(None, "--tenant", help="refuse refs of any other tenant"),
) -> None:
    """Stream a blob to a file (verified, then renamed into place) or to standard output."""
    from store.blobs import BlobRef, MalformedBlobRef

    try:
        blob = BlobRef.parse(ref)
    except MalformedBlobRef as e:
        fail(str(e))
        return
    if out is None or str(out) == "-":

        async def to_stdout(store: Store) -> None:
            sink = sys.stdout.buffer
            async for chunk in store.open_blob(blob, tenant=tenant):
                sink.write(chunk)
            sink.flush()

        _with_store(to_stdout)
        return
    target = out / blob.filename if out.is_dir() else out

    async def to_file(store: Store) -> None:
        await store.blob_to_file(blob, target, tenant=tenant)

    _with_store(to_file)
    err_console.print(f"wrote {target}", highlight=False)


@artifacts_app.command("ls")
def ls(
    workflow_id: str = typer.Argument(..., help="the run's workflow id"),
    run_id: str | None = typer.Option(None, "--run-id", help="one run only (default: all)"),
    output: OutputFormat = OutputOpt,
) -> None:
    """The blob refs recorded for a run, with size and expiry."""

    async def load(store: Store) -> list[RecordedRef]:
        return await store.blobs.refs_for_run(workflow_id, run_id)

    rows = _with_store(load)
    if output is OutputFormat.jsonl:
        for r in rows:
            emit(r, output)
        return
    if output is OutputFormat.json:
        emit(rows, output)
        return
    table = Table("ref", "size", "run", "expires")
    for r in rows:
        size = "(collected)" if r.size is None else f"{r.size:,}"
        table.add_row(str(r.ref), size, r.run_id, r.expires_at.strftime("%Y-%m-%d %H:%M"))
    console.print(table)
    console.print(f"{len(rows)} refs for {workflow_id}", highlight=False)


@artifacts_app.command("gc")
def gc(
    dry_run: bool = typer.Option(False, "--dry-run", help="count what would go; delete nothing"),
    output: OutputFormat = OutputOpt,
) -> None:
    """Delete expired refs, then blobs nothing references and abandoned uploads."""

    async def collect(store: Store) -> GcReport:
        return await store.gc_blobs(dry_run=dry_run)

    r = _with_store(collect)
    if output is not OutputFormat.text:
        emit(r, output)
        return
    verb = "would delete" if dry_run else "deleted"
    console.print(
        f"{verb} {r.refs_deleted} expired refs, {r.blobs_deleted} blobs "
        f"({r.bytes_freed:,} bytes), {r.stale_uploads_deleted} abandoned uploads",
        highlight=False,
    )
