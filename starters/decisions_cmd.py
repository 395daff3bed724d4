"""`bizos decisions <workflow-id>` and `bizos decisions --by <principal>`: the decision log (who
decided what, when, at which level and round, on which digest, through which path) from the
store, newest first; and `--digest auto` for the decision commands (the digest a waiting
step publishes in `progress`, read just before deciding)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from starters.output import OutputFormat, console, fail
from starters.tenants_cmd import _emit_rows, _with_store

if TYPE_CHECKING:
    from temporalio.client import Client

    from store import DecisionInfo, Store

OutputOpt = typer.Option(OutputFormat.text, "--output", "-o", help="text, json or jsonl")
DIGEST_AUTO = "auto"


def decisions(
    workflow_id: str | None = typer.Argument(None, help="a run's id (its tenant comes with it)"),
    by: str | None = typer.Option(None, "--by", help="one principal's decisions"),
    tenant: str | None = typer.Option(
        None, "--tenant", "-t", help="default: the run id's tenant, else `default`"
    ),
    step: str | None = typer.Option(None, "--step"),
    limit: int = typer.Option(100, "--limit", min=1, max=1000),
    output: OutputFormat = OutputOpt,
) -> None:
    """The decision log of a run, or of an approver (`--by`), newest first."""
    if workflow_id is None and by is None:
        fail("name a run (`bizos decisions <workflow-id>`) or an approver (`--by <principal>`)")
    owner = tenant or (workflow_id.split(".", 1)[0] if workflow_id else "default")

    async def go(store: Store) -> list[DecisionInfo]:
        return await store.list_decisions(
            owner, workflow_id=workflow_id, by=by, step=step, limit=limit
        )

    found = _with_store(go)
    if output is not OutputFormat.text:
        _emit_rows([d.model_dump(mode="json", exclude={"id"}) for d in found], output)
        return
    title = f"decisions of {workflow_id}" if workflow_id else f"decisions by {by} ({owner})"
    table = Table("at (UTC)", "step", "kind", "by", "via", "level", "round", "comment", title=title)
    if workflow_id is None:
        table.add_column("run")
    for d in found:
        kind = d.kind + (f" {d.option}" if d.option else "")
        level = str(d.level + 1) + (f" ({d.group})" if d.group else "")
        row = [
            d.at.strftime("%Y-%m-%d %H:%M:%S"),
            d.step,
            kind,
            d.by,
            d.via or "",
            level,
            str(d.round + 1),  # 1-based like the level, as `bizos status` shows rounds
            d.comment[:60],
        ]
        table.add_row(*row, *([d.workflow_id] if workflow_id is None else []))
    console.print(table)
    if not found:
        console.print("no decisions recorded", highlight=False)


async def resolve_digest(client: Client, workflow_id: str, step: str, digest: str | None) -> Any:
    """``--digest auto``: the digest the waiting step publishes now (what you would judge if
    you looked now); any other value is passed through as given."""
    if digest != DIGEST_AUTO:
        return digest
    from workflows.models import Progress

    progress = await client.get_workflow_handle(workflow_id).query("progress", result_type=Progress)
    found = next((s for s in progress.steps if s.id == step), None)
    if found is None:
        raise ValueError(f"{workflow_id} has no step {step}")
    if found.status != "waiting":
        raise ValueError(f"step {step} is not waiting for a decision (it is {found.status})")
    if found.digest is None:
        raise ValueError(f"step {step} publishes no digest (it binds no outputs): drop --digest")
    return found.digest
