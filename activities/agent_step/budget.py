"""The run's pool of money as one step attempt sees it.

The workflow sends ``budget_pool`` (the root run, ``<workflow_id>/<run_id>``: parallel
branches, foreach items and child runs send the same key) and ``budget_cap_usd``. Every
model call of the attempt reserves its worst case from the pool before it is made and
settles to its bill after (`activities.providers.chain`); a reservation's key is the ledger
key of its call. At the start of a retried attempt, reservations earlier attempts left
outstanding are settled to their journalled bill or charged in full
(`store.budget.settle_dead_attempts`). The result reports the pool's spending and the alert
thresholds crossed so far.
"""

from __future__ import annotations

import asyncio

from activities.agent_step.store_calls import AttemptStore
from activities.contract import AgentStepInput, AgentStepResult
from activities.providers.prices import NANOS_PER_USD
from activities.providers.step_context import RunBudgetExhausted
from store import Store
from store.records import call_ledger_key


class StoreRunBudget(AttemptStore):
    """`RunBudget` on the store, called from the crew's worker thread."""

    def __init__(
        self,
        store: Store,
        loop: asyncio.AbstractEventLoop,
        *,
        pool: str,
        cap_nanos: int,
        tenant: str,
        workflow_id: str,
        run_id: str,
        step_key: str,
        attempt: int,
    ):
        super().__init__(
            store,
            loop,
            tenant=tenant,
            workflow_id=workflow_id,
            run_id=run_id,
            step_key=step_key,
            attempt=attempt,
        )
        self.pool = pool
        self.cap_nanos = cap_nanos

    def key(self, request_hash: str, call_index: int) -> str:
        """The ledger key of the call (`StoreCallJournal` writes its billed row under it)."""
        return call_ledger_key(self._key(request_hash, call_index), self._attempt)

    def reserve(self, request_hash: str, call_index: int, worst_nanos: int) -> None:
        granted = self._wait(
            self._store.reserve(
                self.pool,
                self.key(request_hash, call_index),
                worst_nanos,
                self.cap_nanos,
                workflow_id=self._workflow_id,
                run_id=self._run_id,
                step_key=self._step_key,
                attempt=self._attempt,
            )
        )
        if granted:
            return
        totals = self._wait(self._store.pool_totals(self.pool))
        raise RunBudgetExhausted(
            pool=self.pool,
            cap_nanos=self.cap_nanos,
            spent_nanos=totals.spent_nanos,
            reserved_nanos=totals.reserved_nanos,
            worst_nanos=worst_nanos,
        )

    def settle(self, request_hash: str, call_index: int, billed_nanos: int) -> None:
        self._wait(self._store.settle(self.key(request_hash, call_index), billed_nanos))


def pooled(inp: AgentStepInput) -> bool:
    """The step draws on a run pool (both the key and the cap are given)."""
    return inp.budget_pool is not None and inp.budget_cap_usd is not None


async def open_run_budget(
    inp: AgentStepInput, store: Store, *, step_key: str, attempt: int, rerun: bool = False
) -> StoreRunBudget:
    """The attempt's view of its pool; earlier attempts' leftovers are settled first, and
    on a ``rerun`` of the step body inside this attempt (after an outage,
    `activities.agent_step.outages`) the earlier pass's too: to the bill its call left in the
    ledger, or charged in full when the call may have been billed unheard."""
    assert inp.budget_pool is not None and inp.budget_cap_usd is not None
    if attempt > 1 or rerun:
        upto = attempt + 1 if rerun else attempt
        await store.settle_dead_attempts(inp.workflow_id, inp.run_id, step_key, upto)
    return StoreRunBudget(
        store,
        asyncio.get_running_loop(),
        pool=inp.budget_pool,
        cap_nanos=round(inp.budget_cap_usd * NANOS_PER_USD),
        tenant=inp.tenant,
        workflow_id=inp.workflow_id,
        run_id=inp.run_id,
        step_key=step_key,
        attempt=attempt,
    )


async def report_pool(result: AgentStepResult, inp: AgentStepInput, store: Store) -> None:
    """The pool's spending (settled + charged) and the alert thresholds crossed so far."""
    if inp.budget_pool is None:
        return
    totals = await store.pool_totals(inp.budget_pool)
    result.pool_spent_usd = totals.spent_usd
    result.budget_alerts = list(totals.alerts)
