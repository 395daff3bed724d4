"""A dependency outage met by a step attempt is waited out inside the attempt, not charged to
the step's retry policy.

Vault unreachable with nothing usable cached (`SecretsUnavailable`) or the store's database
unreachable (refused or reset connections, a server starting up, the pool's timeout) say
nothing about the step: another attempt a few seconds later fails the same way until the
dependency is back, and a long enough outage would spend every attempt and fail the run.
So the step body is run again in the same attempt, with backoff, while the activity's
heartbeat (a task beside the step) reports ``phase: "waiting for Vault: <reason>"``, for at
most ``BIZOS_STEP_DEPENDENCY_WAIT_S`` (default 300 s, 0 = off) and never past the attempt's
start-to-close deadline; after that the error goes to Temporal as before (retryable).

Running the body again is safe: every model call is journalled (a re-run replays paid
answers, `journal.StoreCallJournal`), each write to the store is keyed and idempotent, and
the pass's reservations still outstanding are settled before the next pass
(`budget.open_run_budget`). Errors that are not outages — bad input, every provider failing,
a budget spent, a tool's failure — are never waited on here, whatever they were caused by.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from temporalio.exceptions import ApplicationError

from activities.providers.errors import cause_chain
from activities.secrets.errors import SecretsUnavailable
from store.unreachable import database_unreachable

log = logging.getLogger(__name__)

DEFAULT_WAIT_S = 300.0
FIRST_DELAY_S = 0.5
MAX_DELAY_S = 10.0
# Stop waiting this long before the attempt's start-to-close deadline: the re-run needs the
# time, and the outage's own error says more than a timeout.
DEADLINE_MARGIN_S = 5.0


@dataclass(frozen=True)
class Outage:
    """Which dependency is down (as the Web UI shows it) and the error that said so."""

    dependency: str  # "Vault" | "the database"
    reason: str

    @property
    def phase(self) -> str:
        return f"waiting for {self.dependency}: {self.reason}"


def dependency_wait_s() -> float:
    """``BIZOS_STEP_DEPENDENCY_WAIT_S``: the longest an attempt waits out outages (read per
    step, like the other step settings; unset or malformed: the default)."""
    raw = os.environ.get("BIZOS_STEP_DEPENDENCY_WAIT_S", "").strip()
    if not raw:
        return DEFAULT_WAIT_S
    try:
        value = float(raw)
    except ValueError:
        log.warning("BIZOS_STEP_DEPENDENCY_WAIT_S=%r is not a number; using the default", raw)
        return DEFAULT_WAIT_S
    return value if value >= 0 and not math.isnan(value) else DEFAULT_WAIT_S


def _not_outages() -> tuple[type[BaseException], ...]:
    """Failures of the step itself: decisive even when an outage is somewhere in their
    causes (imported lazily, as `errors.to_application_error` does)."""
    from activities.agent_step.errors import AgentInputInvalid, AgentOutputInvalid, ToolsFailed
    from activities.providers.errors import ProviderFatalError, ProvidersExhausted
    from activities.providers.native import ProviderNotConfigured
    from activities.providers.prices import PriceUnknown
    from activities.providers.step_context import RunBudgetExhausted, StepBudgetExceeded
    from store.configs import ConfigVersionNotFound

    return (
        AgentInputInvalid,
        AgentOutputInvalid,
        ToolsFailed,
        StepBudgetExceeded,
        RunBudgetExhausted,
        ProviderFatalError,
        ProvidersExhausted,
        ProviderNotConfigured,
        PriceUnknown,
        ConfigVersionNotFound,
    )


def outage_of(exc: BaseException) -> Outage | None:
    """The dependency outage that made the step fail, or None when it failed for anything
    else. Looks through the causes (a step error wraps what it met), stopping at the first
    failure that is the step's own (non-retryable, or one of `_not_outages`)."""
    decisive = _not_outages()
    for link in cause_chain(exc):
        if isinstance(link, asyncio.CancelledError):
            return None
        if isinstance(link, ApplicationError):
            if link.non_retryable:
                return None
            continue  # the step's wrapper: what it wraps decides
        if isinstance(link, decisive):
            return None
        if isinstance(link, SecretsUnavailable):
            return Outage("Vault", _first_line(link))
        if database_unreachable(link):
            return Outage("the database", f"{type(link).__name__}: {_first_line(link)}")
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def attempt_deadline(clock: Callable[[], float] = time.monotonic) -> float | None:
    """When (on ``clock``) the current attempt's start-to-close timeout ends, less a margin;
    None without one (or outside an activity)."""
    from temporalio import activity

    try:
        info = activity.info()
    except RuntimeError:
        return None
    timeout = info.start_to_close_timeout
    if not timeout:
        return None
    left = (info.started_time + timeout - datetime.now(UTC)).total_seconds()
    return clock() + left - DEADLINE_MARGIN_S


class OutageWaits:
    """The waits of one attempt: backoff from `FIRST_DELAY_S` doubling to `MAX_DELAY_S`, in
    all at most ``budget_s`` from the first outage (and never past ``deadline``). Each wait
    shows in ``progress`` (what the heartbeat reports) and is told to ``on_wait``."""

    def __init__(
        self,
        progress: dict[str, Any],
        *,
        budget_s: float | None = None,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        first_delay_s: float = FIRST_DELAY_S,
        max_delay_s: float = MAX_DELAY_S,
        on_wait: Callable[[Outage, dict[str, Any]], None] | None = None,
    ) -> None:
        self.progress = progress
        self.on_wait = on_wait
        self.budget_s = dependency_wait_s() if budget_s is None else budget_s
        self.deadline = deadline
        self._clock = clock
        self._delay = first_delay_s
        self._max_delay = max_delay_s
        self._until: float | None = None
        self.waits = 0
        self.waited_s = 0.0

    async def wait(self, outage: Outage) -> bool:
        """Wait before the next try (True), or say the wait is over (False: give up, let the
        error go to Temporal). A cancelled activity interrupts the sleep at once."""
        now = self._clock()
        if self._until is None:
            self._until = now + self.budget_s
            if self.deadline is not None:
                self._until = min(self._until, self.deadline)
        left = self._until - now
        if left <= 0:
            return False
        delay = min(self._delay, left)
        self._delay = min(self._delay * 2, self._max_delay)
        self.waits += 1
        self.progress["phase"] = outage.phase
        self.progress["outage"] = details = {
            "dependency": outage.dependency,
            "reason": outage.reason,
            "waits": self.waits,
            "waited_s": round(self.waited_s, 1),
            "gives_up_in_s": round(left, 1),
        }
        if self.on_wait is not None:
            self.on_wait(outage, dict(details))
        if self.waits == 1:
            log.warning(
                "step waits for %s (up to %.0f s): %s", outage.dependency, left, outage.reason
            )
        began = self._clock()
        try:
            await asyncio.sleep(delay)
        finally:
            self.waited_s += self._clock() - began
        return True
