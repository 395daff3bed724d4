"""The platform's database: cost ledger, call journal, agent configuration versions (per
tenant), run pins, big step outputs, the blob store (``store.blobs``), and the service
layer's tenants, API keys, audit log, executions index and webhooks. SQLite file by default,
PostgreSQL with ``BIZOS_DATABASE_URL``.

One `Store` per process, opened once (it migrates the database to the current revision)
and closed at shutdown::

    store = await Store.open()          # settings from the environment
    ...
    await store.close()

Importing this package is light; SQLAlchemy loads when a store is opened.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from store.blobs import BlobBackend, BlobRef, BlobSource, BlobStat, GcReport
from store.records import (
    ROLES,
    ApproverGroupInfo,
    ApproverMember,
    AuditEntry,
    BilledCall,
    BudgetAlert,
    CallKey,
    ConfigVersionInfo,
    CostLine,
    DeadAttemptSettlement,
    DecisionInfo,
    EstimatedCall,
    ExecutionInfo,
    ExecutionPage,
    JournalHit,
    KeyInfo,
    LedgerTotals,
    PoolTotals,
    Principal,
    Reservation,
    ReusedCall,
    TenantInfo,
    WebhookDeliveryInfo,
    WebhookEndpointInfo,
)
from store.settings import StoreSettings

if TYPE_CHECKING:
    from pydantic import BaseModel
    from sqlalchemy.ext.asyncio import AsyncEngine

    from store.activity_events import ActivityEvent, NewActivityEvent
    from store.tables import LedgerEntry

__all__ = [
    "ROLES",
    "ApproverGroupInfo",
    "ApproverMember",
    "AuditEntry",
    "BilledCall",
    "BlobRef",
    "BlobStat",
    "BudgetAlert",
    "CallKey",
    "ConfigVersionInfo",
    "DeadAttemptSettlement",
    "DecisionInfo",
    "EstimatedCall",
    "ExecutionInfo",
    "ExecutionPage",
    "GcReport",
    "JournalHit",
    "KeyInfo",
    "LedgerTotals",
    "PoolTotals",
    "Principal",
    "Reservation",
    "ReusedCall",
    "RunDataDeleted",
    "Store",
    "StoreSettings",
    "TenantInfo",
    "WebhookDeliveryInfo",
    "WebhookEndpointInfo",
]


@dataclass(frozen=True)
class RunDataDeleted:
    """What `Store.delete_run_data` removed."""

    blob_refs: int
    outputs: int
    activity_events: int = 0


class Store:
    """Facade over the store's modules, holding the one async engine of the process."""

    def __init__(self, engine: AsyncEngine, settings: StoreSettings) -> None:
        self.engine = engine
        self.settings = settings
        self._blobs: BlobBackend | None = None

    @classmethod
    async def open(cls, settings: StoreSettings | None = None, *, migrate: bool = True) -> Store:
        from store.engine import create_engine
        from store.migrate import upgrade

        settings = settings or StoreSettings()
        engine = create_engine(settings)
        try:
            if migrate:
                await upgrade(engine, settings.database_schema)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine, settings)

    async def close(self) -> None:
        if self._blobs is not None:
            await self._blobs.aclose()
        await self.engine.dispose()

    # ledger and journal
    async def record_billed_call(self, call: BilledCall) -> bool:
        from store import ledger

        return await ledger.record_billed_call(self.engine, call)

    async def record_estimated_call(self, call: EstimatedCall) -> bool:
        from store import ledger

        return await ledger.record_estimated_call(self.engine, call)

    async def record_estimated_calls(self, calls: list[EstimatedCall]) -> int:
        """Offline calls' ledger rows in one transaction; how many were new."""
        from store import ledger

        return await ledger.record_estimated_calls(self.engine, calls)

    async def lookup_call(self, key: CallKey) -> JournalHit | None:
        from store import ledger

        return await ledger.lookup_call(self.engine, key)

    async def record_reuse(self, reuse: ReusedCall) -> bool:
        from store import ledger

        return await ledger.record_reuse(self.engine, reuse)

    async def ledger_entries(
        self, workflow_id: str, run_id: str | None = None, step_key: str | None = None
    ) -> list[LedgerEntry]:
        from store import ledger

        return await ledger.ledger_entries(self.engine, workflow_id, run_id, step_key)

    async def ledger_entries_under(self, workflow_id: str) -> list[LedgerEntry]:
        """A run's rows and its child runs' (ids ``<workflow_id>.<step>…``)."""
        from store import ledger

        return await ledger.ledger_entries_under(self.engine, workflow_id)

    async def costs_by(
        self,
        tenant: str,
        group_by: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[CostLine]:
        from store import costs

        return await costs.costs_by(
            self.engine,
            tenant,
            group_by,  # type: ignore[arg-type]
            since=since,
            until=until,
        )

    async def ledger_totals(
        self, workflow_id: str, run_id: str | None = None, step_key: str | None = None
    ) -> LedgerTotals:
        from store import ledger

        return await ledger.ledger_totals(self.engine, workflow_id, run_id, step_key)

    # budget pools: one pool of money per run (store.budget)
    async def reserve(
        self,
        pool: str,
        key: str,
        worst_nanos: int,
        cap_nanos: int,
        *,
        workflow_id: str = "",
        run_id: str = "",
        step_key: str = "",
        attempt: int = 0,
    ) -> bool:
        """Hold a call's worst case against ``pool``; False (refused) when it would pass
        ``cap_nanos``. ``key`` = the call's ledger key. Idempotent by key."""
        from store import budget

        return await budget.reserve(
            self.engine,
            pool,
            key,
            worst_nanos,
            cap_nanos,
            workflow_id=workflow_id,
            run_id=run_id,
            step_key=step_key,
            attempt=attempt,
        )

    async def settle(self, key: str, billed_nanos: int) -> bool:
        """Turn a reservation into spending of its bill (idempotent by key)."""
        from store import budget

        return await budget.settle(self.engine, key, billed_nanos)

    async def settle_dead_attempts(
        self, workflow_id: str, run_id: str, step_key: str, before_attempt: int
    ) -> DeadAttemptSettlement:
        """Earlier attempts' outstanding reservations: to their journalled bill, or charged."""
        from store import budget

        return await budget.settle_dead_attempts(
            self.engine, workflow_id, run_id, step_key, before_attempt
        )

    async def pool_totals(self, pool: str) -> PoolTotals:
        from store import budget

        return await budget.pool_totals(self.engine, pool)

    async def budget_alerts(self, pool: str) -> list[BudgetAlert]:
        from store import budget

        return await budget.budget_alerts(self.engine, pool)

    async def reservations(self, pool: str) -> list[Reservation]:
        from store import budget

        return await budget.reservations(self.engine, pool)

    # agent configuration versions, per tenant (default: tenant `default`)
    async def create_config_version(
        self,
        agent_id: str,
        body: dict[str, Any],
        *,
        note: str = "",
        activate: bool = True,
        request_key: str | None = None,
        tenant: str = "default",
    ) -> int:
        from store import configs

        return await configs.create_version(
            self.engine,
            agent_id,
            body,
            note=note,
            activate=activate,
            request_key=request_key,
            tenant=tenant,
        )

    async def activate_config_version(
        self, agent_id: str, version: int, *, tenant: str = "default"
    ) -> None:
        from store import configs

        await configs.activate_version(self.engine, agent_id, version, tenant=tenant)

    async def active_config_version(self, agent_id: str, *, tenant: str = "default") -> int | None:
        from store import configs

        return await configs.active_version(self.engine, agent_id, tenant=tenant)

    async def config_version(
        self, agent_id: str, version: int, *, tenant: str = "default"
    ) -> ConfigVersionInfo:
        from store import configs

        return await configs.get_version(self.engine, agent_id, version, tenant=tenant)

    async def config_versions(
        self, agent_id: str, *, tenant: str = "default"
    ) -> list[ConfigVersionInfo]:
        from store import configs

        return await configs.list_versions(self.engine, agent_id, tenant=tenant)

    async def pin_config_for_run(
        self, workflow_id: str, run_id: str, agent_id: str, *, tenant: str | None = None
    ) -> int:
        """``tenant`` None = the workflow id's first segment (`configs.tenant_of_workflow`)."""
        from store import configs

        return await configs.pin_for_run(self.engine, workflow_id, run_id, agent_id, tenant=tenant)

    # tenants, API keys and the audit log (the service layer)
    async def create_tenant(
        self,
        tenant_id: str,
        *,
        name: str | None = None,
        monthly_budget_usd: float | None = None,
        max_running: int | None = None,
    ) -> TenantInfo:
        from store import tenants

        return await tenants.create_tenant(
            self.engine,
            tenant_id,
            name=name,
            monthly_budget_usd=monthly_budget_usd,
            max_running=max_running,
        )

    async def get_tenant(self, tenant_id: str) -> TenantInfo | None:
        from store import tenants

        return await tenants.get_tenant(self.engine, tenant_id)

    async def list_tenants(self) -> list[TenantInfo]:
        from store import tenants

        return await tenants.list_tenants(self.engine)

    async def create_key(
        self, tenant: str, name: str, role: str, expires_at: datetime | None = None
    ) -> tuple[KeyInfo, str]:
        """A new API key: its info and the raw key (show it once; only its hash is kept)."""
        from store import keys

        return await keys.create_key(self.engine, tenant, name, role, expires_at)

    async def list_keys(self, tenant: str) -> list[KeyInfo]:
        from store import keys

        return await keys.list_keys(self.engine, tenant)

    async def get_key(self, tenant: str, key_id: str) -> KeyInfo:
        """A key of ``tenant`` (`store.keys.KeyNotFound` for another tenant's)."""
        from store import keys

        return await keys.get_key(self.engine, tenant, key_id)

    async def revoke_key(self, tenant: str, key_id: str) -> KeyInfo:
        from store import keys

        return await keys.revoke_key(self.engine, tenant, key_id)

    async def principal_for_key(
        self, raw_key: str, now: datetime | None = None
    ) -> Principal | None:
        """Who the key authenticates; None for unknown, revoked or expired keys."""
        from store import keys

        return await keys.principal_for_key(self.engine, raw_key, now)

    async def audit(
        self,
        tenant: str,
        actor: str,
        action: str,
        target: str,
        detail: dict[str, Any] | None = None,
    ) -> None:
        from store import audit

        await audit.audit(self.engine, tenant, actor, action, target, detail)

    async def audit_entries(
        self,
        tenant: str,
        *,
        action: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        from store import audit

        return await audit.list_audit(self.engine, tenant, action=action, since=since, limit=limit)

    # the executions index (runs the service started)
    async def record_execution(
        self,
        *,
        workflow_id: str,
        run_id: str,
        tenant: str,
        kind: str,
        name: str,
        status: str = "running",
        started_at: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> bool:
        from store import executions

        return await executions.record_execution(
            self.engine,
            workflow_id=workflow_id,
            run_id=run_id,
            tenant=tenant,
            kind=kind,
            name=name,
            status=status,
            started_at=started_at,
            idempotency_key=idempotency_key,
        )

    async def update_execution_status(
        self,
        workflow_id: str,
        status: str,
        *,
        run_id: str | None = None,
        closed_at: datetime | None = None,
        cost_usd: float | None = None,
    ) -> bool:
        from store import executions

        return await executions.update_execution_status(
            self.engine, workflow_id, status, run_id=run_id, closed_at=closed_at, cost_usd=cost_usd
        )

    async def get_execution(self, tenant: str, workflow_id: str) -> ExecutionInfo | None:
        from store import executions

        return await executions.get_execution(self.engine, tenant, workflow_id)

    async def execution_for_idempotency_key(
        self, tenant: str, idempotency_key: str
    ) -> ExecutionInfo | None:
        from store import executions

        return await executions.execution_for_idempotency_key(self.engine, tenant, idempotency_key)

    async def list_executions(
        self,
        tenant: str,
        *,
        template: str | None = None,
        agent: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> ExecutionPage:
        from store import executions

        return await executions.list_executions(
            self.engine,
            tenant,
            template=template,
            agent=agent,
            status=status,
            since=since,
            until=until,
            limit=limit,
            cursor=cursor,
        )

    # webhook endpoints and deliveries
    async def create_webhook(
        self, tenant: str, url: str, events: list[str], *, secret: str | None = None
    ) -> tuple[WebhookEndpointInfo, str]:
        """A new endpoint and its signing secret (show it once)."""
        from store import webhooks

        return await webhooks.create_endpoint(self.engine, tenant, url, events, secret=secret)

    async def get_webhook(self, tenant: str, endpoint_id: str) -> WebhookEndpointInfo:
        from store import webhooks

        return await webhooks.get_endpoint(self.engine, tenant, endpoint_id)

    async def list_webhooks(
        self, tenant: str, *, event: str | None = None, include_disabled: bool = False
    ) -> list[WebhookEndpointInfo]:
        from store import webhooks

        return await webhooks.list_endpoints(
            self.engine, tenant, event=event, include_disabled=include_disabled
        )

    async def update_webhook(
        self,
        tenant: str,
        endpoint_id: str,
        *,
        url: str | None = None,
        events: list[str] | None = None,
    ) -> WebhookEndpointInfo:
        from store import webhooks

        return await webhooks.update_endpoint(
            self.engine, tenant, endpoint_id, url=url, events=events
        )

    async def disable_webhook(self, tenant: str, endpoint_id: str) -> WebhookEndpointInfo:
        from store import webhooks

        return await webhooks.disable_endpoint(self.engine, tenant, endpoint_id)

    async def webhook_secret(self, tenant: str, endpoint_id: str) -> str:
        """The endpoint's signing secret: for the sender only, never shown or logged."""
        from store import webhooks

        return await webhooks.endpoint_secret(self.engine, tenant, endpoint_id)

    async def enqueue_webhook_delivery(
        self,
        *,
        event_id: str,
        endpoint_id: str,
        tenant: str,
        event_type: str,
        payload: dict[str, Any],
    ) -> bool:
        from store import webhooks

        return await webhooks.enqueue_delivery(
            self.engine,
            event_id=event_id,
            endpoint_id=endpoint_id,
            tenant=tenant,
            event_type=event_type,
            payload=payload,
        )

    async def record_webhook_attempt(
        self,
        delivery_id: int,
        *,
        delivered: bool,
        error: str | None = None,
        give_up: bool = False,
    ) -> None:
        from store import webhooks

        await webhooks.record_delivery_attempt(
            self.engine, delivery_id, delivered=delivered, error=error, give_up=give_up
        )

    async def webhook_deliveries(
        self,
        *,
        tenant: str | None = None,
        status: str | None = None,
        endpoint_id: str | None = None,
        limit: int = 100,
    ) -> list[WebhookDeliveryInfo]:
        from store import webhooks

        return await webhooks.list_deliveries(
            self.engine, tenant=tenant, status=status, endpoint_id=endpoint_id, limit=limit
        )

    # people in the loop: approver groups, the decision log, single-use links (store.approvers)
    async def put_approver_group(
        self,
        tenant: str,
        name: str,
        members: list[ApproverMember],
        *,
        slack_channel: str | None = None,
    ) -> ApproverGroupInfo:
        """Create or replace a tenant's approver group."""
        from store import approvers

        return await approvers.put_group(
            self.engine, tenant, name, members, slack_channel=slack_channel
        )

    async def get_approver_group(self, tenant: str, name: str) -> ApproverGroupInfo | None:
        from store import approvers

        return await approvers.get_group(self.engine, tenant, name)

    async def list_approver_groups(self, tenant: str) -> list[ApproverGroupInfo]:
        from store import approvers

        return await approvers.list_groups(self.engine, tenant)

    async def delete_approver_group(self, tenant: str, name: str) -> None:
        """`store.approvers.ApproverGroupNotFound` when the tenant has no such group."""
        from store import approvers

        await approvers.delete_group(self.engine, tenant, name)

    async def approver_group_members(self, tenant: str, group: str) -> list[str] | None:
        """A group's principal names; None when the tenant has no such group."""
        from store import approvers

        return await approvers.group_members(self.engine, tenant, group)

    async def record_decision(self, entry: BaseModel) -> None:
        """Log a `workflows.models.DecisionLogEntry` once per (run, step, round, level,
        kind): a retried local activity writes one row."""
        from store import approvers

        await approvers.record_decision(self.engine, entry)

    async def list_decisions(
        self,
        tenant: str,
        *,
        workflow_id: str | None = None,
        by: str | None = None,
        step: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[DecisionInfo]:
        """The tenant's decision log, newest first."""
        from store import approvers

        return await approvers.list_decisions(
            self.engine,
            tenant,
            workflow_id=workflow_id,
            by=by,
            step=step,
            since=since,
            until=until,
            limit=limit,
        )

    async def use_link_token(self, jti: str, tenant: str, by: str) -> bool:
        """Mark a decision link used; False when it was used before (single use)."""
        from store import approvers

        return await approvers.use_link_token(self.engine, jti, tenant, by)

    async def link_token_used(self, jti: str) -> bool:
        from store import approvers

        return await approvers.link_token_used(self.engine, jti)

    async def release_link_token(self, jti: str) -> None:
        """Undo `use_link_token` when the decision it carried was not applied."""
        from store import approvers

        await approvers.release_link_token(self.engine, jti)

    # big step outputs
    async def put_output(
        self,
        *,
        ref_key: str,
        workflow_id: str,
        run_id: str,
        step_key: str,
        body: str,
        replace: bool = False,
    ) -> str:
        """See `store.outputs.put_output` (``replace``: a later write wins)."""
        from store import outputs

        return await outputs.put_output(
            self.engine,
            ref_key=ref_key,
            workflow_id=workflow_id,
            run_id=run_id,
            step_key=step_key,
            body=body,
            replace=replace,
        )

    async def get_output(self, ref: str) -> Any:
        from store import outputs

        return await outputs.get_output(self.engine, ref)

    async def delete_run_data(self, workflow_id: str, run_id: str | None = None) -> RunDataDeleted:
        """Forget what a run left in the store (every run of the workflow id when ``run_id``
        is None): its stored step outputs, its agents' live activity (tool calls and messages
        shown in the console) and its blob references (the blobs nothing else references go
        at the next `gc_blobs`)."""
        from store import outputs

        refs = await self.blobs.delete_run(workflow_id, run_id)
        rows = await outputs.delete_run_outputs(self.engine, workflow_id, run_id)
        events = await self.delete_activity_events(workflow_id, run_id)
        return RunDataDeleted(blob_refs=refs, outputs=rows, activity_events=events)

    # blobs: files and big outputs shared by every worker, passed as `blob://` refs
    @property
    def blobs(self) -> BlobBackend:
        """The blob backend the settings choose (``BIZOS_BLOB_BACKEND``), made on first use."""
        if self._blobs is None:
            from store.blobs import open_backend

            self._blobs = open_backend(self.engine, self.settings)
        return self._blobs

    async def put_blob(
        self,
        tenant: str,
        source: BlobSource,
        filename: str,
        *,
        workflow_id: str,
        run_id: str,
        content_type: str | None = None,
        retention: timedelta | None = None,
    ) -> BlobRef:
        return await self.blobs.put_stream(
            tenant,
            source,
            filename,
            workflow_id=workflow_id,
            run_id=run_id,
            content_type=content_type,
            retention=retention,
        )

    def open_blob(self, ref: BlobRef | str, *, tenant: str | None = None) -> AsyncIterator[bytes]:
        return self.blobs.open_stream(ref, tenant=tenant)

    async def blob_to_file(
        self, ref: BlobRef | str, path: Path, *, tenant: str | None = None
    ) -> BlobStat:
        return await self.blobs.get_to_file(ref, path, tenant=tenant)

    async def stat_blob(self, ref: BlobRef | str, *, tenant: str | None = None) -> BlobStat:
        return await self.blobs.stat(ref, tenant=tenant)

    async def gc_blobs(
        self,
        now: datetime | None = None,
        *,
        retention: timedelta | None = None,
        dry_run: bool = False,
    ) -> GcReport:
        return await self.blobs.gc(now, retention=retention, dry_run=dry_run)

    # live agent activity: events a running step appends, the console streams (revision 0007)
    async def append_activity_events(self, rows: Sequence[NewActivityEvent]) -> None:
        """Append in order; a row whose (workflow, run, step, attempt, seq) exists is skipped."""
        from store import activity_events

        await activity_events.append_activity_events(self.engine, rows)

    async def list_activity_events(
        self, workflow_id: str, after_id: int = 0, limit: int = 500
    ) -> list[ActivityEvent]:
        """A workflow's events after ``after_id`` (the stream's event id), oldest first."""
        from store import activity_events

        return await activity_events.list_activity_events(self.engine, workflow_id, after_id, limit)

    async def delete_activity_events(self, workflow_id: str, run_id: str | None = None) -> int:
        """Forget a run's live events (every run of the workflow id when ``run_id`` is None)."""
        from store import activity_events

        return await activity_events.delete_activity_events(self.engine, workflow_id, run_id)
