"""Plain models the store's callers pass in and get back (no SQL types leak out)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from store.tables import NANOS_PER_USD


class CallKey(BaseModel):
    """Identifies one model call of a step across attempts: same run, same step, same
    request (hash of messages and stop words), n-th occurrence of that request."""

    model_config = ConfigDict(frozen=True)

    tenant: str = "default"
    workflow_id: str
    run_id: str
    step_key: str
    request_hash: str
    call_index: int = 0


class BilledCall(BaseModel):
    key: CallKey
    attempt: int
    agent: str
    mode: str
    provider: str
    model: str
    tokens_in: int
    tokens_out: int
    usd_nanos: int
    response: str

    @property
    def ledger_key(self) -> str:
        return call_ledger_key(self.key, self.attempt)


def call_ledger_key(key: CallKey, attempt: int) -> str:
    """The ledger key of one billed call of one attempt; its budget reservation has the same
    key, so the reservation settles to exactly that call's ledger row."""
    return (
        f"{key.workflow_id}/{key.run_id}/{key.step_key}/a{attempt}/"
        f"{key.request_hash[:24]}/{key.call_index}"
    )


class JournalHit(BaseModel):
    provider: str
    model: str
    response: str
    tokens_in: int
    tokens_out: int
    usd_nanos: int
    ledger_key: str


class ReusedCall(BaseModel):
    key: CallKey
    attempt: int
    agent: str
    mode: str
    hit: JournalHit

    @property
    def ledger_key(self) -> str:
        k = self.key
        return (
            f"{k.workflow_id}/{k.run_id}/{k.step_key}/a{self.attempt}/"
            f"{k.request_hash[:24]}/{k.call_index}/reuse"
        )


class EstimatedCall(BaseModel):
    """A call of the offline policy: token estimates, $0 or priced as ``priced_as``
    (``provider:model``). A ledger row like a billed call's (same key), with no journal."""

    key: CallKey
    attempt: int
    agent: str
    mode: str
    provider: str
    model: str
    tokens_in: int
    tokens_out: int
    usd_nanos: int
    priced_as: str | None = None

    @property
    def ledger_key(self) -> str:
        return call_ledger_key(self.key, self.attempt)


class LedgerTotals(BaseModel):
    billed_calls: int = 0
    reused_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    usd_nanos: int = 0

    @property
    def usd(self) -> float:
        return self.usd_nanos / NANOS_PER_USD


class ConfigVersionInfo(BaseModel):
    agent_id: str
    version: int
    body: dict[str, Any] = Field(default_factory=dict)
    note: str = ""
    active: bool = False


BUDGET_ALERT_THRESHOLDS = (75, 90, 100)
"""Percentages of a pool's cap whose crossing is recorded once (`budget_alerts`)."""


class PoolTotals(BaseModel):
    """A budget pool's figures in nano-dollars (see `store.tables.BudgetPool`)."""

    pool: str
    cap_nanos: int = 0
    settled_nanos: int = 0
    charged_nanos: int = 0
    reserved_nanos: int = 0
    refusals: int = 0
    alerts: list[int] = Field(default_factory=list, description="thresholds crossed so far")

    @property
    def spent_nanos(self) -> int:
        """Settled bills plus the reservations of dead attempts, charged in full."""
        return self.settled_nanos + self.charged_nanos

    @property
    def committed_nanos(self) -> int:
        """Spent plus outstanding reservations: what the cap is checked against."""
        return self.spent_nanos + self.reserved_nanos

    @property
    def spent_usd(self) -> float:
        return self.spent_nanos / NANOS_PER_USD

    @property
    def cap_usd(self) -> float:
        return self.cap_nanos / NANOS_PER_USD


class BudgetAlert(BaseModel):
    pool: str
    threshold: int
    spent_nanos: int
    cap_nanos: int
    at: datetime


class Reservation(BaseModel):
    """One reservation as stored (tests and reports)."""

    key: str
    pool: str
    workflow_id: str
    run_id: str
    step_key: str
    attempt: int
    worst_nanos: int
    billed_nanos: int | None
    state: str


class DeadAttemptSettlement(BaseModel):
    """What `settle_dead_attempts` did with earlier attempts' outstanding reservations."""

    settled: int = 0  # to the bill their call journalled
    charged: int = 0  # no bill known: charged in full
