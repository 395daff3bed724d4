"""The platform's database: cost ledger, call journal, agent configuration versions, run
pins, big step outputs and the blob store (``store.blobs``). SQLite file by default,
PostgreSQL with ``BIZOS_DATABASE_URL``.

One `Store` per process, opened once (it migrates the database to the current revision)
and closed at shutdown::

    store = await Store.open()          # settings from the environment
    ...
    await store.close()

Importing this package is light; SQLAlchemy loads when a store is opened.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from store.blobs import BlobBackend, BlobRef, BlobSource, BlobStat, GcReport
from store.records import (
    BilledCall,
    BudgetAlert,
    CallKey,
    ConfigVersionInfo,
    DeadAttemptSettlement,
    EstimatedCall,
    JournalHit,
    LedgerTotals,
    PoolTotals,
    Reservation,
    ReusedCall,
)
from store.settings import StoreSettings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from store.tables import LedgerEntry

__all__ = [
    "BilledCall",
    "BlobRef",
    "BlobStat",
    "BudgetAlert",
    "CallKey",
    "ConfigVersionInfo",
    "DeadAttemptSettlement",
    "EstimatedCall",
    "GcReport",
    "JournalHit",
    "LedgerTotals",
    "PoolTotals",
    "Reservation",
    "ReusedCall",
    "RunDataDeleted",
    "Store",
    "StoreSettings",
]


@dataclass(frozen=True)
class RunDataDeleted:
    """What `Store.delete_run_data` removed."""

    blob_refs: int
    outputs: int


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

    # agent configuration versions
    async def create_config_version(
        self,
        agent_id: str,
        body: dict[str, Any],
        *,
        note: str = "",
        activate: bool = True,
        request_key: str | None = None,
    ) -> int:
        from store import configs

        return await configs.create_version(
            self.engine, agent_id, body, note=note, activate=activate, request_key=request_key
        )

    async def activate_config_version(self, agent_id: str, version: int) -> None:
        from store import configs

        await configs.activate_version(self.engine, agent_id, version)

    async def active_config_version(self, agent_id: str) -> int | None:
        from store import configs

        return await configs.active_version(self.engine, agent_id)

    async def config_version(self, agent_id: str, version: int) -> ConfigVersionInfo:
        from store import configs

        return await configs.get_version(self.engine, agent_id, version)

    async def config_versions(self, agent_id: str) -> list[ConfigVersionInfo]:
        from store import configs

        return await configs.list_versions(self.engine, agent_id)

    async def pin_config_for_run(self, workflow_id: str, run_id: str, agent_id: str) -> int:
        from store import configs

        return await configs.pin_for_run(self.engine, workflow_id, run_id, agent_id)

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
        is None): its stored step outputs, and its blob references (the blobs nothing else
        references go at the next `gc_blobs`)."""
        from store import outputs

        refs = await self.blobs.delete_run(workflow_id, run_id)
        rows = await outputs.delete_run_outputs(self.engine, workflow_id, run_id)
        return RunDataDeleted(blob_refs=refs, outputs=rows)

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
