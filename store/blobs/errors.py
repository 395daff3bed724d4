"""What can go wrong with blobs, as types a caller can catch and a message a user can act on."""

from __future__ import annotations


class BlobError(Exception):
    """Base of every blob store error."""


class MalformedBlobRef(BlobError, ValueError):
    """A string that is not a ``blob://<tenant>/<sha256>/<filename>`` reference."""


class BlobNotFound(BlobError, LookupError):
    """No complete blob under this reference (never uploaded, other tenant, or collected)."""


class BlobTenantMismatch(BlobError, PermissionError):
    """A reference of one tenant presented by another."""


class BlobIntegrityError(BlobError):
    """Stored content does not match its reference (lost chunks, missing object, bad hash)."""


class BlobConfigError(BlobError, ValueError):
    """The blob settings cannot work (e.g. the S3 backend without a bucket)."""
