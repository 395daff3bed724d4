"""Following one run from the terminal: a live progress view, decisions, the result.

One `progress` query every half second for the run being watched: fine for a person at a
terminal (never use one poller per run to follow thousands of runs; list by search attribute).
"""

from __future__ import annotations

import asyncio
import getpass
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import CancelledError
from temporalio.service import RPCError

from starters.output import OutputFormat, console, emit
from starters.runs import decide
from workflows.models import Decision, Progress, RunResult, StepProgress

POLL_S = 0.5
STYLE = {
    "pending": ("·", "dim"),
    "running": ("▶", "cyan"),
    "waiting": ("⏸", "yellow"),
    "succeeded": ("✔", "green"),
    "rejected": ("✘", "magenta"),
    "failed": ("✘", "red"),
    "cancelled": ("⊘", "yellow"),
    "skipped": ("↷", "dim"),
}


def progress_table(p: Progress) -> Table:
    table = Table(title=f"{p.template} v{p.version} — {p.status}", title_justify="left")
    for col in ("step", "kind", "status", "tries", "cost", "detail"):
        table.add_column(col, no_wrap=col != "detail")
    for s in p.steps:
        icon, style = STYLE.get(s.status, ("?", ""))
        detail = s.error or (s.prompt if s.status == "waiting" else s.summary) or ""
        if s.items is not None:
            detail = f"{s.items_done}/{s.items} items · {detail}"
        if s.tool_failures:
            detail += f" ⚠ {s.tool_failures} tool call(s) failed: {', '.join(s.failed_tools)}"
        if s.decision is not None:
            verdict = s.decision.option or ("approved" if s.decision.approved else "rejected")
            detail = f"{verdict} by {s.decision.by}" + (
                f": {s.decision.comment}" if s.decision.comment else ""
            )
        detail = "\n".join([detail, *people_lines(s)])
        table.add_row(
            s.id,
            s.kind,
            Text(f"{icon} {s.status}", style=style),
            str(s.attempts or ""),
            f"${s.cost_usd:.2f}" if s.cost_usd else "",
            detail,
        )
    budget = f" of ${p.budget_usd:.2f}" if p.budget_usd else ""
    table.caption = f"spent ${p.cost_usd:.2f}{budget}"
    return table


def people_lines(s: StepProgress) -> list[str]:
    """Escalation level, revise round, digest and every decision of a people step (and the
    earlier rounds of a step a revise re-ran)."""
    lines = []
    if s.status == "waiting" and s.levels:
        who = ", ".join(s.approvers) if s.approvers is not None else "any approver"
        until = f" until {s.deadline:%Y-%m-%d %H:%M} UTC" if s.deadline else ""
        lines.append(f"level {(s.level or 0) + 1}/{s.levels} {s.group or ''} ({who}){until}")
    if s.status == "waiting" and s.digest:
        lines.append(f"digest {s.digest}")
    if s.round or s.max_revisions:
        left = f" of {s.max_revisions + 1}" if s.max_revisions else ""
        lines.append(f"round {s.round + 1}{left}")
    for move in s.escalations:
        lines.append(
            f"escalated {move.from_group or '-'} → {move.to_group or '-'} at {move.at:%H:%M:%S}"
        )
    for d in s.decisions:
        said = f": {d.comment}" if d.comment else ""
        lines.append(
            f"{d.decision} by {d.by} via {d.via or '-'} (level {d.level + 1}, round "
            f"{d.round + 1}) at {d.at:%H:%M:%S}{said}"
            if d.at
            else f"{d.decision} by {d.by}"
        )
    for r in s.rounds:
        lines.append(f"round {r['round'] + 1}: {r['summary']} (${r['cost_usd']:.4f})")
    return lines


def how_to_decide(workflow_id: str, s: StepProgress) -> str:
    if s.waiting_for == "choice":
        opts = "|".join(s.options or [])
        return (
            f"  {s.id}: {s.prompt}\n"
            f"    bizos choose {workflow_id} {s.id} <{opts}>\n"
            f"    temporal workflow signal --workflow-id {workflow_id} --name choose "
            f'--input \'{{"step": "{s.id}", "option": "<option>"}}\''
        )
    return (
        f"  {s.id}: {s.prompt}\n"
        f"    bizos approve {workflow_id} {s.id}   (or: bizos reject {workflow_id} {s.id})\n"
        f"    temporal workflow signal --workflow-id {workflow_id} --name approve "
        f'--input \'{{"step": "{s.id}"}}\''
    )


def auto_decision(s: StepProgress) -> Decision:
    who = f"{getpass.getuser()} (--auto-approve)"
    if s.waiting_for == "choice":
        return Decision(
            step=s.id,
            decision="choose",
            option=(s.options or [""])[0],
            by=who,
            digest=s.digest,
            via="cli",
        )
    # what the step binds its decision to is what this run shows now: its digest goes along
    return Decision(step=s.id, decision="approve", by=who, digest=s.digest, via="cli")


async def follow(
    handle: WorkflowHandle[Any, Any],
    *,
    auto_approve: bool,
    fmt: OutputFormat,
    ui_url: str | None,
) -> RunResult | None:
    """Watch the run to its end; returns its result (None when it failed or was cancelled)."""
    client = handle._client  # the handle's own client: same connection and converter
    told: set[str] = set()
    last: dict[str, str] = {}
    live: Live | None = None
    if fmt is OutputFormat.text and console.is_terminal:
        live = Live(console=console, refresh_per_second=8, transient=False)
        live.start()
    try:
        while True:
            try:
                progress: Progress = await handle.query("progress", result_type=Progress)
            except RPCError as e:
                raise RuntimeError(f"cannot query {handle.id}: {e.message}") from None
            notes: list[str] = []
            for s in progress.steps:
                if last.get(s.id) != s.status:
                    last[s.id] = s.status
                    if fmt is OutputFormat.jsonl:
                        emit(
                            {
                                "event": "step",
                                "step": s.id,
                                "status": s.status,
                                "summary": s.summary,
                                "error": s.error,
                            },
                            fmt,
                        )
                    elif live is None and fmt is OutputFormat.text:
                        icon, style = STYLE.get(s.status, ("?", ""))
                        console.print(
                            f"[{style}]{icon} {s.id}: {s.status}[/]"
                            + (f" — {s.error}" if s.error else ""),
                            highlight=False,
                        )
                asked = f"{s.id}:{s.level}:{s.round}"  # again at each escalation level and round
                if s.status != "waiting" or asked in told:
                    continue
                told.add(asked)
                if auto_approve:
                    receipt = await decide(client, handle.id, auto_decision(s))
                    notes.append(
                        f"waiting for a person — a person would run:\n"
                        f"{how_to_decide(handle.id, s)}\n"
                        f"auto-decided {s.id}: {receipt.option or receipt.decision}"
                    )
                else:
                    notes.append(f"waiting for a person:\n{how_to_decide(handle.id, s)}")
            if live is not None:
                live.update(Group(progress_table(progress), *[Text(n) for n in notes]))
                for n in notes:
                    live.console.print(n, highlight=False)
            elif fmt is OutputFormat.text:
                for n in notes:
                    console.print(n, highlight=False)
            if progress.status != "running":
                if live is None and fmt is OutputFormat.text:
                    console.print(progress_table(progress))  # the final picture, once
                break
            await asyncio.sleep(POLL_S)  # a person is watching: refresh twice a second
        try:
            raw = await handle.result()
            result = raw if isinstance(raw, RunResult) else RunResult.model_validate(raw)
        except WorkflowFailureError as e:
            cause = e.cause
            cancelled = isinstance(cause, CancelledError)
            message = "cancelled" if cancelled else getattr(cause, "message", None) or str(cause)
            event = "cancelled" if cancelled else "failed"
            if fmt is OutputFormat.text:
                console.print(f"[bold red]run {event}:[/] {message}", highlight=False)
                console.print(f"resume it from where it stopped: bizos resume {handle.id}")
            else:
                emit({"event": event, "workflow_id": handle.id, "error": message}, fmt)
            return None
    finally:
        if live is not None:
            live.stop()
    if fmt is OutputFormat.text:
        console.print(
            f"[bold green]run completed[/] {handle.id} — ${result.cost_usd:.2f}", highlight=False
        )
        if ui_url:
            console.print(f"Web UI: {ui_url}", highlight=False)
    else:
        emit(
            {"event": "completed", "workflow_id": handle.id, "result": result}
            if fmt is OutputFormat.jsonl
            else result,
            fmt,
        )
    return result
