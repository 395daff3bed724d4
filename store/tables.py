"""The store's tables (SQLModel). The Alembic baseline in ``store/migrations`` creates them;
change both together (a new revision per change, never an edit of an applied one).

Every row written by an activity carries a natural key the database enforces (unique
constraint or primary key): activities run at least once, so a second write of the same
fact must be a no-op, never a duplicate.

Money is stored as integer nano-dollars (``usd_nanos``): exact on SQLite and PostgreSQL
alike, and a sum of rows is the sum to the cent.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

NANOS_PER_USD = 1_000_000_000


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(dt: datetime) -> datetime:
    """Aware UTC (SQLite gives back naive datetimes: they were written as UTC)."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


class LedgerEntry(SQLModel, table=True):
    """One model call of one step attempt: what it cost, or that it reused a paid call.

    ``kind='billed'``: the provider answered and charged ``usd_nanos``.
    ``kind='reused'``: a retried attempt took the answer from the call journal; no money
    moved (``usd_nanos`` = 0) and ``reused_from`` names the billed row it reused.
    Calls of the ``offline`` policy are ``billed`` rows of its token estimates: $0, or
    priced as a real model when the step asked (``priced_as``).
    """

    __tablename__ = "ledger_entries"

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(max_length=512, unique=True)
    tenant: str = Field(default="default", max_length=128, index=True)
    workflow_id: str = Field(max_length=256, index=True)
    run_id: str = Field(max_length=64)
    step_key: str = Field(max_length=256)
    attempt: int
    call_index: int = Field(description="n-th call with this request hash in the attempt")
    request_hash: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    agent: str = Field(max_length=64)
    mode: str = Field(max_length=64)
    provider: str = Field(max_length=64)
    model: str = Field(max_length=128)
    tokens_in: int = 0
    tokens_out: int = 0
    usd_nanos: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    reused_from: str | None = Field(default=None, max_length=512)
    priced_as: str | None = Field(
        default=None,
        max_length=192,
        description="offline estimates priced as this `provider:model` (revision 0004)",
    )
    created_at: datetime = Field(default_factory=utcnow)

    @property
    def usd(self) -> float:
        return self.usd_nanos / NANOS_PER_USD


class CallJournalEntry(SQLModel, table=True):
    """The answer of one billed call, keyed by (run, step, request hash, occurrence), so a
    retried attempt that sends the same request again gets the answer it already paid for."""

    __tablename__ = "call_journal"
    __table_args__ = (
        UniqueConstraint(
            "workflow_id",
            "run_id",
            "step_key",
            "request_hash",
            "call_index",
            name="uq_call_journal_request",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    workflow_id: str = Field(max_length=256)
    run_id: str = Field(max_length=64)
    step_key: str = Field(max_length=256)
    request_hash: str = Field(max_length=64)
    call_index: int
    provider: str = Field(max_length=64)
    model: str = Field(max_length=128)
    response: str = Field(sa_column=Column(Text, nullable=False))
    tokens_in: int = 0
    tokens_out: int = 0
    usd_nanos: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    ledger_key: str = Field(max_length=512)
    created_at: datetime = Field(default_factory=utcnow)


class AgentConfigVersion(SQLModel, table=True):
    """An immutable configuration version of one agent (provider chain, persona and task
    overrides). Versions count from 1 per (tenant, agent); ``request_key`` makes a create
    idempotent (per tenant)."""

    __tablename__ = "agent_config_versions"
    __table_args__ = (
        UniqueConstraint("tenant", "agent_id", "version", name="uq_agent_config_version"),
        UniqueConstraint("tenant", "request_key", name="uq_agent_config_request_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(default="default", max_length=64, description="revision 0005")
    agent_id: str = Field(max_length=64, index=True)
    version: int
    body: str = Field(sa_column=Column(Text, nullable=False), description="AgentConfig JSON")
    note: str = Field(default="", max_length=512)
    request_key: str | None = Field(default=None, max_length=256)
    created_at: datetime = Field(default_factory=utcnow)


class AgentConfigActive(SQLModel, table=True):
    """Which version new runs of an agent use, per tenant."""

    __tablename__ = "agent_config_active"

    tenant: str = Field(default="default", primary_key=True, max_length=64)
    agent_id: str = Field(primary_key=True, max_length=64)
    version: int
    updated_at: datetime = Field(default_factory=utcnow)


class RunConfigPin(SQLModel, table=True):
    """The configuration version a run uses for an agent, fixed the first time the run
    needs it, so activating a new version never changes a run already under way.
    ``version`` 0 means "no stored version: catalog defaults"."""

    __tablename__ = "run_config_pins"

    workflow_id: str = Field(primary_key=True, max_length=256)
    run_id: str = Field(primary_key=True, max_length=64)
    agent_id: str = Field(primary_key=True, max_length=64)
    version: int
    created_at: datetime = Field(default_factory=utcnow)


class StepOutput(SQLModel, table=True):
    """A step output too big to travel inline in workflow history (see
    ``activities.contract.INLINE_OUTPUT_LIMIT_BYTES``); ``ref`` is what the step returns."""

    __tablename__ = "step_outputs"

    ref: str = Field(primary_key=True, max_length=512)
    workflow_id: str = Field(max_length=256, index=True)
    run_id: str = Field(max_length=64)
    step_key: str = Field(max_length=256)
    body: str = Field(sa_column=Column(Text, nullable=False), description="the output as JSON")
    size_bytes: int
    created_at: datetime = Field(default_factory=utcnow)


class Blob(SQLModel, table=True):
    """A complete blob, one per (tenant, sha256), whichever backend holds its content.

    The row is written last, in the transaction that records the first reference to it, so
    a blob is readable exactly when its row exists: a crashed upload leaves no row.
    ``upload_id`` names the upload whose content it is (chunks in ``blob_chunks``, or the
    staging object on S3). ``last_used_at`` moves at every put of the same content; garbage
    collection only takes blobs idle past a grace period, so it never races a put that is
    re-using the blob right now.
    """

    __tablename__ = "blobs"
    __table_args__ = (UniqueConstraint("upload_id", name="uq_blobs_upload_id"),)

    tenant: str = Field(primary_key=True, max_length=64)
    sha256: str = Field(primary_key=True, max_length=64)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    content_type: str = Field(max_length=255)
    upload_id: str = Field(max_length=32)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    last_used_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class BlobChunk(SQLModel, table=True):
    """Content of the database backend, in fixed-size pieces keyed by the upload that wrote
    them (the digest is only known at the end of the stream). Chunks of an upload no blob
    row names are staging: a running upload, or a crashed one that GC removes once stale."""

    __tablename__ = "blob_chunks"

    upload_id: str = Field(primary_key=True, max_length=32)
    seq: int = Field(primary_key=True)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class BlobRefRecord(SQLModel, table=True):
    """One run's use of a blob under a file name: what keeps the blob alive until
    ``expires_at``. Unique per (blob, run, file name), so a retried activity that puts the
    same file again records nothing new."""

    __tablename__ = "blob_refs"
    __table_args__ = (
        UniqueConstraint(
            "tenant", "sha256", "workflow_id", "run_id", "filename", name="uq_blob_refs_use"
        ),
        Index("ix_blob_refs_run", "workflow_id", "run_id"),
        Index("ix_blob_refs_expires_at", "expires_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(max_length=64)
    sha256: str = Field(max_length=64)
    filename: str = Field(max_length=255)
    workflow_id: str = Field(max_length=256)
    run_id: str = Field(max_length=64)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    expires_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class BudgetPool(SQLModel, table=True):
    """One run's pool of money (its root run, ``<workflow_id>/<run_id>``), shared by parallel
    branches, foreach items and child runs. Running totals, changed only while the row is
    locked (PostgreSQL ``SELECT … FOR UPDATE``, SQLite ``BEGIN IMMEDIATE``):

    * ``settled_nanos``: what settled calls were billed (the ledger's figures);
    * ``charged_nanos``: reservations of attempts that died without settling, charged in full;
    * ``reserved_nanos``: reservations still outstanding (calls in flight).

    Spent = settled + charged; a reservation is refused when spent + reserved + its worst
    case would pass the cap its call brought. ``cap_nanos`` is the largest cap any call
    brought (approvals only raise it); ``refusals`` counts refused reservations."""

    __tablename__ = "budget_pools"

    pool: str = Field(primary_key=True, max_length=400)
    cap_nanos: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    settled_nanos: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    charged_nanos: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    reserved_nanos: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    refusals: int = 0
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class BudgetReservation(SQLModel, table=True):
    """The worst case of one model call, held against its pool before the call is made.

    ``key`` is the ledger key of the call it precedes (run/step/attempt/request/occurrence),
    so a reservation settles to exactly the ledger row of its call, once. ``state``:
    ``reserved`` (outstanding), ``settled`` (``billed_nanos`` known: the bill, or 0 when no
    provider answered), ``charged`` (its attempt died without settling: charged in full
    until, if ever, the bill is known)."""

    __tablename__ = "budget_reservations"
    __table_args__ = (
        Index("ix_budget_reservations_pool", "pool", "state"),
        Index("ix_budget_reservations_step", "workflow_id", "run_id", "step_key"),
    )

    key: str = Field(primary_key=True, max_length=512)
    pool: str = Field(max_length=400)
    workflow_id: str = Field(max_length=256)
    run_id: str = Field(max_length=64)
    step_key: str = Field(max_length=256)
    attempt: int
    worst_nanos: int = Field(sa_column=Column(BigInteger, nullable=False))
    billed_nanos: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    state: str = Field(max_length=16)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    settled_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class BudgetAlertRecord(SQLModel, table=True):
    """A pool's spending (settled + charged) crossed ``threshold`` percent of its cap:
    recorded once per (pool, threshold)."""

    __tablename__ = "budget_alerts"
    __table_args__ = (UniqueConstraint("pool", "threshold", name="uq_budget_alerts_threshold"),)

    id: int | None = Field(default=None, primary_key=True)
    pool: str = Field(max_length=400)
    threshold: int
    spent_nanos: int = Field(sa_column=Column(BigInteger, nullable=False))
    cap_nanos: int = Field(sa_column=Column(BigInteger, nullable=False))
    at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


# -- the service layer: tenants, API keys, audit, executions, webhooks (revision 0005) -------


def _tz(nullable: bool = False) -> Column:  # type: ignore[type-arg]
    return Column(DateTime(timezone=True), nullable=nullable)


class Tenant(SQLModel, table=True):
    """A customer of the service. ``id`` matches ``TENANT_ID_PATTERN`` (it is the first
    segment of every workflow id the tenant starts). Limits: ``None`` = unlimited."""

    __tablename__ = "tenants"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=256)
    monthly_budget_nanos: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )
    max_running: int | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=_tz())


class ApiKey(SQLModel, table=True):
    """An API key of a principal (tenant + role + name). Only the SHA-256 of its secret is
    kept; the raw key ``bizos_<id>_<secret>`` is shown once when it is created."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_tenant", "tenant", "created_at"),)

    id: str = Field(primary_key=True, max_length=32)
    tenant: str = Field(max_length=64)
    name: str = Field(max_length=128)
    role: str = Field(max_length=16)
    secret_sha256: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_tz())
    expires_at: datetime | None = Field(default=None, sa_column=_tz(True))
    revoked_at: datetime | None = Field(default=None, sa_column=_tz(True))
    last_used_at: datetime | None = Field(default=None, sa_column=_tz(True))


class AuditRecord(SQLModel, table=True):
    """Who did what to which resource of a tenant (key.create, config.activate,
    execution.start, decision, …). Append-only; ``detail`` is JSON without secrets."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_tenant_at", "tenant", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(max_length=64)
    actor: str = Field(max_length=128)
    action: str = Field(max_length=64)
    target: str = Field(max_length=512)
    detail: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    at: datetime = Field(default_factory=utcnow, sa_column=_tz())


class Execution(SQLModel, table=True):
    """The service's index of the runs it started (Temporal holds the runs themselves):
    what the API lists per tenant without a visibility query. ``kind`` is ``template`` or
    ``agent``; ``name`` the template or agent id."""

    __tablename__ = "executions"
    __table_args__ = (
        Index("ix_executions_tenant_started", "tenant", "started_at", "workflow_id"),
        Index("ix_executions_tenant_status", "tenant", "status"),
        UniqueConstraint("tenant", "idempotency_key", name="uq_executions_idempotency_key"),
    )

    workflow_id: str = Field(primary_key=True, max_length=256)
    run_id: str = Field(max_length=64)
    tenant: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    name: str = Field(max_length=128)
    status: str = Field(max_length=32)
    started_at: datetime = Field(default_factory=utcnow, sa_column=_tz())
    closed_at: datetime | None = Field(default=None, sa_column=_tz(True))
    cost_nanos: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    idempotency_key: str | None = Field(default=None, max_length=256)


class WebhookEndpoint(SQLModel, table=True):
    """Where a tenant's run events are POSTed. ``secret`` is kept as given (not hashed):
    the sender needs it to sign every delivery (HMAC-SHA256); it is never logged or
    listed after creation."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_tenant", "tenant"),)

    id: str = Field(primary_key=True, max_length=32)
    tenant: str = Field(max_length=64)
    url: str = Field(max_length=2048)
    secret: str = Field(max_length=256)
    events: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_tz())
    disabled_at: datetime | None = Field(default=None, sa_column=_tz(True))


class WebhookDelivery(SQLModel, table=True):
    """One event for one endpoint, once: ``event_id`` names the (run, event) and is unique
    with the endpoint, so a repeated emit queues nothing new. ``status``: pending,
    delivered, failed (gave up)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id", name="uq_webhook_deliveries_event"),
        Index("ix_webhook_deliveries_status", "status", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=512)
    endpoint_id: str = Field(max_length=32)
    tenant: str = Field(max_length=64)
    event_type: str = Field(max_length=64)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_tz())
    delivered_at: datetime | None = Field(default=None, sa_column=_tz(True))


# -- people in the loop: approver groups, the decision log, used link tokens (revision 0006) --


class ApproverGroup(SQLModel, table=True):
    """A tenant's named group of approvers. ``members`` is a JSON list of
    ``{principal, email, slack_user}`` kept in the group's row, so a PUT replaces the whole
    group in one atomic upsert (two concurrent PUTs never interleave their members)."""

    __tablename__ = "approver_groups"

    tenant: str = Field(primary_key=True, max_length=64)
    name: str = Field(primary_key=True, max_length=64)
    members: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    slack_channel: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_tz())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_tz())


class DecisionLogRecord(SQLModel, table=True):
    """One decision, timeout or escalation of a run's approval or choice step. Written by a
    local activity that may run twice: unique per (run, step, round, level, kind)."""

    __tablename__ = "decision_log"
    __table_args__ = (
        UniqueConstraint(
            "workflow_id", "run_id", "step", "round", "level", "kind", name="uq_decision_log_event"
        ),
        Index("ix_decision_log_tenant_at", "tenant", "at"),
        Index("ix_decision_log_tenant_by", "tenant", "decided_by", "at"),
        Index("ix_decision_log_tenant_workflow", "tenant", "workflow_id", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(max_length=64)
    workflow_id: str = Field(max_length=256)
    run_id: str = Field(max_length=64)
    template: str = Field(max_length=128)
    step: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    option: str | None = Field(default=None, max_length=64)
    decided_by: str = Field(max_length=200)
    via: str | None = Field(default=None, max_length=16)
    comment: str = Field(default="", sa_column=Column(Text, nullable=False))
    digest: str | None = Field(default=None, max_length=80)
    level: int = 0
    round: int = 0
    group_name: str | None = Field(default=None, max_length=64)
    at: datetime = Field(default_factory=utcnow, sa_column=_tz())


class UsedLinkToken(SQLModel, table=True):
    """A signed decision link that has been used: its token id (``jti``) is the primary key,
    so of two concurrent POSTs of one link exactly one inserts and decides."""

    __tablename__ = "link_tokens_used"

    jti: str = Field(primary_key=True, max_length=64)
    tenant: str = Field(max_length=64)
    used_by: str = Field(max_length=200)
    used_at: datetime = Field(default_factory=utcnow, sa_column=_tz())


# -- live agent activity: what a running agent step does, for the console (revision 0007) --


class ActivityEventRecord(SQLModel, table=True):
    """One event of a running agent step (step started, tool call, model message, step
    finished or failed), appended as it happens. ``id`` is the console's server-sent-events
    id (monotonic, never reused); (workflow, run, step, attempt, seq) is the natural key, so a
    repeated write is a no-op. ``payload`` is bounded JSON (``truncated`` says it was cut)."""

    __tablename__ = "activity_events"
    __table_args__ = (
        UniqueConstraint(
            "workflow_id", "run_id", "step", "attempt", "seq", name="uq_activity_events_key"
        ),
        Index("ix_activity_events_workflow_id", "workflow_id", "id"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    workflow_id: str = Field(max_length=256)
    run_id: str = Field(max_length=64)
    step: str = Field(max_length=200)
    attempt: int = 1
    seq: int = 0
    kind: str = Field(max_length=32)
    agent: str = Field(default="", max_length=64)
    payload: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    truncated: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_column=_tz())
