"""`bizos agents list|show`: the agent catalog. Fast path: no crewai import.

``show --versions`` also lists the agent's stored configuration versions (opens the store).
"""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from activities.catalog import (
    AgentCatalog,
    AgentSpec,
    CatalogError,
    default_catalog,
    task_queue_for,
)
from starters.output import OutputFormat, console, emit, fail

agents_app = typer.Typer(help="The agent catalog: list agents, show one.", no_args_is_help=True)

OutputOpt = typer.Option(OutputFormat.text, "--output", "-o", help="text, json or jsonl")


def _catalog() -> AgentCatalog:
    try:
        return default_catalog()
    except CatalogError as e:
        fail(f"the agent catalog is invalid:\n{e}")
        raise  # unreachable: fail() exits


def _summary_row(agent: AgentSpec) -> dict[str, Any]:
    default_mode = next(iter(agent.modes))
    return {
        "id": agent.id,
        "name": agent.name,
        "category": agent.category,
        "task_queue": task_queue_for(agent.category),
        "modes": list(agent.modes),
        "providers": [ref.label for ref in agent.provider_chain(default_mode)],
        "description": agent.description,
    }


def _detail(agent: AgentSpec) -> dict[str, Any]:
    modes = []
    for name, mode in agent.modes.items():
        role, goal, backstory = agent.persona(name)
        modes.append(
            {
                "mode": name,
                "description": mode.description,
                "output": mode.output,
                "cost_estimate_usd": mode.cost_estimate_usd,
                "tools": agent.mode_tools(name) if agent.category != "system" else [],
                "providers": [ref.label for ref in agent.provider_chain(name)],
                "offline_plan": [step.model_dump() for step in mode.offline_plan],
                "task": mode.task,
                "role": role,
                "goal": goal,
                "backstory": backstory,
            }
        )
    return {**_summary_row(agent), "tones": agent.tones, "mode_details": modes}


@agents_app.command("list")
def list_agents(output: OutputFormat = OutputOpt) -> None:
    """Every agent with its pool (task queue), modes and default provider chain."""
    rows = [_summary_row(a) for a in sorted(_catalog(), key=lambda a: (a.category, a.id))]
    if output is OutputFormat.text:
        table = Table("agent", "category", "modes", "providers (failover order)")
        for r in rows:
            chain = r["providers"]
            table.add_row(
                r["id"],
                r["category"],
                "\n".join(r["modes"]),
                "\n".join(chain) if chain else "-",
            )
        console.print(table)
        console.print(f"{len(rows)} agents. Details: bizos agents show <id>")
    elif output is OutputFormat.jsonl:
        for r in rows:
            emit(r, output)
    else:
        emit(rows, output)


@agents_app.command("show")
def show_agent(
    agent_id: str = typer.Argument(..., help="agent id, e.g. market_research"),
    versions: bool = typer.Option(False, "--versions", help="also list stored config versions"),
    output: OutputFormat = OutputOpt,
) -> None:
    """One agent: persona, tools, provider chain, and each mode's output, cost and plan."""
    catalog = _catalog()
    try:
        agent = catalog.get(agent_id)
    except KeyError as e:
        fail(str(e).strip("'\""))
        return
    detail = _detail(agent)
    if versions:
        detail["config_versions"] = _config_versions(agent.id)
    if output is not OutputFormat.text:
        emit(detail, output)
        return
    console.print(f"[bold]{agent.id}[/] — {agent.name} ({agent.category}, {detail['task_queue']})")
    console.print(agent.description)
    if agent.role:
        console.print(f"[bold]role[/] {agent.role}\n[bold]goal[/] {agent.goal}")
    if agent.tones:
        console.print(f"[bold]tones[/] {', '.join(agent.tones)}")
    for m in detail["mode_details"]:
        console.print(
            f"\n[bold]{m['mode']}[/] ({m['output'] or '-'}, est. ${m['cost_estimate_usd']:.2f})"
            f" — {m['description']}"
        )
        if m["tools"]:
            console.print(f"  tools: {', '.join(m['tools'])}")
        if m["offline_plan"]:
            plan = " → ".join(step["tool"] for step in m["offline_plan"])
            console.print(f"  offline plan: {plan}")
        if m["providers"]:
            console.print(f"  providers: {' → '.join(m['providers'])}")
    if versions:
        rows = detail["config_versions"]
        if not rows:
            console.print("no stored configuration versions: catalog defaults apply")
        for v in rows:
            mark = " (active)" if v["active"] else ""
            console.print(f"v{v['version']}{mark} {v['note']}: {v['body']}")


def _config_versions(agent_id: str) -> list[dict[str, Any]]:
    import asyncio

    from store import Store

    async def load() -> list[dict[str, Any]]:
        store = await Store.open()
        try:
            return [v.model_dump() for v in await store.config_versions(agent_id)]
        finally:
            await store.close()

    return asyncio.run(load())


@agents_app.command("run")
def run_agent_cmd(
    agent: str = typer.Argument(..., help="agent id, e.g. market_research"),
    mode: str = typer.Argument(..., help="one of the agent's modes"),
    inputs: str = typer.Option("{}", "--input", "-i", help="JSON object, or @file.json"),
    tenant: str = typer.Option("default", "--tenant"),
    budget: float | None = typer.Option(None, "--budget", help="most the step may spend (USD)"),
    price_as: str | None = typer.Option(
        None,
        "--price-as",
        help="provider:model (or `chain`): run on the offline policy, its token estimates "
        "priced as that model (what it would cost, before spending)",
    ),
    output: OutputFormat = OutputOpt,
) -> None:
    """Run one agent in one mode as a durable workflow (AgentStep) and print its result."""
    import uuid

    from activities.contract import AgentStepResult
    from starters.output import parse_json_object, run_command
    from starters.runs import check_price_as
    from worker.connection import connect
    from workflows.catalog_slice import slice_catalog
    from workflows.models import WORKFLOWS_TASK_QUEUE
    from workflows.single_agent import AGENT_WORKFLOW_TYPE, AgentRunInput

    cat = _catalog()
    if agent not in cat:
        fail(f"unknown agent `{agent}`; `bizos agents list` shows them")
    if mode not in cat.get(agent).modes:
        fail(f"agent `{agent}` has no mode `{mode}` (modes: {', '.join(cat.get(agent).modes)})")
    try:
        check_price_as(price_as)
    except ValueError as e:
        fail(str(e))
    run_input = AgentRunInput(
        agent=agent,
        mode=mode,
        inputs=parse_json_object(inputs, "--input"),
        tenant=tenant,
        budget_usd=budget,
        price_as=price_as,
        # The run carries the agent's pool and defaults; a catalog edit never reaches it.
        catalog=slice_catalog(cat, [agent]).agents[agent],
    )

    async def go() -> tuple[str, AgentStepResult]:
        client = await connect()
        wid = f"{tenant}.agent.{agent}.{uuid.uuid4().hex[:10]}"
        result = await client.execute_workflow(
            AGENT_WORKFLOW_TYPE,
            run_input,
            id=wid,
            task_queue=WORKFLOWS_TASK_QUEUE,
            result_type=AgentStepResult,
            static_summary=f"{agent}/{mode}"
            + (f" — ESTIMATE (offline, priced as {price_as})" if price_as else ""),
        )
        return wid, result

    from temporalio.client import WorkflowFailureError

    try:
        wid, result = run_command(go)
    except WorkflowFailureError as e:
        fail(f"{agent}/{mode} failed: {getattr(e.cause, 'message', None) or e.cause}")
        return
    if output is not OutputFormat.text:
        emit({"workflow_id": wid, "result": result}, output)
        return
    out = result.output if isinstance(result.output, dict) else {}
    console.print(f"[bold]{out.get('title') or f'{agent}/{mode}'}[/]  ({wid})", highlight=False)
    console.print(out.get("summary") or result.summary, highlight=False)
    for rec in (out.get("recommendations") or [])[:5]:
        console.print(f"  • {rec}", highlight=False)
    if result.output_ref:
        console.print(f"full output stored as {result.output_ref}", highlight=False)
    console.print(
        f"[dim]{result.provider}/{result.model} · {result.tokens_in}+{result.tokens_out} tokens"
        f" · ${result.cost_usd:.4f} · {len(result.tool_calls)} tool calls"
        f" · {result.duration_ms:.0f} ms[/]",
        highlight=False,
    )
