"""`bizos specs list|validate|show|freeze|cost`: no crewai import (`cost` runs the template
as an estimate on the connected Temporal, see `starters.estimate`)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from starters.output import OutputFormat, console, emit, fail
from workflows.compiler import CompileError, compile_file
from workflows.registry import SpecRegistry, load_registry, spec_dirs

specs_app = typer.Typer(
    help="Workflow templates (DAG specs): list, validate, show, freeze, cost.",
    no_args_is_help=True,
)

OutputOpt = typer.Option(OutputFormat.text, "--output", "-o", help="text, json or jsonl")


def _registry() -> SpecRegistry:
    try:
        return load_registry()
    except CompileError as e:
        fail("the specs do not compile:\n" + "\n".join(e.problems))
        raise  # unreachable: fail() exits


@specs_app.command("list")
def list_specs(output: OutputFormat = OutputOpt) -> None:
    """Every template with its version, workflow type, steps and description."""
    reg = _registry()
    rows: list[dict[str, Any]] = [
        {
            "name": d.name,
            "version": d.version,
            "workflow_type": d.workflow_type,
            "steps": len(d.steps),
            "hash": d.hash,
            "example": Path(d.source).parent.name == "examples",
            "description": d.spec.description,
            "frozen_versions": reg.known_versions(d.workflow_type),
        }
        for d in sorted(reg.current.values(), key=lambda d: d.name)
    ]
    if output is OutputFormat.text:
        table = Table("template", "v", "workflow type", "steps", "description")
        for r in rows:
            name = f"{r['name']} [dim](example)[/]" if r["example"] else r["name"]
            table.add_row(
                name, str(r["version"]), r["workflow_type"], str(r["steps"]), r["description"]
            )
        console.print(table)
    elif output is OutputFormat.jsonl:
        for r in rows:
            emit(r, output)
    else:
        emit(rows, output)


@specs_app.command("validate")
def validate(
    paths: list[Path] | None = typer.Argument(  # noqa: B008 - typer's idiom
        None, help="spec files or directories (default: all)"
    ),
    output: OutputFormat = OutputOpt,
) -> None:
    """Check specs; exits 1 with one line per problem (file: step: problem)."""
    problems: list[str] = []
    warnings: list[str] = []
    checked = 0
    if not paths:
        try:
            reg = load_registry()
            checked = len(reg.versions)
            warnings.extend(reg.warnings)
        except CompileError as e:
            problems.extend(e.problems)
    else:
        names = _template_names()
        for path in paths:
            files = sorted(path.glob("*.y*ml")) if path.is_dir() else [path]
            if path.is_dir() and (path / "versions").is_dir():
                files += sorted((path / "versions").glob("*.y*ml"))
            for f in files:
                checked += 1
                try:
                    dag = compile_file(f, templates=names | {f.stem})
                    warnings.extend(dag.warnings)
                except CompileError as e:
                    problems.extend(e.problems)
    report = {"ok": not problems, "checked": checked, "problems": problems, "warnings": warnings}
    if output is OutputFormat.text:
        for w in warnings:
            console.print(f"[yellow]warning:[/] {w}", highlight=False, soft_wrap=True)
        for p in problems:
            console.print(f"[red]{p}[/]", highlight=False, soft_wrap=True)
        if not problems:
            console.print(f"[green]{checked} spec(s) valid[/]")
    else:
        emit(report, output)
    if problems:
        raise typer.Exit(1)


def _template_names() -> set[str]:
    names: set[str] = set()
    for d in spec_dirs():
        names |= {p.stem for p in d.glob("*.y*ml")}
    return names


@specs_app.command("show")
def show(
    name: str,
    mermaid: bool = typer.Option(False, "--mermaid", help="print a Mermaid flowchart"),
    output: OutputFormat = OutputOpt,
) -> None:
    """One template: its steps, params and (with --mermaid) a flowchart."""
    reg = _registry()
    try:
        dag = reg.by_name(name)
    except KeyError as e:
        fail(str(e.args[0]))
        return
    if mermaid:
        from workflows.mermaid import to_mermaid

        print(to_mermaid(dag), end="")
        return
    if output is not OutputFormat.text:
        emit(dag.spec.model_dump(mode="json", by_alias=True, exclude_none=True), output)
        return
    console.print(f"[bold]{dag.name}[/] v{dag.version} ({dag.workflow_type}, spec {dag.hash})")
    console.print(dag.spec.description)
    if dag.spec.params:
        table = Table("param", "type", "required", "default", "description", title="params")
        for pname, p in dag.spec.params.items():
            table.add_row(
                pname,
                p.type.value,
                "yes" if p.required else "",
                "" if p.default is None else repr(p.default),
                p.description,
            )
        console.print(table)
    table = Table("step", "kind", "what", "after", "when", title="steps")
    for sid, step in dag.steps.items():
        table.add_row(sid, step.kind, step.summary, ", ".join(step.after), step.spec.when or "")
    console.print(table)


@specs_app.command("freeze")
def freeze() -> None:
    """Copy each current spec to versions/<name>@<version>.yaml (what old runs replay on)."""
    reg = _registry()
    written = 0
    for dag in reg.current.values():
        src = Path(dag.source)
        target = src.parent / "versions" / f"{dag.name}@{dag.version}.yaml"
        if target.exists():
            continue
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(src, target)
        console.print(f"froze {target}")
        written += 1
    if not written:
        console.print("every current version is already frozen")


@specs_app.command("cost")
def cost(
    name: str = typer.Argument(..., help="template name, e.g. content_creation"),
    params: str = typer.Option(
        "", "--params", "-p", help="JSON object, or @file.json (default: the spec's example)"
    ),
    price_as: str = typer.Option(
        "chain",
        "--price-as",
        help="provider:model to price every call as; `chain` (default): each step as the "
        "first provider of its agent's chain",
    ),
    tenant: str = typer.Option("default", "--tenant"),
    output: OutputFormat = OutputOpt,
) -> None:
    """Estimated cost per step and in total, before a cent is spent: runs the template on
    the offline policy (no model is called) on the connected Temporal, approving every
    approval and taking each choice's default, and prices its token estimates."""
    from starters.estimate import CostEstimate, estimate_cost
    from starters.output import parse_json_object, run_command
    from starters.runs import check_price_as
    from worker.connection import connect

    reg = _registry()
    try:
        dag = reg.by_name(name)
    except KeyError as e:
        fail(str(e.args[0]))
        return
    parsed = parse_json_object(params) if params else dict(dag.spec.example or {})

    def started(workflow_id: str) -> None:
        if output is OutputFormat.text:
            console.print(
                f"estimating {dag.name} v{dag.version}: run {workflow_id} on the offline "
                f"policy, priced as {price_as} (approvals approved, choices by default)…",
                highlight=False,
            )

    async def go() -> CostEstimate:
        check_price_as(price_as)
        try:
            dag.params_model.model_validate(parsed)
        except ValueError as e:
            raise ValueError(f"{name}: {e}") from None
        client = await connect()
        return await estimate_cost(
            client, reg, dag, parsed, price_as=price_as, tenant=tenant, on_start=started
        )

    est = run_command(go)
    if output is OutputFormat.jsonl:
        for step in est.steps:
            emit(step, output)
        emit(est.total, output)
    elif output is OutputFormat.json:
        emit(est, output)
    else:
        _print_estimate(est)
    if est.error is not None:
        raise typer.Exit(1)


def _usd(value: float) -> str:
    return f"${value:.6f}" if value else "-"


def _print_estimate(est: Any) -> None:
    table = Table(
        "step",
        "agent/mode",
        "priced as",
        "calls",
        "tokens in",
        "tokens out",
        "USD",
        "catalog est.",
        title=f"estimated cost of {est.template} v{est.version} ({est.status})",
        title_justify="left",
    )
    for s in est.steps:
        skipped = s.status == "skipped"
        table.add_row(
            s.step,
            s.what + (" [dim](skipped)[/]" if skipped else ""),
            ", ".join(s.priced_as) or "-",
            str(s.calls) if s.calls else "-",
            f"{s.tokens_in:,}" if s.tokens_in else "-",
            f"{s.tokens_out:,}" if s.tokens_out else "-",
            _usd(s.usd),
            _usd(s.catalog_estimate_usd),
        )
    t = est.total
    table.add_section()
    table.add_row(
        "total",
        "",
        est.price_as,
        str(t.calls),
        f"{t.tokens_in:,}",
        f"{t.tokens_out:,}",
        f"[bold]${t.usd:.6f}[/]",
        _usd(t.catalog_estimate_usd),
    )
    console.print(table)
    for d in est.decisions:
        what = d.option or d.decision
        note = f" (refused: {d.refused})" if d.refused else ""
        console.print(f"auto-decided {d.step} ({d.waiting_for}): {what}{note}", highlight=False)
    console.print(f"[dim]{est.note}; run {est.workflow_id}[/]", highlight=False)
    if est.error:
        console.print(f"[bold red]the estimate run failed:[/] {est.error}", highlight=False)
