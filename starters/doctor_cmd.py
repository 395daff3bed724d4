"""`bizos doctor [--online] [--timeout S] [-o json]`: check every dependency of the platform
(`starters.doctor`), print what is wrong and the command that fixes it, exit 1 on a failure.
The first step of every incident (docs/operations.md)."""

from __future__ import annotations

import asyncio

import typer

from starters.output import OutputFormat, console, emit

OutputOpt = typer.Option(OutputFormat.text, "--output", "-o", help="text, json or jsonl")
OnlineOpt = typer.Option(
    False, "--online", help="also call each provider that has a key (lists its models: no tokens)"
)
TimeoutOpt = typer.Option(5.0, "--timeout", min=0.1, help="seconds each check may take")

MARKS = {
    "ok": "[green]ok  [/]",
    "warn": "[yellow]warn[/]",
    "skip": "[dim]skip[/]",
    "fail": "[bold red]FAIL[/]",
}


def doctor(
    online: bool = OnlineOpt,
    timeout: float = TimeoutOpt,
    output: OutputFormat = OutputOpt,
) -> None:
    """Check Temporal (and its search attributes), the database and migrations, the blob
    store, Redis, Vault and each configured LLM provider; print each problem's fix."""
    from starters.doctor import run_checks

    report = asyncio.run(run_checks(timeout, online=online))
    if output is not OutputFormat.text:
        emit(report.as_json(), output)
    else:
        width = max(len(c.name) for c in report.checks)
        for c in report.checks:
            console.print(f"{MARKS[c.status]} {c.name:<{width}}  ", end="", highlight=False)
            console.print(c.detail, markup=False, highlight=False)
            if c.fix and c.status in ("fail", "warn"):
                console.print(f"     {'':<{width}}  fix: ", end="", highlight=False)
                console.print(c.fix, markup=False, highlight=False)
        failed = [c.name for c in report.checks if c.status == "fail"]
        if failed:
            console.print(f"[bold red]{len(failed)} failed:[/] {', '.join(failed)}")
        else:
            console.print("[green]all checks passed[/]")
    if not report.ok:
        raise typer.Exit(1)
