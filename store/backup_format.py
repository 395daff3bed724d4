"""What a store backup archive holds, and how a row's values become JSON and back.

One tar file: ``tables/<table>.jsonl`` (one JSON object a row) for every table of the
database, ``blobs/<tenant>/<sha256>`` for the content of every complete blob, and
``manifest.json`` written last, naming each member with its size and sha256. A backup cut
short therefore has no manifest, and any changed byte fails a checksum.

Values are typed by their column (read from the database itself, not a hand-kept list):
timestamps as ISO 8601, bytes as base64, decimals as strings; the rest is plain JSON.
"""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Column
from sqlalchemy.sql import sqltypes

FORMAT = "bizos-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
TABLES_DIR = "tables/"
BLOBS_DIR = "blobs/"

ColumnKind = Literal["datetime", "date", "bytes", "decimal", "bool", "value"]


class BackupError(RuntimeError):
    """A backup or restore that cannot go on; the message says what to do."""


class CorruptArchive(BackupError):
    """The archive is truncated, altered or not a bizos backup; nothing was restored."""


class TargetNotEmpty(BackupError):
    """Restoring would mix the archive's rows with rows already in the target."""


class TableEntry(BaseModel):
    name: str
    member: str
    rows: int = Field(ge=0)
    size: int = Field(ge=0)
    sha256: str
    columns: dict[str, ColumnKind]


class BlobEntry(BaseModel):
    tenant: str
    sha256: str
    size: int = Field(ge=0)
    content_type: str
    upload_id: str
    created_at: datetime

    @property
    def member(self) -> str:
        return f"{BLOBS_DIR}{self.tenant}/{self.sha256}"


class Manifest(BaseModel):
    format: Literal["bizos-backup"] = "bizos-backup"
    version: int
    created_at: datetime
    revision: str | None = Field(description="the store's Alembic revision when backed up")
    source_dialect: str
    source_blob_backend: str
    tables: list[TableEntry]
    blobs: list[BlobEntry]


def column_kind(column: Column[Any]) -> ColumnKind:
    kind = column.type
    if isinstance(kind, sqltypes.DateTime):
        return "datetime"
    if isinstance(kind, sqltypes.Date):
        return "date"
    if isinstance(kind, sqltypes._Binary):
        return "bytes"
    if isinstance(kind, sqltypes.Numeric) and not isinstance(kind, sqltypes.Float):
        return "decimal"
    if isinstance(kind, sqltypes.Boolean):
        return "bool"
    return "value"


def encode(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Decimal):
        return str(value)
    return value


def decode(value: Any, kind: ColumnKind, target: Column[Any]) -> Any:
    """The archived value as the target column takes it. Timestamps follow the target's
    own convention: aware UTC for ``timestamptz``, naive UTC otherwise (asyncpg refuses the
    other kind, and every timestamp the store writes is UTC)."""
    if value is None:
        return None
    if kind == "datetime":
        dt = datetime.fromisoformat(value)
        aware = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
        wants_tz = bool(getattr(target.type, "timezone", False))
        return aware if wants_tz else aware.replace(tzinfo=None)
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "bytes":
        return base64.b64decode(value)
    if kind == "decimal":
        return Decimal(value)
    if kind == "bool" or isinstance(target.type, sqltypes.Boolean):
        return bool(value)
    return value
