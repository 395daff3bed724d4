"""`bizos`: the platform's command line (typer + rich, `-o text|json|jsonl`).

Fast paths (`specs`, `status`, decisions) never import crewai; only agent workers do.
"""

from __future__ import annotations

import asyncio
import getpass
import os
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from starters import api_cmd, backup_cmd, bench_cmd, doctor_cmd, exporter_cmd
from starters.artifacts_cmd import artifacts_app
from starters.codec_cmd import codec_server
from starters.decisions_cmd import decisions as decisions_command
from starters.groups_cmd import groups_app
from starters.output import OutputFormat, console, emit, fail, parse_json_object, run_command
from starters.schedule_cmd import schedule_app
from starters.secrets_cmd import secrets_app
from starters.specs_cmd import specs_app
from starters.tenants_cmd import keys_app, tenants_app

app = typer.Typer(
    help="BizOS Agents: teams of AI agents as durable Temporal workflows.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(specs_app, name="specs")
app.add_typer(schedule_app, name="schedule")
app.add_typer(artifacts_app, name="artifacts")
app.add_typer(tenants_app, name="tenants")
app.add_typer(keys_app, name="keys")
app.add_typer(secrets_app, name="secrets")
app.add_typer(groups_app, name="groups")
app.command(name="decisions")(decisions_command)
app.command(name="api")(api_cmd.api)
app.command(name="exporter")(exporter_cmd.exporter)
app.command(name="codec-server")(codec_server)
app.command(name="doctor")(doctor_cmd.doctor)
app.command(name="backup")(backup_cmd.backup)
app.command(name="restore")(backup_cmd.restore)
app.command(name="bench")(bench_cmd.bench)
try:  # the agent catalog commands (their own module; no crewai import)
    from starters.agents_cmd import agents_app

    app.add_typer(agents_app, name="agents")
except ImportError:  # pragma: no cover - during bootstrap of the agents module
    pass

OutputOpt = typer.Option(OutputFormat.text, "--output", "-o", help="text, json or jsonl")
PriceAsOpt = typer.Option(
    None,
    "--price-as",
    help="provider:model (or `chain`): run every agent step on the offline policy and price "
    "its token estimates as that model — costs and budgets before spending",
)
StateDirOpt = typer.Option(
    Path(".bizos"), "--state-dir", help="where the embedded server keeps its SQLite file and logs"
)


def _ui_link(workflow_id: str) -> str | None:
    from worker.connection import connect_config, uses_embedded_server

    if not uses_embedded_server():
        return None
    ns = connect_config()["namespace"]
    return f"http://localhost:8233/namespaces/{ns}/workflows/{workflow_id}"


async def _start(
    template: str,
    params: dict[str, Any],
    tenant: str,
    key: str | None,
    budget: float | None,
    price_as: str | None = None,
) -> Any:
    from pydantic import ValidationError

    from starters.runs import check_price_as, start_run
    from worker.connection import connect
    from workflows.compiler import params_error_lines
    from workflows.models import RunInput
    from workflows.registry import default_registry

    dag = default_registry().by_name(template)
    check_price_as(price_as)
    try:
        dag.params_model.model_validate(params)  # fail here, before anything starts
        run_input = RunInput(params=params, tenant=tenant, budget_usd=budget, price_as=price_as)
    except ValidationError as e:
        lines = (
            params_error_lines(e)
            if e.title.endswith("Params")
            else [f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors()]
        )
        raise ValueError(f"{template}: " + "; ".join(lines)) from None
    client = await connect()
    return await start_run(client, dag, run_input, key=key)


@app.command()
def run(
    template: str = typer.Argument(..., help="template name, e.g. content_creation"),
    params: str = typer.Option("{}", "--params", "-p", help="JSON object, or @file.json"),
    tenant: str = typer.Option("default", "--tenant"),
    key: str | None = typer.Option(None, "--key", help="idempotency key: same key, same run"),
    budget: float | None = typer.Option(None, "--budget", help="cost cap in USD"),
    auto_approve: bool = typer.Option(
        False,
        "--auto-approve",
        help="approve every wait (first option of a choice) with real `decide` updates",
    ),
    price_as: str | None = PriceAsOpt,
    output: OutputFormat = OutputOpt,
) -> None:
    """Start a run and follow it live; prints how to decide when it waits."""
    from starters.follow import follow

    parsed = parse_json_object(params)

    async def go() -> Any:
        handle = await _start(template, parsed, tenant, key, budget, price_as)
        if output is OutputFormat.text:
            console.print(f"started [bold]{handle.id}[/]", highlight=False)
            link = _ui_link(handle.id)
            if link:
                console.print(f"watch it: {link}", highlight=False)
        return await follow(
            handle, auto_approve=auto_approve, fmt=output, ui_url=_ui_link(handle.id)
        )

    if run_command(go) is None:
        raise typer.Exit(1)


@app.command()
def start(
    template: str = typer.Argument(...),
    params: str = typer.Option("{}", "--params", "-p", help="JSON object, or @file.json"),
    tenant: str = typer.Option("default", "--tenant"),
    key: str | None = typer.Option(None, "--key", help="idempotency key: same key, same run"),
    budget: float | None = typer.Option(None, "--budget", help="cost cap in USD"),
    price_as: str | None = PriceAsOpt,
    output: OutputFormat = OutputOpt,
) -> None:
    """Start a run and print its workflow id."""
    parsed = parse_json_object(params)
    handle = run_command(lambda: _start(template, parsed, tenant, key, budget, price_as))
    info = {"workflow_id": handle.id, "run_id": handle.result_run_id, "web_ui": _ui_link(handle.id)}
    if output is OutputFormat.text:
        console.print(handle.id, highlight=False)
    else:
        emit(info, output)


@app.command()
def resume(
    workflow_id: str = typer.Argument(..., help="a failed, cancelled or timed-out run"),
    params: str = typer.Option(
        "{}", "--params", "-p", help="JSON object of params to change (e.g. the input that failed)"
    ),
    follow_run: bool = typer.Option(True, "--follow/--no-follow", help="follow it live"),
    auto_approve: bool = typer.Option(False, "--auto-approve"),
    output: OutputFormat = OutputOpt,
) -> None:
    """Continue a run from its failed steps: a new run `<id>~r<n>` reuses every finished
    step's output (not re-run, not re-billed) and the items a foreach had finished."""
    from starters.follow import follow
    from starters.resume import ResumeError, resume_run
    from worker.connection import connect

    overrides = parse_json_object(params)

    async def go() -> Any:
        client = await connect()
        try:
            handle = await resume_run(client, workflow_id, params=overrides)
        except ResumeError as e:
            fail(str(e))
        if output is OutputFormat.text:
            console.print(f"resumed {workflow_id} as [bold]{handle.id}[/]", highlight=False)
        elif not follow_run:
            emit({"workflow_id": handle.id, "resumed_from": workflow_id}, output)
        if not follow_run:
            return True
        return await follow(
            handle, auto_approve=auto_approve, fmt=output, ui_url=_ui_link(handle.id)
        )

    if run_command(go) is None:
        raise typer.Exit(1)


@app.command()
def status(workflow_id: str, output: OutputFormat = OutputOpt) -> None:
    """A run's steps, costs and decisions, pending activities and their attempts, and the
    files (blob refs) its steps returned."""
    from starters.agent_status import agent_run_status, print_agent_run
    from starters.artifacts_cmd import GET_HINT, refs_in_step_outputs
    from starters.follow import progress_table
    from worker.connection import connect
    from workflows.models import Progress
    from workflows.single_agent import AGENT_WORKFLOW_TYPE

    async def go() -> tuple[Progress | None, Any, dict[str, list[str]], dict[str, Any] | None]:
        client = await connect()
        handle = client.get_workflow_handle(workflow_id)
        desc = await handle.describe()
        if desc.workflow_type == AGENT_WORKFLOW_TYPE:  # one agent step: no `progress` query
            agent_run = await agent_run_status(client, desc)
            return None, desc, await refs_in_step_outputs(client, workflow_id), agent_run
        progress = await handle.query("progress", result_type=Progress)
        return progress, desc, await refs_in_step_outputs(client, workflow_id), None

    progress, desc, artifacts, agent_run = run_command(go)
    if agent_run is not None:
        print_agent_run(agent_run, artifacts, output)
        return
    assert progress is not None
    pending = [
        {
            "activity_id": a.activity_id,
            "state": a.state.name if hasattr(a.state, "name") else str(a.state),
            "attempt": a.attempt,
            "last_failure": a.last_failure.message if a.HasField("last_failure") else None,
        }
        for a in desc.raw_description.pending_activities
    ]
    if output is not OutputFormat.text:
        emit(
            {
                "workflow_id": workflow_id,
                "status": desc.status.name if desc.status else None,
                "progress": progress,
                "pending_activities": pending,
                "artifacts": artifacts,
            },
            output,
        )
        return
    console.print(f"{workflow_id}: {desc.status.name if desc.status else '?'}", highlight=False)
    console.print(progress_table(progress))
    if pending:
        table = Table("activity", "state", "attempt", "last failure", title="pending activities")
        for p in pending:
            table.add_row(
                p["activity_id"], str(p["state"]), str(p["attempt"]), p["last_failure"] or ""
            )
        console.print(table)
    if artifacts:  # one ref a line, never wrapped: made to be copied
        console.print(f"artifacts ({GET_HINT}):", highlight=False)
        for step, refs in artifacts.items():
            for ref in refs:
                console.print(f"  {step}: {ref}", highlight=False, markup=False)


def _decide(
    workflow_id: str,
    step: str,
    decision: str,
    option: str | None,
    by: str | None,
    comment: str,
    use_signal: bool,
    output: OutputFormat,
    digest: str | None = None,
) -> None:
    from starters.decisions_cmd import resolve_digest
    from starters.runs import decide
    from worker.connection import connect
    from workflows.models import ApprovalSignal, ChoiceSignal, Decision

    who = by or getpass.getuser()

    async def go() -> Any:
        client = await connect()
        seen = await resolve_digest(client, workflow_id, step, digest)
        if use_signal:
            handle = client.get_workflow_handle(workflow_id)
            if decision == "choose":
                await handle.signal(
                    "choose",
                    ChoiceSignal(
                        step=step, option=option or "", by=who, comment=comment, digest=seen
                    ),
                )
            else:
                await handle.signal(
                    decision, ApprovalSignal(step=step, by=who, comment=comment, digest=seen)
                )
            return {"step": step, "decision": decision, "option": option, "sent": "signal"}
        return await decide(
            client,
            workflow_id,
            Decision(
                step=step,
                decision=decision,  # type: ignore[arg-type]
                option=option,
                by=who,
                comment=comment,
                digest=seen,
                via="cli",
            ),
        )

    receipt = run_command(go)
    if output is OutputFormat.text:
        verb = {
            "approve": "approved",
            "reject": "rejected",
            "choose": f"chose {option} for",
            "revise": "asked for a revision of",
        }[decision]
        note = (
            ""
            if use_signal
            else ("" if getattr(receipt, "applied", True) else " (kept until the step is reached)")
        )
        console.print(f"{verb} {step} in {workflow_id}{note}", highlight=False)
    else:
        emit(receipt, output)


ByOpt = typer.Option(None, "--by", help="who decides (default: your user name)")
CommentOpt = typer.Option("", "--comment", "-m")
SignalOpt = typer.Option(
    False, "--signal", help="send a signal instead of an update (not checked, kept if early)"
)
DigestOpt = typer.Option(
    None,
    "--digest",
    help="the digest of the outputs you judged (`bizos status` shows it), or `auto` to take "
    "the one the step publishes now; approvals with `bind` require it",
)


def _verdict_command(decision: str) -> Any:
    """`approve` and `reject` take the same arguments; only the decision differs."""

    def command(
        workflow_id: str,
        step: str,
        by: str | None = ByOpt,
        comment: str = CommentOpt,
        signal: bool = SignalOpt,
        output: OutputFormat = OutputOpt,
        digest: str | None = DigestOpt,
    ) -> None:
        _decide(workflow_id, step, decision, None, by, comment, signal, output, digest)

    command.__doc__ = f"{decision.capitalize()} an approval step (or a budget wait)."
    return command


app.command("approve")(_verdict_command("approve"))
app.command("reject")(_verdict_command("reject"))


@app.command()
def revise(
    workflow_id: str,
    step: str,
    feedback: str = typer.Option(..., "--feedback", "-f", help="what should change"),
    by: str | None = ByOpt,
    signal: bool = SignalOpt,
    output: OutputFormat = OutputOpt,
    digest: str | None = DigestOpt,
) -> None:
    """Send an approval back for another round (its `revise` target re-runs with the
    feedback), while revisions remain."""
    if not feedback.strip():
        fail("--feedback: say what should change")
    _decide(workflow_id, step, "revise", None, by, feedback, signal, output, digest)


@app.command()
def choose(
    workflow_id: str,
    step: str,
    option: str,
    by: str | None = ByOpt,
    comment: str = CommentOpt,
    signal: bool = SignalOpt,
    output: OutputFormat = OutputOpt,
    digest: str | None = DigestOpt,
) -> None:
    """Choose an option of a choice step."""
    _decide(workflow_id, step, "choose", option, by, comment, signal, output, digest)


@app.command()
def cancel(workflow_id: str, output: OutputFormat = OutputOpt) -> None:
    """Cancel a run: running steps are cancelled through their heartbeats."""
    from worker.connection import connect

    async def go() -> None:
        client = await connect()
        await client.get_workflow_handle(workflow_id).cancel()

    run_command(go)
    if output is OutputFormat.text:
        console.print(f"cancellation requested for {workflow_id}", highlight=False)
    else:
        emit({"workflow_id": workflow_id, "cancel_requested": True}, output)


@app.command()
def worker(
    pool: str = typer.Option(
        "all", "--pool", help="all | agents | workflows | <category>[,<category>…]"
    ),
    metrics_port: int = typer.Option(
        0, "--metrics-port", help="serve SDK Prometheus metrics on 127.0.0.1:<port> (0: off)"
    ),
) -> None:
    """Run worker pools in this process until Ctrl-C (graceful shutdown)."""
    from worker.main import MissingSearchAttributes, run_pools
    from worker.pools import resolve_pools

    try:
        pools = resolve_pools(pool)
    except ValueError as e:
        fail(str(e))
    try:
        asyncio.run(run_pools(pools, metrics_port=metrics_port))
    except MissingSearchAttributes as e:
        fail(str(e))
    except KeyboardInterrupt:
        pass
    except Exception as e:
        from worker.connection import ConnectionFailed
        from workflows.compiler import CompileError

        if isinstance(e, ConnectionFailed | CompileError):
            fail(str(e))
        raise


@app.command()
def dev(
    port: int = typer.Option(7233, "--port"),
    ui_port: int = typer.Option(8233, "--ui-port"),
    state_dir: Path = StateDirOpt,
    workers: bool = typer.Option(True, "--workers/--no-workers", help="also run the worker pools"),
    metrics_port: int = typer.Option(
        9464, "--metrics-port", help="Prometheus metrics: workflows here, agents +1 (0: off)"
    ),
    api_port: int = typer.Option(8000, "--api-port", help="the HTTP API (0: off)"),
) -> None:
    """Embedded Temporal (Web UI on :8233, state in .bizos/), every worker pool and the HTTP
    API on :8000, until Ctrl-C."""
    from starters.devserver import DevServerError
    from starters.stack import embedded_stack

    try:
        with embedded_stack(
            state_dir,
            port,
            ui_port,
            workers=workers,
            metrics_port=metrics_port,
            api_port=api_port,
        ) as stack:
            s = stack.server
            console.print(
                f"Temporal dev server on {s.address} "
                f"({'started' if stack.started_server else 'already running'}), "
                f"state in {s.db_file}"
            )
            console.print(f"Web UI: {s.ui_url}")
            if workers:
                console.print(
                    f"workers: workflows + agent pools (logs in {state_dir}/worker-*.log)"
                )
            if api_port:
                console.print(
                    f"HTTP API: http://127.0.0.1:{api_port}/v1 (docs at /docs); "
                    "`bizos tenants create` and `bizos keys create` give a key"
                )
                console.print(
                    f"admin console: http://127.0.0.1:{api_port}/admin (sign in with a key)"
                )
            console.print("Ctrl-C stops everything.")
            try:
                _wait_forever(stack)
            except KeyboardInterrupt:
                console.print("stopping…")
    except DevServerError as e:
        fail(str(e))


def _wait_forever(stack: Any) -> None:
    import signal
    import time

    def _terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # SIGTERM stops the stack as cleanly as Ctrl-C

    signal.signal(signal.SIGTERM, _terminate)
    # Started in the background by a shell, SIGINT arrives ignored: Ctrl-C must still work.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    while True:
        problem = stack.dead_worker()
        if problem:
            fail(f"{problem}; see {stack.server.state_dir}/worker-*.log")
        time.sleep(1)  # supervising child processes


@app.command()
def demo(
    template: str = typer.Option("content_creation", "--template"),
    params: str = typer.Option("{}", "--params", "-p"),
    interactive: bool = typer.Option(
        False,
        "--interactive",
        help="wait for you to decide from another terminal instead of auto-approving",
    ),
    state_dir: Path = StateDirOpt,
    port: int = typer.Option(7233, "--port"),
    ui_port: int = typer.Option(8233, "--ui-port"),
) -> None:
    """Start the embedded stack, run a template with an approval step to the end, stop."""
    from starters.devserver import DevServerError
    from starters.follow import follow
    from starters.stack import embedded_stack
    from workflows.registry import default_registry

    dag = default_registry().by_name(template)
    parsed = parse_json_object(params) if params != "{}" else (dag.spec.example or {})
    try:
        with embedded_stack(state_dir, port, ui_port) as stack:
            os.environ["TEMPORAL_ADDRESS"] = stack.server.address
            link_base = f"{stack.server.ui_url}/namespaces/default/workflows"

            async def go() -> Any:
                handle = await _start(template, parsed, "default", None, None)
                console.print(
                    f"started [bold]{handle.id}[/] ({dag.workflow_type}); "
                    f"Web UI: {link_base}/{handle.id}",
                    highlight=False,
                )
                return await follow(
                    handle, auto_approve=not interactive, fmt=OutputFormat.text, ui_url=None
                )

            result = run_command(go)
            if result is not None:
                console.print(
                    f"The history is kept in {stack.server.db_file}: run `bizos dev` and open "
                    f"{link_base} to browse it in the Web UI.",
                    highlight=False,
                )
    except DevServerError as e:
        fail(str(e))
    if result is None:
        raise typer.Exit(1)


def main() -> None:
    """Console entry point. Runs the CLI, then leaves without interpreter finalization: the
    native threads of gRPC (imported by temporalio's generated services) and of the Temporal
    core can abort a finalizing interpreter (`PyGILState_Release`, SIGABRT) after all the
    work is done, which would turn a successful command into a crash."""
    import logging
    import sys
    import traceback

    code = 0
    try:
        app()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
    except KeyboardInterrupt:
        code = 130
    except BaseException:
        traceback.print_exc()
        code = 1
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
