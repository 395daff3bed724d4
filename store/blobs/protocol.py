"""The contract every blob backend keeps (database and S3 alike), so callers and tests are
written once against ``BlobBackend``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from store.blobs.records import BlobStat, GcReport, RecordedRef
from store.blobs.ref import BlobRef
from store.blobs.streaming import BlobSource

# Unreferenced blobs and abandoned uploads are kept this long after their last use, so a
# collection never races a put that is using them right now.
DEFAULT_GC_GRACE = timedelta(hours=1)


class BlobBackend(Protocol):
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
        """Store ``source`` (streamed in fixed-size chunks, hashed on the way) as a blob of
        ``tenant`` and record that the run references it under ``filename`` until
        ``retention`` (default: the store's setting) has passed. Same bytes, same ref."""
        ...

    def open_stream(self, ref: BlobRef | str, *, tenant: str | None = None) -> AsyncIterator[bytes]:
        """The content in chunks. ``tenant``: the caller's tenant; a ref of another is refused.
        The digest is checked at the end: a corrupt blob raises instead of finishing."""
        ...

    async def get_to_file(
        self, ref: BlobRef | str, path: Path, *, tenant: str | None = None
    ) -> BlobStat:
        """Download to ``path`` (written beside it, renamed into place once verified)."""
        ...

    async def stat(self, ref: BlobRef | str, *, tenant: str | None = None) -> BlobStat: ...

    async def exists(self, ref: BlobRef | str) -> bool: ...

    async def delete(self, ref: BlobRef | str) -> bool:
        """Remove the blob and every reference to it in its tenant (erasure on request)."""
        ...

    async def refs_for_run(
        self, workflow_id: str, run_id: str | None = None
    ) -> list[RecordedRef]: ...

    async def delete_run(self, workflow_id: str, run_id: str | None = None) -> int:
        """Drop a run's references (all runs of the workflow id when ``run_id`` is None); the
        blobs nothing else references go at the next collection. Returns refs removed."""
        ...

    async def gc(
        self,
        now: datetime | None = None,
        *,
        retention: timedelta | None = None,
        grace: timedelta = DEFAULT_GC_GRACE,
        dry_run: bool = False,
    ) -> GcReport:
        """Delete references past ``expires_at`` (or, with ``retention``, also those created
        longer ago than that), then blobs no reference points to and uploads abandoned for
        longer than ``grace``."""
        ...

    async def aclose(self) -> None: ...
