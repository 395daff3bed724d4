"""The blob store's behaviour, written once: streaming puts with the digest computed on the
way, the commit that makes a blob readable, tenant checks, verified reads and garbage
collection. A backend only says where content is staged, kept, read and erased."""

from __future__ import annotations

import logging
import mimetypes
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from store.blobs import catalog
from store.blobs.catalog import BlobRow, aware
from store.blobs.errors import BlobError, BlobIntegrityError, BlobNotFound, BlobTenantMismatch
from store.blobs.protocol import DEFAULT_GC_GRACE
from store.blobs.records import BlobStat, GcReport, RecordedRef
from store.blobs.ref import BlobRef, as_ref, check_filename, check_tenant
from store.blobs.streaming import CHUNK_SIZE, BlobSource, Digest, fixed_chunks, write_to_file
from store.engine import write_transaction
from store.settings import StoreSettings
from store.tables import utcnow

log = logging.getLogger(__name__)

GC_BATCH = 200
_COMMIT_ATTEMPTS = 3


class CatalogBackend(ABC):
    """A ``BlobBackend`` whose catalog (complete blobs and run references) is in the store's
    database; subclasses hold the content."""

    def __init__(self, engine: AsyncEngine, settings: StoreSettings) -> None:
        self.engine = engine
        self.settings = settings
        self.chunk_size = CHUNK_SIZE

    # --- where content goes (the backend's part) -------------------------------------------

    @abstractmethod
    async def _stage(self, upload_id: str, chunks: AsyncIterator[bytes]) -> None:
        """Store the upload's content somewhere no reader looks yet."""

    @abstractmethod
    async def _promote(self, conn: AsyncConnection, row: BlobRow) -> None:
        """Make the staged upload the blob's content. Runs inside the transaction that
        inserts the blob's row: if it raises, the row is never committed."""

    async def _after_promote(self, upload_id: str) -> None:
        """Tidy up after a committed promotion (e.g. drop a staging copy)."""
        return None

    @abstractmethod
    async def _discard(self, upload_id: str) -> None:
        """Remove a staged upload that will never be promoted. Must leave promoted content
        alone: it is also called after failures that may follow a commit."""

    @abstractmethod
    def _read(self, row: BlobRow) -> AsyncIterator[bytes]:
        """The blob's content in chunks, unverified."""

    @abstractmethod
    async def _erase(self, conn: AsyncConnection, row: BlobRow) -> None:
        """Remove a blob's content, inside the transaction that deletes its row."""

    @abstractmethod
    async def _collect_stale_staging(self, cutoff: datetime, *, dry_run: bool) -> int:
        """Remove uploads abandoned (no write) since before ``cutoff``; returns how many."""

    async def aclose(self) -> None:
        """Release clients; the engine belongs to the store."""
        return None

    # --- writing -----------------------------------------------------------------------------

    async def put_stream(
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
        check_tenant(tenant)
        check_filename(filename)
        content_type = content_type or _guess_type(filename)
        keep = timedelta(days=self.settings.blob_retention_days) if retention is None else retention
        upload_id = uuid.uuid4().hex
        digest = Digest()
        try:
            await self._stage(upload_id, digest.tap(fixed_chunks(source, self.chunk_size)))
            ref = BlobRef(tenant=tenant, sha256=digest.hexdigest, filename=filename)
            row = BlobRow(tenant, ref.sha256, digest.size, content_type, upload_id, utcnow())
            promoted = await self._commit(row, ref, workflow_id, run_id, keep)
        except BaseException:
            await self._discard_quietly(upload_id)
            raise
        if promoted:
            await self._after_promote(upload_id)
        else:  # the same content was already stored: ours is a duplicate
            await self._discard_quietly(upload_id)
        return ref

    async def _commit(
        self, row: BlobRow, ref: BlobRef, workflow_id: str, run_id: str, keep: timedelta
    ) -> bool:
        """Record the ref, re-using the blob when it exists, else making ours the blob, in
        one transaction: a blob row never exists without its content, nor a fresh ref
        without its blob. True when our upload became the blob."""
        for _ in range(_COMMIT_ATTEMPTS):
            async with write_transaction(self.engine) as conn:
                now = utcnow()
                if await catalog.touch_blob(conn, row.tenant, row.sha256, now):
                    promoted = False
                elif await catalog.insert_blob(conn, row, now):
                    await self._promote(conn, row)
                    promoted = True
                else:
                    continue  # an identical upload committed in between: re-use it next round
                await catalog.record_ref(
                    conn,
                    ref,
                    workflow_id=workflow_id,
                    run_id=run_id,
                    now=now,
                    expires_at=now + keep,
                )
                return promoted
        raise BlobError(f"could not record blob {ref}: the catalog kept changing under the put")

    async def _discard_quietly(self, upload_id: str) -> None:
        try:
            await self._discard(upload_id)
        except Exception:  # the next collection removes stale uploads anyway
            log.warning("could not discard staged blob upload %s", upload_id, exc_info=True)

    # --- reading -----------------------------------------------------------------------------

    async def _lookup(self, ref: BlobRef | str, tenant: str | None) -> BlobRow:
        ref = as_ref(ref)
        if tenant is not None and tenant != ref.tenant:
            raise BlobTenantMismatch(
                f"blob {ref} belongs to tenant {ref.tenant!r}; tenant {tenant!r} cannot read it"
            )
        async with self.engine.connect() as conn:
            row = await catalog.get_blob(conn, ref.tenant, ref.sha256)
        if row is None:
            raise BlobNotFound(
                f"no blob {ref}: never stored in tenant {ref.tenant!r}, or collected since"
            )
        return row

    async def open_stream(
        self, ref: BlobRef | str, *, tenant: str | None = None
    ) -> AsyncIterator[bytes]:
        row = await self._lookup(ref, tenant)
        digest = Digest()
        async for chunk in digest.tap(self._read(row)):
            yield chunk
        if digest.size != row.size or digest.hexdigest != row.sha256:
            raise BlobIntegrityError(
                f"blob {ref} read back {digest.size} bytes with sha256 {digest.hexdigest}; "
                f"stored: {row.size} bytes, sha256 {row.sha256}"
            )

    async def get_to_file(
        self, ref: BlobRef | str, path: Path, *, tenant: str | None = None
    ) -> BlobStat:
        row = await self._lookup(ref, tenant)
        await write_to_file(self._read(row), Path(path), row.sha256)
        return _stat(row)

    async def stat(self, ref: BlobRef | str, *, tenant: str | None = None) -> BlobStat:
        return _stat(await self._lookup(ref, tenant))

    async def exists(self, ref: BlobRef | str) -> bool:
        ref = as_ref(ref)
        async with self.engine.connect() as conn:
            return await catalog.get_blob(conn, ref.tenant, ref.sha256) is not None

    # --- references and deletion -------------------------------------------------------------

    async def refs_for_run(self, workflow_id: str, run_id: str | None = None) -> list[RecordedRef]:
        async with self.engine.connect() as conn:
            return await catalog.refs_for_run(conn, workflow_id, run_id)

    async def delete_run(self, workflow_id: str, run_id: str | None = None) -> int:
        async with write_transaction(self.engine) as conn:
            return await catalog.delete_run_refs(conn, workflow_id, run_id)

    async def delete(self, ref: BlobRef | str) -> bool:
        ref = as_ref(ref)
        async with write_transaction(self.engine) as conn:
            await catalog.delete_blob_refs(conn, ref.tenant, ref.sha256)
            row = await catalog.get_blob(conn, ref.tenant, ref.sha256)
            if row is None or not await catalog.delete_blob_row(conn, row):
                return False
            await self._erase(conn, row)
        return True

    async def gc(
        self,
        now: datetime | None = None,
        *,
        retention: timedelta | None = None,
        grace: timedelta = DEFAULT_GC_GRACE,
        dry_run: bool = False,
    ) -> GcReport:
        now = aware(now or utcnow())
        cutoff = now - grace
        report = GcReport(dry_run=dry_run)
        async with write_transaction(self.engine) as conn:
            report.refs_deleted = await catalog.expire_refs(conn, now, retention, dry_run=dry_run)
        if dry_run:
            async with self.engine.connect() as conn:
                blobs, size = await catalog.count_collectable(conn, now, retention, cutoff)
            report.blobs_deleted, report.bytes_freed = blobs, size
        else:
            await self._collect_blobs(report, now, retention, cutoff)
        report.stale_uploads_deleted = await self._collect_stale_staging(cutoff, dry_run=dry_run)
        return report

    async def _collect_blobs(
        self, report: GcReport, now: datetime, retention: timedelta | None, cutoff: datetime
    ) -> None:
        while True:
            async with self.engine.connect() as conn:
                rows = await catalog.collectable_blobs(conn, now, retention, cutoff, GC_BATCH)
            for row in rows:
                # One transaction per blob: its row and its content go together, and a put
                # waiting on the row is held up for one blob only.
                async with write_transaction(self.engine) as conn:
                    if await catalog.claim_for_deletion(conn, row, now, retention, cutoff):
                        await self._erase(conn, row)
                        report.blobs_deleted += 1
                        report.bytes_freed += row.size
            if len(rows) < GC_BATCH:
                return


def _guess_type(filename: str) -> str:
    return mimetypes.guess_type(filename, strict=False)[0] or "application/octet-stream"


def _stat(row: BlobRow) -> BlobStat:
    return BlobStat(
        tenant=row.tenant,
        sha256=row.sha256,
        size=row.size,
        content_type=row.content_type,
        created=row.created_at,
    )
