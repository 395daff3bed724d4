"""Starting and deciding runs: the one place clients (CLI, schedules, later HTTP) do it."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from workflows import search_attributes as sa
from workflows.compiler import CompiledDag
from workflows.models import (
    SPEC_MEMO_KEY,
    WORKFLOWS_TASK_QUEUE,
    Decision,
    DecisionReceipt,
    RunInput,
    RunResult,
)
from workflows.plans import build_plan

ESTIMATE_MEMO_KEY = "bizos_estimate"


def run_id_for(dag: CompiledDag, tenant: str, key: str | None) -> str:
    """`<tenant>.<template>.<key or uuid>`: a key makes starting idempotent."""
    return f"{tenant}.{dag.name}.{key or uuid.uuid4().hex[:12]}"


def check_price_as(price_as: str | None) -> None:
    """Refuse, before anything starts, a ``price_as`` that names no model with a price."""
    from activities.providers.estimates import PRICE_AS_CHAIN
    from activities.providers.prices import PriceUnknown, listed_price

    if price_as is None or price_as == PRICE_AS_CHAIN:
        return
    try:
        listed_price(price_as)
    except PriceUnknown as e:
        raise ValueError(f"--price-as: {e} (or `{PRICE_AS_CHAIN}`)") from None


def start_options(dag: CompiledDag, run_input: RunInput, workflow_id: str) -> dict[str, Any]:
    """Everything `client.start_workflow` needs besides the client (schedules reuse it).
    A run with ``price_as`` calls no model (offline policy, priced estimates): its memo and
    summary say it is an estimate."""
    memo: dict[str, Any] = {SPEC_MEMO_KEY: dag.pin}
    summary = f"{dag.name} v{dag.version}: {dag.spec.description}"
    if run_input.price_as:
        memo[ESTIMATE_MEMO_KEY] = {"price_as": run_input.price_as}
        summary = f"ESTIMATE (offline, priced as {run_input.price_as}) {summary}"
    return dict(
        id=workflow_id,
        task_queue=WORKFLOWS_TASK_QUEUE,
        execution_timeout=dag.spec.execution_timeout,
        memo=memo,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(sa.TEMPLATE, dag.name),
                SearchAttributePair(sa.TENANT, run_input.tenant),
            ]
        ),
        static_summary=summary[:400],
        static_details=(
            f"**Template** `{dag.name}` v{dag.version} (spec {dag.hash})\n\n"
            f"**Params**\n```json\n{json.dumps(run_input.params, indent=2, sort_keys=True)}\n```\n"
            f"**Tenant** {run_input.tenant}"
            + (f"  \n**Budget** ${run_input.budget_usd:.2f}" if run_input.budget_usd else "")
            + (
                f"  \n**Estimate**: no model is called; offline token estimates priced as "
                f"`{run_input.price_as}`"
                if run_input.price_as
                else ""
            )
        ),
    )


async def start_run(
    client: Client,
    dag: CompiledDag,
    run_input: RunInput,
    *,
    key: str | None = None,
    once: bool = False,
    rpc_timeout: timedelta | None = None,
) -> WorkflowHandle[Any, Any]:
    """Start a run; with a key that is already running, return the existing run. The run
    carries its plan (spec text + catalog slice) from this process's files.

    `once` (the API's Idempotency-Key starts): a key whose run has already closed returns
    that run too, instead of starting it again — a key starts at most one execution."""
    workflow_id = run_id_for(dag, run_input.tenant, key)
    if run_input.plan is None:
        run_input = run_input.model_copy(update={"plan": build_plan(dag)})
    try:
        return await client.start_workflow(
            dag.workflow_type,
            run_input,
            result_type=RunResult,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE
            if once and key
            else WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            rpc_timeout=rpc_timeout,
            **start_options(dag, run_input, workflow_id),
        )
    except WorkflowAlreadyStartedError:
        if not (once and key):
            raise
        return await existing_run(client, workflow_id, result_type=RunResult)


async def existing_run(
    client: Client, workflow_id: str, *, result_type: type | None = None
) -> WorkflowHandle[Any, Any]:
    """The latest run of `workflow_id`, as a handle whose `result_run_id` names it."""
    described = await client.get_workflow_handle(workflow_id).describe()
    return client.get_workflow_handle(
        workflow_id, run_id=described.run_id, result_type=result_type
    )


async def decide(client: Client, workflow_id: str, decision: Decision) -> DecisionReceipt:
    """Send a decision as an update: refused at once (with the reason) when it cannot apply."""
    handle = client.get_workflow_handle(workflow_id)
    return await handle.execute_update("decide", decision, result_type=DecisionReceipt)
