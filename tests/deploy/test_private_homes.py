"""All the templates of dag_specs/ end to end with the workflow pool and each agent pool on a
host of its own (see conftest: private mount namespaces, no shared disk), sharing only
Temporal and PostgreSQL — the rule "no local paths between steps; pools may run on different
hosts" (DESIGN §11) checked as deployed.

Each template starts with its spec's `example` params, all at once; every approval and choice
is decided through the `decide` update as a person would (a choice takes the option that runs
the most steps). A run passes when it completes with no failed step, every file an agent
step returns is a blob ref (a local path is unreadable on the next host, even where the next
step happens to share the pool: development_sprint's api_docs), and every step that reads
another step's files (`steps.X.output.artifacts` in its `with:`) produced real results: all
its tool calls ok and tool metrics in its output. Every problem of every run is reported
together, with the logs of any pool that died.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle

from activities.contract import RUN_AGENT, AgentStepInput, AgentStepResult
from starters.runs import decide, start_run
from store.blobs.ref import SCHEME
from tests.deploy.conftest import PoolProcess
from workflows.compiler import CompiledDag
from workflows.models import Decision, Progress, RunInput, RunResult, StepProgress
from workflows.registry import SpecRegistry

pytestmark = pytest.mark.timeout(300)

RUN_TIMEOUT_S = 150  # a run still going by then is stuck: report where it waits


async def test_every_template_with_each_pool_on_its_own_host(
    private_pools: tuple[Client, list[PoolProcess]], shipped_templates: SpecRegistry
) -> None:
    client, workers = private_pools
    began = time.monotonic()
    dags = sorted(shipped_templates.current.values(), key=lambda d: d.name)
    assert dags, "no templates in dag_specs/"
    reports = await asyncio.gather(*(run_and_check(client, dag) for dag in dags))
    problems = [p for report in reports for p in report]
    problems += [str(w.died()) for w in workers if w.proc.poll() is not None]
    print(f"{len(dags)} templates ran in {time.monotonic() - began:.1f}s")
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)


async def run_and_check(client: Client, dag: CompiledDag) -> list[str]:
    """The run's problems, each prefixed with the template's name (empty: it passed)."""
    run_input = RunInput(params=dict(dag.spec.example or {}))
    handle = await start_run(client, dag, run_input, key=uuid.uuid4().hex[:12])
    try:
        result = await asyncio.wait_for(decide_until_done(client, handle, dag), RUN_TIMEOUT_S)
    except WorkflowFailureError as e:
        return [f"{dag.name}: run failed: {causes(e)}"]
    except TimeoutError:
        progress = await handle.query("progress", result_type=Progress)
        return [f"{dag.name}: not done after {RUN_TIMEOUT_S}s, waiting on {progress.waiting}"]
    problems = [
        f"{dag.name}.{step}: {status}: {result.errors.get(step, '')}"
        for step, status in result.statuses.items()
        if status == "failed"
    ]
    return problems + await file_problems(client, handle, dag, result)


async def decide_until_done(
    client: Client, handle: WorkflowHandle[RunResult, RunResult], dag: CompiledDag
) -> RunResult:
    done = asyncio.ensure_future(handle.result())
    decided: set[str] = set()
    try:
        while not done.done():
            progress = await handle.query("progress", result_type=Progress)
            for step in progress.steps:
                if step.id in progress.waiting and step.id not in decided:
                    await decide(client, handle.id, decision_for(dag, step))
                    decided.add(step.id)
            await asyncio.wait([done], timeout=0.3)
        return done.result()
    finally:
        done.cancel()


def decision_for(dag: CompiledDag, step: StepProgress) -> Decision:
    """An operator's decision (no approver groups here) on what the step shows (its digest)."""
    choice = dag.steps[step.id].spec.choice
    if step.waiting_for == "choice" and choice is not None:
        option = max(choice.options, key=lambda o: len(choice.options[o]))
        return Decision(
            step=step.id,
            decision="choose",
            option=option,
            by="deploy-test",
            digest=step.digest,
            via="cli",
        )
    # approval or budget
    return Decision(
        step=step.id, decision="approve", by="deploy-test", digest=step.digest, via="cli"
    )


async def file_problems(
    client: Client, handle: WorkflowHandle[RunResult, RunResult], dag: CompiledDag, r: RunResult
) -> list[str]:
    """Files cross steps as blob refs only, and steps fed another step's files read them: a
    file another host wrote shows up as a failed tool call or an output without the tool's
    figures, even when the step 'passed'."""
    results = await agent_results(client, handle)
    problems = []
    local = {
        sid: str(path)
        for sid, outputs in results.items()
        for res in outputs
        for path in output_of(res).get("artifacts") or []
        if not str(path).startswith(SCHEME)
    }
    if local:
        problems.append(
            f"{dag.name}: steps {', '.join(local)} return artifacts as local paths, not blob "
            f"refs (other hosts cannot read them), e.g. {next(iter(local.values()))}"
        )
    consumers = [
        sid
        for sid, step in dag.steps.items()
        if "output.artifacts" in json.dumps(step.spec.with_, default=str)
    ]
    for sid in consumers:
        if sid not in results:
            problems.append(f"{dag.name}.{sid} (reads files): no result ({r.statuses.get(sid)})")
        for res in results.get(sid, []):
            metrics = output_of(res).get("metrics") or {}
            failed = [f"{c.tool}: {c.error_type}: {c.summary}" for c in res.tool_calls if not c.ok]
            if failed or res.tool_failures or not metrics:
                problems.append(
                    f"{dag.name}.{sid} (reads files): failed tool calls "
                    f"{failed or res.failed_tools}, metrics {sorted(metrics)}"
                )
    return problems


def output_of(res: AgentStepResult) -> dict[str, Any]:
    output = res.output if res.output is not None else res.output_view
    return output if isinstance(output, dict) else {}


async def agent_results(
    client: Client, handle: WorkflowHandle[RunResult, RunResult]
) -> dict[str, list[AgentStepResult]]:
    """Each agent step's completed results (one per `foreach` item), from the run's history:
    tool calls and artifacts of non-output steps are not in the RunResult."""
    step_of: dict[int, str] = {}
    results: dict[str, list[AgentStepResult]] = {}
    convert = client.data_converter
    async for e in handle.fetch_history_events():
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = e.activity_task_scheduled_event_attributes
            if attrs.activity_type.name == RUN_AGENT:
                [inp] = await convert.decode(attrs.input.payloads, [AgentStepInput])
                step_of[e.event_id] = inp.step_id
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            done = e.activity_task_completed_event_attributes
            if done.scheduled_event_id in step_of:
                [res] = await convert.decode(done.result.payloads, [AgentStepResult])
                results.setdefault(step_of[done.scheduled_event_id], []).append(res)
    return results


def causes(e: BaseException) -> str:
    chain = []
    cur: BaseException | None = e
    while cur is not None:
        chain.append(f"{type(cur).__name__}: {cur}")
        cur = cur.__cause__
    return " <- ".join(chain)
