"""What a template costs before a cent is spent: `bizos specs cost`.

It runs the template for real on the connected Temporal, with ``price_as`` set, so every
agent step runs on the offline policy (no model is called, whatever keys the workers have)
and the ledger records each call's token estimates priced as a real model. Every approval
is approved and every choice takes its default (else its first option), in the run and in
its child runs, with real `decide` updates on the operators' path (bound to the digest each
step shows); the run emits no event and notifies nobody. The run's id is
``<tenant>.<template>.estimate-…`` and its memo and summary say it is an estimate. Then the
ledger (calls, tokens, priced-as per step, child runs under their parent step) and the run's
progress (USD per step, as the workflow's budget saw it) give the table, beside the
catalog's static estimate.

The CLI holds the whole run (`estimate_cost`); the console starts it (`start_estimate`),
drives its waits in the background (`drive_estimate`, `decide_waiting`) and shows the table
so far on each visit (`estimate_result`).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import uuid
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.service import RPCError

from starters.runs import decide, start_run
from store.costs import ESTIMATE_KEY_PREFIX  # cost reports leave these runs out
from workflows.compiler import CompiledDag, CompiledStep
from workflows.models import Decision, Progress, RunInput, StepProgress
from workflows.registry import SpecRegistry

POLL_S = 0.5


class StepCost(BaseModel):
    step: str
    kind: str
    status: str
    what: str = Field(description="agent/mode, `workflow <template>`, or the step's kind")
    priced_as: list[str] = Field(default_factory=list)
    calls: int = 0
    reused_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    usd: float = Field(default=0.0, description="the ledger's priced estimates")
    run_cost_usd: float = Field(default=0.0, description="what the run's budget counted")
    catalog_estimate_usd: float = Field(
        default=0.0, description="the catalog's static estimate (per call, times the items)"
    )


class AutoDecision(BaseModel):
    workflow_id: str
    step: str
    waiting_for: str
    decision: str
    option: str | None = None
    refused: str | None = None


class CostEstimate(BaseModel):
    estimate: bool = True
    template: str
    version: int
    workflow_id: str
    price_as: str
    status: str
    error: str | None = None
    steps: list[StepCost]
    total: StepCost
    decisions: list[AutoDecision] = Field(default_factory=list)
    note: str = (
        "no model was called: token counts are the offline policy's estimates (4 characters "
        "a token) of the real agent loop, priced at the listed prices"
    )


def _decision(dag: CompiledDag | None, s: StepProgress, by: str) -> Decision:
    """The estimate's own decision: approve (a choice: its default, else its first option),
    bound to the digest the step shows and taken on the operators' path, so neither a
    `bind` nor an approver group (whose members are never notified: estimates run without
    `notify`) can leave the run waiting."""
    if s.waiting_for == "choice":
        step = dag.steps.get(s.id) if dag is not None else None
        choice = step.spec.choice if step is not None else None
        option = (choice.default if choice is not None else None) or (s.options or [""])[0]
        return Decision(step=s.id, decision="choose", option=option, by=by, via="cli")
    return Decision(step=s.id, decision="approve", by=by, digest=s.digest, via="cli")


def _child_ids(workflow_id: str, s: StepProgress) -> list[str]:
    """Child run ids as the engine names them: `<parent>.<step>[.<index>]`."""
    if s.items is None:
        return [f"{workflow_id}.{s.id}"]
    return [f"{workflow_id}.{s.id}.{i}" for i in range(s.items)]


async def decide_waiting(
    client: Client,
    workflow_id: str,
    dag: CompiledDag | None,
    registry: SpecRegistry,
    done: dict[tuple[str, str], AutoDecision],
    *,
    by: str = "",
) -> Progress | None:
    """Decide what waits in this run and, recursively, in its running child runs (one
    pass; `done` remembers what was decided). None when the run cannot be queried."""
    by = by or f"{getpass.getuser()} (bizos specs cost)"
    try:
        progress: Progress = await client.get_workflow_handle(workflow_id).query(
            "progress", result_type=Progress
        )
    except RPCError:
        return None  # a child run not started yet (or gone): looked at again next poll
    for s in progress.steps:
        if s.status == "waiting" and (workflow_id, s.id) not in done:
            d = _decision(dag, s, by)
            record = AutoDecision(
                workflow_id=workflow_id,
                step=s.id,
                waiting_for=s.waiting_for or "approval",
                decision=d.decision,
                option=d.option,
            )
            try:
                await decide(client, workflow_id, d)
            except WorkflowUpdateFailedError as e:
                record.refused = str(getattr(e.cause, "message", None) or e.cause)
            except RPCError as e:  # the run closed meanwhile
                record.refused = str(e)
            done[(workflow_id, s.id)] = record
        step = dag.steps.get(s.id) if dag is not None else None
        if step is not None and step.child_type and s.status in ("running", "waiting"):
            try:
                child_dag: CompiledDag | None = registry.get(step.child_type)
            except KeyError:
                child_dag = None
            for child_id in _child_ids(workflow_id, s):
                await decide_waiting(client, child_id, child_dag, registry, done, by=by)
    return progress


def _what(step: CompiledStep) -> str:
    spec = step.spec
    if step.kind == "agent":
        return f"{spec.agent}/{spec.mode}"
    if step.kind == "workflow":
        return f"workflow {spec.workflow}"
    return step.kind


def _static_estimate(
    dag: CompiledDag, step: CompiledStep, items: int | None, registry: SpecRegistry
) -> float:
    """The catalog's estimate the budget gate uses: per call, times the items; a child run
    counts its own agent steps (once each: its fan-outs are unknown until it runs)."""
    per_call = step.cost_estimate_usd
    if step.kind == "workflow" and step.child_type:
        try:
            child = registry.get(step.child_type)
        except KeyError:
            child = None
        if child is not None:
            per_call = sum(_static_estimate(child, s, None, registry) for s in child.steps.values())
    return per_call * (items or 1)


def _step_of(row_workflow_id: str, row_step_key: str, workflow_id: str) -> str:
    if row_workflow_id == workflow_id:
        return row_step_key.split("#", 1)[0]
    return row_workflow_id[len(workflow_id) + 1 :].split(".", 1)[0]


def tabulate(
    dag: CompiledDag,
    registry: SpecRegistry,
    workflow_id: str,
    progress: Progress | None,
    rows: list[Any],
) -> tuple[list[StepCost], StepCost]:
    by_id = {s.id: s for s in (progress.steps if progress is not None else [])}
    costs: dict[str, StepCost] = {}
    for sid, step in dag.steps.items():
        p = by_id.get(sid)
        costs[sid] = StepCost(
            step=sid,
            kind=step.kind,
            status=p.status if p is not None else "?",
            what=_what(step),
            run_cost_usd=p.cost_usd if p is not None else 0.0,
            catalog_estimate_usd=_static_estimate(
                dag, step, p.items if p is not None else None, registry
            ),
        )
    nanos: dict[str, int] = {}
    for row in rows:
        cost = costs.get(_step_of(row.workflow_id, row.step_key, workflow_id))
        if cost is None:
            continue
        if row.kind == "reused":
            cost.reused_calls += 1
            continue
        cost.calls += 1
        cost.tokens_in += row.tokens_in
        cost.tokens_out += row.tokens_out
        nanos[cost.step] = nanos.get(cost.step, 0) + row.usd_nanos
        label = row.priced_as or (f"{row.provider}:{row.model}" if row.usd_nanos else None)
        if label and label not in cost.priced_as:
            cost.priced_as.append(label)
    for sid, n in nanos.items():
        costs[sid].usd = n / 1_000_000_000
    steps = list(costs.values())
    total = StepCost(
        step="total",
        kind="",
        status=progress.status if progress is not None else "?",
        what="",
        calls=sum(s.calls for s in steps),
        reused_calls=sum(s.reused_calls for s in steps),
        tokens_in=sum(s.tokens_in for s in steps),
        tokens_out=sum(s.tokens_out for s in steps),
        usd=sum(nanos.values()) / 1_000_000_000,
        run_cost_usd=progress.cost_usd if progress is not None else 0.0,
        catalog_estimate_usd=sum(s.catalog_estimate_usd for s in steps),
    )
    return steps, total


def estimate_id(tenant: str, dag: CompiledDag, key: str) -> str:
    """The workflow id of the estimate `key` (``estimate-…``) of `tenant`."""
    return f"{tenant}.{dag.name}.{key}"


def is_estimate_id(workflow_id: str) -> bool:
    """``<tenant>.<template>.estimate-…`` (or one of its child runs)."""
    parts = workflow_id.split(".")
    return len(parts) >= 3 and parts[2].startswith(ESTIMATE_KEY_PREFIX)


async def start_estimate(
    client: Client,
    dag: CompiledDag,
    params: dict[str, Any],
    *,
    price_as: str,
    tenant: str = "default",
    rpc_timeout: timedelta | None = None,
) -> WorkflowHandle[Any, Any]:
    """Start ``dag`` as an estimate: the offline policy priced as ``price_as``, no event
    and no notification (`notify` off), id ``<tenant>.<template>.estimate-…``; its memo and
    summary say it is an estimate. Someone must then decide its waits: `drive_estimate`."""
    run_input = RunInput(params=params, tenant=tenant, price_as=price_as, notify=False)
    key = f"{ESTIMATE_KEY_PREFIX}{uuid.uuid4().hex[:10]}"
    return await start_run(client, dag, run_input, key=key, rpc_timeout=rpc_timeout)


async def drive_estimate(
    client: Client,
    registry: SpecRegistry,
    dag: CompiledDag,
    workflow_id: str,
    done: dict[tuple[str, str], AutoDecision],
    *,
    by: str = "",
    poll_s: float = POLL_S,
) -> Progress:
    """Decide every wait of the estimate run until it is no longer running."""
    while True:
        progress = await decide_waiting(client, workflow_id, dag, registry, done, by=by)
        if progress is None:
            raise RuntimeError(f"cannot query the estimate run {workflow_id}")
        if progress.status != "running":
            return progress
        await asyncio.sleep(poll_s)  # one run, watched by one person


async def estimate_result(
    client: Client,
    registry: SpecRegistry,
    dag: CompiledDag,
    workflow_id: str,
    store: Any,
    *,
    price_as: str,
    decisions: list[AutoDecision] | None = None,
) -> CostEstimate:
    """The table of an estimate run so far (complete once its status is not `running`):
    the ledger's calls, tokens and USD per step beside the catalog's static estimate.
    `store` is an open `store.Store` (the one the agent pools write their ledger to)."""
    handle = client.get_workflow_handle(workflow_id)
    progress = await handle.query("progress", result_type=Progress)
    error = None
    if progress.status not in ("running", "completed"):
        try:
            await handle.result()
        except WorkflowFailureError as e:
            error = str(getattr(e.cause, "message", None) or e.cause)
        except Exception as e:  # the table is still worth showing
            error = str(e)
        error = error or f"the run is {progress.status}"
    rows = await store.ledger_entries_under(workflow_id)
    steps, total = tabulate(dag, registry, workflow_id, progress, rows)
    return CostEstimate(
        template=dag.name,
        version=dag.version,
        workflow_id=workflow_id,
        price_as=price_as,
        status=progress.status,
        error=error,
        steps=steps,
        total=total,
        decisions=list(decisions or []),
    )


async def estimate_cost(
    client: Client,
    registry: SpecRegistry,
    dag: CompiledDag,
    params: dict[str, Any],
    *,
    price_as: str,
    tenant: str = "default",
    on_start: Any = None,
) -> CostEstimate:
    """Run ``dag`` as an estimate to its end (deciding every wait) and tabulate its costs.
    ``on_start(workflow_id)`` is called once the run has started."""
    from store import Store

    handle = await start_estimate(client, dag, params, price_as=price_as, tenant=tenant)
    if on_start is not None:
        on_start(handle.id)
    done: dict[tuple[str, str], AutoDecision] = {}
    try:
        await drive_estimate(client, registry, dag, handle.id, done)
        with contextlib.suppress(WorkflowFailureError):
            await handle.result()
    except BaseException:
        # Interrupted: the estimate must not keep running (or waiting) on its own.
        with contextlib.suppress(Exception):  # best effort on the way out
            await asyncio.shield(handle.cancel())
        raise
    store = await Store.open()
    try:
        decisions = list(done.values())
        return await estimate_result(
            client, registry, dag, handle.id, store, price_as=price_as, decisions=decisions
        )
    finally:
        await store.close()
