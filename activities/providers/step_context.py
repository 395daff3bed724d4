"""What the LLMs of one step attempt share while CrewAI runs them in a worker thread:
token and money counters, the cancellation flag, and the call journal."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from activities.providers.estimates import UNPRICED, OfflinePricing
from store.records import JournalHit


class StepCancelled(RuntimeError):
    """The activity was cancelled; the agent loop stops at the next model or tool call."""


class StepBudgetExceeded(RuntimeError):
    """The step spent its ``budget_usd`` on model calls; no further call is made."""


class RunBudgetExhausted(RuntimeError):
    """The run's pool cannot hold this call's worst case: the call is not made."""

    def __init__(
        self, *, pool: str, cap_nanos: int, spent_nanos: int, reserved_nanos: int, worst_nanos: int
    ):
        self.pool = pool
        self.cap_nanos = cap_nanos
        self.spent_nanos = spent_nanos
        self.reserved_nanos = reserved_nanos
        self.worst_nanos = worst_nanos
        super().__init__(
            f"run budget exhausted: pool {pool} has a cap of ${cap_nanos / 1e9:.6f}, "
            f"${spent_nanos / 1e9:.6f} spent and ${reserved_nanos / 1e9:.6f} held by calls "
            f"in flight; this call's worst case ${worst_nanos / 1e9:.6f} does not fit"
        )

    def details(self) -> dict[str, object]:
        return {
            "pool": self.pool,
            "cap_usd": self.cap_nanos / 1e9,
            "spent_usd": self.spent_nanos / 1e9,
            "reserved_usd": self.reserved_nanos / 1e9,
            "worst_usd": self.worst_nanos / 1e9,
        }


class RunBudget(Protocol):
    """The run's pool of money (the store, bridged from the worker thread). Every model call
    reserves its worst case before it is made and settles to its bill after."""

    def reserve(self, request_hash: str, call_index: int, worst_nanos: int) -> None:
        """Hold the worst case, or raise `RunBudgetExhausted`."""

    def settle(self, request_hash: str, call_index: int, billed_nanos: int) -> None:
        """The call's bill (0: no provider answered) replaces its reservation."""


class CallJournal(Protocol):
    """Durable record of billed calls (the store, bridged from the worker thread)."""

    def lookup(self, request_hash: str, call_index: int) -> JournalHit | None: ...

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
    ) -> None: ...

    def record_reuse(self, request_hash: str, call_index: int, hit: JournalHit) -> None: ...

    def record_estimates(self, calls: Sequence[OfflineCall]) -> None:
        """Calls of the offline policy: ledger only (nothing to reuse: it replays alike)."""


@dataclass(frozen=True)
class OfflineCall:
    """One call of the offline policy, as its ledger row records it."""

    request_hash: str
    call_index: int
    provider: str
    model: str
    tokens_in: int
    tokens_out: int
    usd_nanos: int
    priced_as: str | None


@dataclass
class StepUsage:
    tokens_in: int = 0
    tokens_out: int = 0
    usd_nanos: int = 0
    billed_calls: int = 0
    reused_calls: int = 0
    provider: str = ""
    model: str = ""

    def add(self, provider: str, model: str, tokens_in: int, tokens_out: int, nanos: int) -> None:
        self.tokens_in += tokens_in
        self.tokens_out += tokens_out
        self.usd_nanos += nanos
        self.provider, self.model = provider, model


@dataclass
class StepContext:
    journal: CallJournal | None = None
    tenant: str | None = None  # whose provider keys come first (the tenant's, then platform's)
    usage: StepUsage = field(default_factory=StepUsage)
    cancel: threading.Event = field(default_factory=threading.Event)
    tool_ms: float = 0.0
    budget_nanos: int | None = None
    prior_nanos: int = 0  # billed by earlier attempts of this step
    run_budget: RunBudget | None = None  # the run's pool (budget_pool); None = no pool
    # what the offline policy's estimates cost: $0, or priced as `price_as`
    pricing: OfflinePricing = field(default_factory=lambda: UNPRICED)
    _occurrences: Counter[str] = field(default_factory=Counter)

    def check_cancelled(self) -> None:
        if self.cancel.is_set():
            raise StepCancelled("agent step cancelled")

    def check_budget(self) -> None:
        """Before a billed call: stop once the step has spent its budget. A step can end up
        to one call over (the next answer's length is unknown until it arrives)."""
        if self.budget_nanos is None:
            return
        spent = self.prior_nanos + self.usage.usd_nanos
        if spent >= self.budget_nanos:
            raise StepBudgetExceeded(
                f"step budget ${self.budget_nanos / 1e9:.4f} spent (${spent / 1e9:.4f} "
                "billed across attempts); raise budget_usd or simplify the task"
            )

    def next_call_index(self, request_hash: str) -> int:
        """n-th time this attempt sends this exact request (identical requests can repeat)."""
        index = self._occurrences[request_hash]
        self._occurrences[request_hash] += 1
        return index
