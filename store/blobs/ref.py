"""``BlobRef``: the reference a step passes instead of a local path.

String form ``blob://<tenant>/<sha256 hex>/<filename>``. The content key is
``<tenant>/<sha256>`` (same bytes in the same tenant are one blob); the filename rides along
so spec expressions like ``p.endsWith('.md')`` keep working on the string, and so a
download has a name. A ``BlobRef`` field validates from that string and serialises back to
it, so models carry it as a plain string across Temporal boundaries.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_serializer, model_validator

from store.blobs.errors import MalformedBlobRef

SCHEME = "blob://"
# The same tenant ids runs accept (workflows.models.RunInput.tenant).
TENANT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
MAX_FILENAME_BYTES = 255  # what common file systems accept for one name


def check_tenant(tenant: str) -> str:
    if not TENANT_RE.match(tenant):
        raise MalformedBlobRef(
            f"tenant {tenant!r} is not a tenant id (lowercase letters, digits, '_' or '-', "
            "starting with a letter or digit, at most 63 characters)"
        )
    return tenant


def check_sha256(sha256: str) -> str:
    if not SHA256_RE.match(sha256):
        raise MalformedBlobRef(f"{sha256!r} is not a sha256 digest (64 lowercase hex digits)")
    return sha256


def check_filename(filename: str) -> str:
    # A plain name only: a download written under it can never leave its directory.
    if not filename:
        raise MalformedBlobRef("the filename is empty")
    if "/" in filename or "\\" in filename:
        raise MalformedBlobRef(f"filename {filename!r} must be a name, not a path (no '/' or '\\')")
    if filename in (".", ".."):
        raise MalformedBlobRef(f"filename {filename!r} is not a file name")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in filename):
        raise MalformedBlobRef(f"filename {filename!r} contains control characters")
    if len(filename.encode()) > MAX_FILENAME_BYTES:
        raise MalformedBlobRef(f"filename is longer than {MAX_FILENAME_BYTES} bytes")
    return filename


def parse_parts(text: str) -> tuple[str, str, str]:
    """``(tenant, sha256, filename)`` of a ref string, or MalformedBlobRef saying what is wrong."""
    if not isinstance(text, str):
        raise MalformedBlobRef(f"a blob ref is a string, not {type(text).__name__}")
    if not text.startswith(SCHEME):
        raise MalformedBlobRef(
            f"malformed blob ref {text!r}: must start with {SCHEME!r} "
            f"(form {SCHEME}<tenant>/<sha256>/<filename>)"
        )
    parts = text[len(SCHEME) :].split("/", 2)
    if len(parts) != 3:
        raise MalformedBlobRef(
            f"malformed blob ref {text!r}: expected {SCHEME}<tenant>/<sha256>/<filename>"
        )
    try:
        return check_tenant(parts[0]), check_sha256(parts[1]), check_filename(parts[2])
    except MalformedBlobRef as e:
        raise MalformedBlobRef(f"malformed blob ref {text!r}: {e}") from None


class BlobRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant: str
    sha256: str
    filename: str

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            tenant, sha256, filename = parse_parts(value)
            return {"tenant": tenant, "sha256": sha256, "filename": filename}
        return value

    @field_validator("tenant")
    @classmethod
    def _tenant(cls, v: str) -> str:
        return check_tenant(v)

    @field_validator("sha256")
    @classmethod
    def _sha256(cls, v: str) -> str:
        return check_sha256(v)

    @field_validator("filename")
    @classmethod
    def _filename(cls, v: str) -> str:
        return check_filename(v)

    @model_serializer
    def _to_string(self) -> str:
        return str(self)

    @classmethod
    def parse(cls, text: str) -> BlobRef:
        """The ref a string names; MalformedBlobRef (a ValueError) says what is wrong."""
        tenant, sha256, filename = parse_parts(text)
        return cls.model_construct(tenant=tenant, sha256=sha256, filename=filename)

    @property
    def key(self) -> str:
        """The content key: same bytes in the same tenant, same key."""
        return f"{self.tenant}/{self.sha256}"

    def __str__(self) -> str:
        return f"{SCHEME}{self.tenant}/{self.sha256}/{self.filename}"


def as_ref(ref: BlobRef | str) -> BlobRef:
    return ref if isinstance(ref, BlobRef) else BlobRef.parse(ref)


def format_ref(tenant: str, sha256: str, filename: str) -> str:
    return str(BlobRef(tenant=tenant, sha256=sha256, filename=filename))
