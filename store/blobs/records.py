"""What the blob store answers with (small pydantic models, safe to print as JSON)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from store.blobs.ref import BlobRef


class BlobStat(BaseModel):
    tenant: str
    sha256: str
    size: int
    content_type: str
    created: datetime


class RecordedRef(BaseModel):
    """A run's reference to a blob (what `bizos artifacts ls` lists)."""

    ref: BlobRef
    workflow_id: str
    run_id: str
    size: int | None  # None: the blob is already gone (collected or deleted)
    content_type: str | None
    created_at: datetime
    expires_at: datetime


class GcReport(BaseModel):
    """What one garbage collection removed (or, with ``dry_run``, would remove)."""

    dry_run: bool = False
    refs_deleted: int = 0
    blobs_deleted: int = 0
    bytes_freed: int = 0
    stale_uploads_deleted: int = 0
