"""The call journal and ledger of one step attempt, as the provider chain sees them.

The chain runs inside CrewAI in a worker thread; the store is async on the activity's event
loop. Each method hands its coroutine to that loop and waits for it, so journal and ledger
writes happen before CrewAI continues (a crash after a paid call finds it journalled).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from activities.agent_step.store_calls import AttemptStore
from activities.metrics import agent_metrics
from activities.providers.step_context import OfflineCall
from store import BilledCall, EstimatedCall, JournalHit, ReusedCall, Store
from store.records import call_ledger_key


class StoreCallJournal(AttemptStore):
    def __init__(
        self,
        store: Store,
        loop: asyncio.AbstractEventLoop,
        *,
        tenant: str,
        workflow_id: str,
        run_id: str,
        step_key: str,
        attempt: int,
        agent: str,
        mode: str,
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
        self._agent = agent
        self._mode = mode
        self._metrics = agent_metrics()  # here, in the activity: the crew's thread has no context

    def lookup(self, request_hash: str, call_index: int) -> JournalHit | None:
        return self._wait(self._store.lookup_call(self._key(request_hash, call_index)))

    def record_billed(
        self,
        request_hash: str,
        call_index: int,
        *,
        provider: str,
        model: str,
        tokens_in: int,
        tokens_out: int,
        usd_nanos: int,
        response: str,
    ) -> None:
        new = self._wait(
            self._store.record_billed_call(
                BilledCall(
                    key=self._key(request_hash, call_index),
                    attempt=self._attempt,
                    agent=self._agent,
                    mode=self._mode,
                    provider=provider,
                    model=model,
                    tokens_in=tokens_in,
                    tokens_out=tokens_out,
                    usd_nanos=usd_nanos,
                    response=response,
                )
            )
        )
        if new:  # counted once however often the write is repeated
            self._metrics.call(
                tenant=self._tenant,
                agent=self._agent,
                provider=provider,
                model=model,
                kind="billed",
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                usd_nanos=usd_nanos,
            )

    def record_estimates(self, calls: Sequence[OfflineCall]) -> None:
        new = self._wait(
            self._store.record_estimated_calls(
                [
                    EstimatedCall(
                        key=self._key(c.request_hash, c.call_index),
                        attempt=self._attempt,
                        agent=self._agent,
                        mode=self._mode,
                        provider=c.provider,
                        model=c.model,
                        tokens_in=c.tokens_in,
                        tokens_out=c.tokens_out,
                        usd_nanos=c.usd_nanos,
                        priced_as=c.priced_as,
                    )
                    for c in calls
                ]
            )
        )
        if new:  # one transaction per attempt: new together or repeated together
            for c in calls:
                self._metrics.call(
                    tenant=self._tenant,
                    agent=self._agent,
                    provider=c.provider,
                    model=c.model,
                    kind="estimated",
                    tokens_in=c.tokens_in,
                    tokens_out=c.tokens_out,
                    usd_nanos=c.usd_nanos,
                )

    def record_reuse(self, request_hash: str, call_index: int, hit: JournalHit) -> None:
        if hit.ledger_key == call_ledger_key(self._key(request_hash, call_index), self._attempt):
            # Billed by this very attempt, before an outage made it run its body again
            # (`activities.agent_step.outages`): its ledger row is there already, and a
            # reuse row beside it would count the call twice for the attempt.
            return
        new = self._wait(
            self._store.record_reuse(
                ReusedCall(
                    key=self._key(request_hash, call_index),
                    attempt=self._attempt,
                    agent=self._agent,
                    mode=self._mode,
                    hit=hit,
                )
            )
        )
        if new:
            self._metrics.journal_hits.add(1, {"tenant": self._tenant, "agent": self._agent})
