"""Plain models the store's callers pass in and get back (no SQL types leak out)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

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


# -- the service layer: tenants, keys, audit, executions, webhooks ------------------------

TENANT_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
"""A tenant id: the first segment of every workflow id its runs have."""

Role = Literal["admin", "operator", "approver", "viewer"]
ROLES: tuple[str, ...] = ("admin", "operator", "approver", "viewer")
ExecutionKind = Literal["template", "agent"]


class TenantInfo(BaseModel):
    id: str = Field(pattern=TENANT_ID_PATTERN)
    name: str
    monthly_budget_usd: float | None = None
    max_running: int | None = None
    created_at: datetime


class KeyInfo(BaseModel):
    """An API key as listed: never its secret, nor the secret's hash."""

    id: str
    tenant: str
    name: str
    role: Role
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    def usable(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class Principal(BaseModel):
    """Who a request acts as: what an API key resolves to (also the `by` of decisions)."""

    model_config = ConfigDict(frozen=True)

    tenant: str
    role: Role
    name: str
    key_id: str


class AuditEntry(BaseModel):
    id: int
    tenant: str
    actor: str
    action: str
    target: str
    detail: dict[str, Any] = Field(default_factory=dict)
    at: datetime


class ExecutionInfo(BaseModel):
    workflow_id: str
    run_id: str
    tenant: str
    kind: ExecutionKind
    name: str
    status: str
    started_at: datetime
    closed_at: datetime | None = None
    cost_usd: float = 0.0
    idempotency_key: str | None = None


class ExecutionPage(BaseModel):
    """One page of `list_executions`, newest first; ``next_cursor`` None = last page."""

    items: list[ExecutionInfo] = Field(default_factory=list)
    next_cursor: str | None = None


class WebhookEndpointInfo(BaseModel):
    """A webhook endpoint as listed (its signing secret is returned only at creation)."""

    id: str
    tenant: str
    url: str
    events: list[str] = Field(default_factory=list)
    created_at: datetime
    disabled_at: datetime | None = None


class WebhookDeliveryInfo(BaseModel):
    id: int
    event_id: str
    endpoint_id: str
    tenant: str
    event_type: str
    payload: dict[str, Any] = Field(default_factory=dict)
    status: str
    attempts: int
    last_error: str | None = None
    created_at: datetime
    delivered_at: datetime | None = None


class CostLine(BaseModel):
    """One group of a tenant's spending (`GET /v1/costs?group_by=…`)."""

    key: str
    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    usd_nanos: int = 0

    @property
    def usd(self) -> float:
        return self.usd_nanos / 1e9


# -- people in the loop: approver groups and the decision log (revision 0006) ---------------

APPROVER_GROUP_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
"""An approver group's name (specs name it in ``approvers: [{group: …}]``)."""
MAX_GROUP_MEMBERS = 200


class ApproverMember(BaseModel):
    """One approver of a group: the principal name their API keys carry (the ``by`` of their
    decisions), and where notifications reach them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    principal: str = Field(min_length=1, max_length=128)
    email: str | None = Field(
        default=None, max_length=254, pattern=r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$"
    )
    slack_user: str | None = Field(
        default=None, max_length=32, pattern=r"^[UW][A-Z0-9]+$", description="Slack user id"
    )


class ApproverGroupInfo(BaseModel):
    tenant: str
    name: str
    members: list[ApproverMember] = Field(default_factory=list)
    slack_channel: str | None = None
    created_at: datetime
    updated_at: datetime

    @property
    def principals(self) -> list[str]:
        return [m.principal for m in self.members]


DecisionLogKind = Literal["approve", "reject", "choose", "revise", "timeout", "escalated"]


class DecisionInfo(BaseModel):
    """One row of the decision log: a decision, timeout or escalation of a run's step."""

    id: int | None = None
    tenant: str
    workflow_id: str
    run_id: str
    template: str
    step: str
    kind: DecisionLogKind
    option: str | None = None
    by: str
    via: str | None = None
    comment: str = ""
    digest: str | None = None
    level: int = 0
    round: int = 0
    group: str | None = None
    at: datetime
