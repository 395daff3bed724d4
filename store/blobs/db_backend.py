"""Blob content in the store's own database (the default): works wherever the store works,
SQLite or PostgreSQL, with nothing else to run. Content is kept as fixed-size chunks keyed
by the upload that wrote them, one short transaction per chunk so other writers (worker
pools sharing a SQLite file) are never held up by a big upload."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from sqlalchemy import Exists, delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from store.blobs.base import CatalogBackend
from store.blobs.catalog import BLOBS, BlobRow
from store.blobs.errors import BlobIntegrityError
from store.engine import write_transaction
from store.tables import BlobChunk, utcnow

CHUNKS = BlobChunk.__table__  # type: ignore[attr-defined]


def _promoted(upload_id: Any) -> Exists:
    return exists(select(BLOBS.c.upload_id).where(BLOBS.c.upload_id == upload_id))


class DatabaseBlobBackend(CatalogBackend):
    async def _stage(self, upload_id: str, chunks: AsyncIterator[bytes]) -> None:
        seq = 0
        async for chunk in chunks:
            async with write_transaction(self.engine) as conn:
                await conn.execute(
                    CHUNKS.insert().values(
                        upload_id=upload_id, seq=seq, data=chunk, created_at=utcnow()
                    )
                )
            seq += 1

    async def _promote(self, conn: AsyncConnection, row: BlobRow) -> None:
        # A stale-upload collection could in principle have taken chunks of a very slow
        # upload; never let such a blob become readable.
        stmt = select(func.coalesce(func.sum(func.length(CHUNKS.c.data)), 0)).where(
            CHUNKS.c.upload_id == row.upload_id
        )
        stored = int((await conn.execute(stmt)).scalar_one())
        if stored != row.size:
            raise BlobIntegrityError(
                f"upload {row.upload_id} has {stored} of its {row.size} bytes stored; "
                "it was interrupted or collected as abandoned — put the file again"
            )

    async def _discard(self, upload_id: str) -> None:
        async with write_transaction(self.engine) as conn:
            await conn.execute(
                delete(CHUNKS).where(
                    CHUNKS.c.upload_id == upload_id,
                    ~_promoted(upload_id),
                )
            )

    async def _read(self, row: BlobRow) -> AsyncIterator[bytes]:
        # One chunk per query on a short-lived connection: a reader that stops half-way
        # holds nothing, and memory stays at one chunk.
        read, seq = 0, 0
        while read < row.size:
            async with self.engine.connect() as conn:
                data = (
                    await conn.execute(
                        select(CHUNKS.c.data).where(
                            CHUNKS.c.upload_id == row.upload_id, CHUNKS.c.seq == seq
                        )
                    )
                ).scalar()
            if data is None:
                raise BlobIntegrityError(
                    f"blob {row.tenant}/{row.sha256} lost chunk {seq} (deleted while reading?)"
                )
            read += len(data)
            seq += 1
            yield bytes(data)

    async def _erase(self, conn: AsyncConnection, row: BlobRow) -> None:
        await conn.execute(delete(CHUNKS).where(CHUNKS.c.upload_id == row.upload_id))

    async def _collect_stale_staging(self, cutoff: datetime, *, dry_run: bool) -> int:
        stale = (
            select(CHUNKS.c.upload_id)
            .where(~_promoted(CHUNKS.c.upload_id))
            .group_by(CHUNKS.c.upload_id)
            .having(func.max(CHUNKS.c.created_at) <= cutoff)
        )
        async with write_transaction(self.engine, reads_first=True) as conn:
            upload_ids = list((await conn.execute(stale)).scalars())
            if upload_ids and not dry_run:
                await conn.execute(
                    delete(CHUNKS).where(
                        CHUNKS.c.upload_id.in_(upload_ids),
                        ~_promoted(CHUNKS.c.upload_id),
                    )
                )
        return len(upload_ids)
