"""The database side of the blob store, shared by every backend: which blobs are complete
(``blobs``) and which runs reference them until when (``blob_refs``). Where the content
itself lives is the backend's business."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, func, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from store.blobs.records import RecordedRef
from store.blobs.ref import BlobRef
from store.tables import Blob, BlobRefRecord
from store.upsert import insert_ignore

BLOBS = Blob.__table__  # type: ignore[attr-defined]
REFS = BlobRefRecord.__table__  # type: ignore[attr-defined]


def aware(dt: datetime) -> datetime:
    """UTC-aware: SQLite hands timestamps back naive, and they were all written in UTC."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


@dataclass(frozen=True)
class BlobRow:
    tenant: str
    sha256: str
    size: int
    content_type: str
    upload_id: str
    created_at: datetime


def _row(r: Any) -> BlobRow:
    return BlobRow(
        tenant=r.tenant,
        sha256=r.sha256,
        size=r.size,
        content_type=r.content_type,
        upload_id=r.upload_id,
        created_at=aware(r.created_at),
    )


def _same_blob(tenant: str, sha256: str) -> Any:
    return and_(BLOBS.c.tenant == tenant, BLOBS.c.sha256 == sha256)


async def get_blob(conn: AsyncConnection, tenant: str, sha256: str) -> BlobRow | None:
    r = (await conn.execute(select(BLOBS).where(_same_blob(tenant, sha256)))).first()
    return None if r is None else _row(r)


async def touch_blob(conn: AsyncConnection, tenant: str, sha256: str, now: datetime) -> bool:
    """Mark an existing blob as used now (it keeps it out of the next collection's reach).
    False when there is no such blob. On PostgreSQL this also locks the row until commit."""
    result = await conn.execute(
        update(BLOBS).where(_same_blob(tenant, sha256)).values(last_used_at=now)
    )
    return bool(result.rowcount)


async def insert_blob(conn: AsyncConnection, row: BlobRow, now: datetime) -> bool:
    """Record a complete blob; False when a concurrent identical upload got there first."""
    return await insert_ignore(
        conn,
        BLOBS,
        {
            "tenant": row.tenant,
            "sha256": row.sha256,
            "size": row.size,
            "content_type": row.content_type,
            "upload_id": row.upload_id,
            "created_at": now,
            "last_used_at": now,
        },
    )


async def record_ref(
    conn: AsyncConnection,
    ref: BlobRef,
    *,
    workflow_id: str,
    run_id: str,
    now: datetime,
    expires_at: datetime,
) -> None:
    await insert_ignore(
        conn,
        REFS,
        {
            "tenant": ref.tenant,
            "sha256": ref.sha256,
            "filename": ref.filename,
            "workflow_id": workflow_id,
            "run_id": run_id,
            "created_at": now,
            "expires_at": expires_at,
        },
    )


def _run_filter(workflow_id: str, run_id: str | None) -> Any:
    cond = REFS.c.workflow_id == workflow_id
    return cond if run_id is None else and_(cond, REFS.c.run_id == run_id)


async def refs_for_run(
    conn: AsyncConnection, workflow_id: str, run_id: str | None
) -> list[RecordedRef]:
    joined = REFS.outerjoin(
        BLOBS, and_(BLOBS.c.tenant == REFS.c.tenant, BLOBS.c.sha256 == REFS.c.sha256)
    )
    stmt = (
        select(REFS, BLOBS.c.size, BLOBS.c.content_type)
        .select_from(joined)
        .where(_run_filter(workflow_id, run_id))
        .order_by(REFS.c.created_at, REFS.c.id)
    )
    return [
        RecordedRef(
            ref=BlobRef(tenant=r.tenant, sha256=r.sha256, filename=r.filename),
            workflow_id=r.workflow_id,
            run_id=r.run_id,
            size=r.size,
            content_type=r.content_type,
            created_at=aware(r.created_at),
            expires_at=aware(r.expires_at),
        )
        for r in (await conn.execute(stmt)).all()
    ]


async def delete_run_refs(conn: AsyncConnection, workflow_id: str, run_id: str | None) -> int:
    result = await conn.execute(delete(REFS).where(_run_filter(workflow_id, run_id)))
    return int(result.rowcount or 0)


async def delete_blob_refs(conn: AsyncConnection, tenant: str, sha256: str) -> int:
    result = await conn.execute(
        delete(REFS).where(REFS.c.tenant == tenant, REFS.c.sha256 == sha256)
    )
    return int(result.rowcount or 0)


async def delete_blob_row(conn: AsyncConnection, row: BlobRow) -> bool:
    result = await conn.execute(
        delete(BLOBS).where(_same_blob(row.tenant, row.sha256), BLOBS.c.upload_id == row.upload_id)
    )
    return bool(result.rowcount)


# --- garbage collection -------------------------------------------------------------------


def _expired(now: datetime, retention: timedelta | None) -> Any:
    cond = REFS.c.expires_at <= now
    return cond if retention is None else or_(cond, REFS.c.created_at <= now - retention)


def _unreferenced(now: datetime, retention: timedelta | None) -> Any:
    # Judged against live refs only, so a dry run (which deletes no ref) counts the same
    # blobs as the real collection that deletes the expired refs first.
    live = (
        select(REFS.c.id)
        .where(
            REFS.c.tenant == BLOBS.c.tenant,
            REFS.c.sha256 == BLOBS.c.sha256,
            not_(_expired(now, retention)),
        )
        .correlate(BLOBS)
    )
    return not_(exists(live))


def _collectable(now: datetime, retention: timedelta | None, cutoff: datetime) -> Any:
    return and_(BLOBS.c.last_used_at <= cutoff, _unreferenced(now, retention))


async def expire_refs(
    conn: AsyncConnection, now: datetime, retention: timedelta | None, *, dry_run: bool
) -> int:
    if dry_run:
        stmt = select(func.count()).select_from(REFS).where(_expired(now, retention))
        return int((await conn.execute(stmt)).scalar_one())
    result = await conn.execute(delete(REFS).where(_expired(now, retention)))
    return int(result.rowcount or 0)


async def count_collectable(
    conn: AsyncConnection, now: datetime, retention: timedelta | None, cutoff: datetime
) -> tuple[int, int]:
    """(blobs, bytes) a collection would remove now."""
    stmt = select(func.count(), func.coalesce(func.sum(BLOBS.c.size), 0)).where(
        _collectable(now, retention, cutoff)
    )
    count, size = (await conn.execute(stmt)).one()
    return int(count), int(size)


async def collectable_blobs(
    conn: AsyncConnection,
    now: datetime,
    retention: timedelta | None,
    cutoff: datetime,
    limit: int,
) -> list[BlobRow]:
    stmt = select(BLOBS).where(_collectable(now, retention, cutoff)).limit(limit)
    return [_row(r) for r in (await conn.execute(stmt)).all()]


async def claim_for_deletion(
    conn: AsyncConnection,
    row: BlobRow,
    now: datetime,
    retention: timedelta | None,
    cutoff: datetime,
) -> bool:
    """Delete the blob's row if it is still collectable; the caller erases its content in the
    same transaction. A put re-using the blob meanwhile moved ``last_used_at`` (PostgreSQL
    re-checks the condition on the row it waited for), so the put wins and the row stays."""
    result = await conn.execute(
        delete(BLOBS).where(
            _same_blob(row.tenant, row.sha256),
            BLOBS.c.upload_id == row.upload_id,
            _collectable(now, retention, cutoff),
        )
    )
    return bool(result.rowcount)
