"""The blob store every worker shares: files and big outputs travel between steps as
``blob://<tenant>/<sha256>/<filename>`` references, never as local paths.

Content-addressed per tenant (same bytes, one blob), streamed in fixed-size chunks both
ways, verified by digest on read. The catalog (complete blobs, and which run references
which blob until when) is always in the store's database; the content is in the database
too (``BIZOS_BLOB_BACKEND=db``, the default) or in S3-compatible storage (``s3``).

Use it through ``Store`` (``store.put_blob(...)``, ``store.blobs``); boto3 loads only when
the S3 backend first talks to S3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from store.blobs.errors import (
    BlobConfigError,
    BlobError,
    BlobIntegrityError,
    BlobNotFound,
    BlobTenantMismatch,
    MalformedBlobRef,
)
from store.blobs.protocol import DEFAULT_GC_GRACE, BlobBackend
from store.blobs.records import BlobStat, GcReport, RecordedRef
from store.blobs.ref import BlobRef, as_ref, format_ref
from store.blobs.streaming import CHUNK_SIZE, BlobSource

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from store.settings import StoreSettings

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_GC_GRACE",
    "BlobBackend",
    "BlobConfigError",
    "BlobError",
    "BlobIntegrityError",
    "BlobNotFound",
    "BlobRef",
    "BlobSource",
    "BlobStat",
    "BlobTenantMismatch",
    "GcReport",
    "MalformedBlobRef",
    "RecordedRef",
    "as_ref",
    "format_ref",
    "open_backend",
]


def open_backend(engine: AsyncEngine, settings: StoreSettings) -> BlobBackend:
    """The backend ``settings.blob_backend`` names, on the store's engine."""
    if settings.blob_backend == "s3":
        from store.blobs.s3_backend import S3BlobBackend

        return S3BlobBackend(engine, settings)
    from store.blobs.db_backend import DatabaseBlobBackend

    return DatabaseBlobBackend(engine, settings)
