"""Random valid DAGs (hypothesis): every one compiles, from YAML text as a file would; a
sample runs on the real Temporal server with in-process workers, twice, and gives the same
per-step statuses and outputs both times, each agent output echoing what its step was given;
every run's history (and its children's) replays on today's workflow code without
nondeterminism."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from typing import Any

from hypothesis import Phase, given, settings
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.service import RPCError
from temporalio.worker import Replayer

from starters.runs import start_run
from tests.fuzz.conftest import FUZZ
from tests.fuzz.dags import CHILD_NAME, FuzzCase, fuzz_cases
from tests.fuzz.plans import child_plans, compile_dict, plan_of
from worker.plugin import BizosPlugin
from workflows.compiler import CompiledDag, compile_spec
from workflows.engine.workflow import DagWorkflow
from workflows.models import Decision, DecisionReceipt, RunInput, RunResult
from workflows.single_agent import SingleAgentWorkflow

COMPILE_EXAMPLES = 40
RUN_EXAMPLES = 15


@settings(FUZZ, max_examples=COMPILE_EXAMPLES)
@given(case=fuzz_cases())
def test_random_valid_dags_compile(case: FuzzCase) -> None:
    dag = compile_dict(case.spec)
    assert set(dag.steps) == set(case.step_ids)
    order = list(dag.steps)
    for sid, step in dag.steps.items():  # topological: every dependency comes first
        assert all(order.index(d) < order.index(sid) for d in step.after), (sid, order)
    # the same spec given as data (how the API and tests compile) is the same template
    assert compile_spec(case.spec, dag.source, templates={CHILD_NAME}).hash == dag.hash


def _sample(n: int) -> list[FuzzCase]:
    """`n` derandomized draws (the same on every machine): runs are too slow to let
    hypothesis drive them example by example, so the cases are drawn first."""
    drawn: list[FuzzCase] = []

    @settings(FUZZ, max_examples=n, phases=[Phase.generate])
    @given(case=fuzz_cases())
    def collect(case: FuzzCase) -> None:
        drawn.append(case)

    collect()
    return drawn


async def _run(client: Client, dag: CompiledDag, case: FuzzCase) -> tuple[str, RunResult]:
    plan = plan_of(dag, child_plans(dag))
    handle: WorkflowHandle[Any, RunResult] = await start_run(
        client,
        dag,
        RunInput(params=case.params, plan=plan),
        key=f"fuzz-{uuid.uuid4().hex[:10]}",
    )
    # Every decision is given up front: one for a step not reached yet is kept and applied
    # when it is reached, so no polling for waits. A step the run has already skipped
    # refuses its decision, saying so; that decision could change nothing.
    for step, decision in case.decisions.items():
        try:
            await handle.execute_update(
                "decide",
                Decision(step=step, by="fuzz", comment="decided by the fuzzer", **decision),
                result_type=DecisionReceipt,
            )
        except WorkflowUpdateFailedError as e:
            assert f"step `{step}` is already skipped" in str(e.cause), e.cause
        except RPCError as e:
            # the run ended while the update was on its way: it did not need the decision
            status = (await handle.describe()).status
            assert status != WorkflowExecutionStatus.RUNNING, (e.message, status)
    return handle.id, await handle.result()


def _children(history_events: Any) -> list[str]:
    kind = EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    return [
        e.start_child_workflow_execution_initiated_event_attributes.workflow_id
        for e in history_events
        if e.event_type == kind
    ]


async def _replay(client: Client, workflow_id: str) -> int:
    """Replay the run and its children; returns how many histories were replayed."""
    replayer = Replayer(workflows=[DagWorkflow, SingleAgentWorkflow], plugins=[BizosPlugin()])
    todo, replayed = [workflow_id], 0
    while todo:
        wid = todo.pop()
        history = await client.get_workflow_handle(wid).fetch_history()
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, f"{wid}: {result.replay_failure}"
        todo.extend(_children(history.events))
        replayed += 1
    return replayed


def _check_outputs(case: FuzzCase, dag: CompiledDag, result: RunResult) -> None:
    """What a user reads in the result: every step ended, none failed, and each agent step
    that ran echoes its own id and the run's topic (one entry per item in a foreach)."""
    assert set(result.statuses) == set(dag.steps)
    assert set(result.statuses.values()) <= {"succeeded", "skipped", "rejected"}, result.statuses
    for sid, step in dag.steps.items():
        status = result.statuses[sid]
        if step.kind == "approval":
            expected = "rejected" if case.decisions[sid]["decision"] == "reject" else "succeeded"
            assert status in (expected, "skipped"), (sid, status)
        if step.kind != "agent" or status != "succeeded":
            continue
        out = result.outputs[sid]
        entries = out if step.foreach is not None else [out]
        if step.foreach is not None:
            assert len(entries) == len(case.params["items"]), (sid, out)
        for i, entry in enumerate(entries):
            assert entry["step"] == sid and entry["echo"]["topic"] == case.params["topic"]
            if step.foreach is not None:
                assert entry["echo"]["item"] == case.params["items"][i]
                assert entry["echo"]["position"] == i


async def test_random_dags_run_deterministically_and_replay(fuzz_client: Client) -> None:
    cases = _sample(RUN_EXAMPLES)
    timings: list[float] = []
    steps = replayed = 0
    kinds: set[str] = set()
    ended: Counter[str] = Counter()
    for n, case in enumerate(cases):
        # every step's output in the result, so the two runs compare step by step
        spec = dict(case.spec, outputs=sorted(case.step_ids))
        dag = compile_dict(spec)
        started = time.perf_counter()
        first_id, first = await _run(fuzz_client, dag, case)
        second_id, second = await _run(fuzz_client, dag, case)
        timings.append((time.perf_counter() - started) / 2)
        shown = f"case {n}: {case.spec}\nparams {case.params}\ndecisions {case.decisions}"
        _check_outputs(case, dag, first)
        assert first.statuses == second.statuses, shown
        assert first.outputs == second.outputs, shown
        assert first.errors == second.errors == {}, shown
        replayed += await _replay(fuzz_client, first_id)
        replayed += await _replay(fuzz_client, second_id)
        steps += len(dag.steps)
        ended.update(first.statuses.values())
        kinds |= {s.kind for s in dag.steps.values()}
        kinds |= {"foreach"} if any(s.foreach for s in dag.steps.values()) else set()
    # the sample exercises every construct the strategy has (not a timing: a coverage check)
    assert kinds >= {"agent", "approval", "choice", "workflow", "foreach"}, kinds
    timings.sort()
    print(
        f"\nfuzz runs: {len(cases)} random DAGs x 2 runs, {steps} steps, {replayed} histories "
        f"replayed (children: {CHILD_NAME}); steps ended {dict(sorted(ended.items()))}; per run "
        f"median {timings[len(timings) // 2]:.2f}s, max {timings[-1]:.2f}s"
    )
