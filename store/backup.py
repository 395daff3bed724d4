"""Back up the whole store (every table's rows and every blob's content) to one archive, and
restore it into an empty database (`bizos backup` / `bizos restore`).

Tables are read from the database itself (reflection), never from a hand-kept list, so a
table a later migration adds is backed up without changing this module. Blob content is
archived once per blob whichever backend holds it (database chunks or S3 objects) and is
restored through the target's own backend, so a backup taken on one backend restores onto
the other. The archive format is in `store.backup_format`; the file in `store.backup_archive`.

Restore checks the whole archive before it touches the target, migrates a fresh target to
the archive's revision, loads every row in one transaction, then migrates to the current
revision: later migrations transform restored data exactly as they would have live data.
"""

from __future__ import annotations

import functools
import json
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Integer, MetaData, Table, delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from store import Store
from store.backup_archive import ArchiveReader, ArchiveWriter
from store.backup_format import (
    BLOBS_DIR,
    FORMAT_VERSION,
    TABLES_DIR,
    BackupError,
    BlobEntry,
    CorruptArchive,
    Manifest,
    TableEntry,
    TargetNotEmpty,
    column_kind,
    decode,
    encode,
)
from store.blobs import CHUNK_SIZE, BlobRef
from store.blobs.base import CatalogBackend
from store.blobs.catalog import BlobRow
from store.settings import StoreSettings
from store.tables import Blob, BlobChunk

ALEMBIC_TABLE = "alembic_version"  # the target's own migrations write it
BLOBS_TABLE: str = Blob.__tablename__  # type: ignore[assignment]
# Database-backend content: archived per blob under blobs/, not as table rows, so it
# restores onto either backend and abandoned uploads are left behind.
CONTENT_TABLE: str = BlobChunk.__tablename__  # type: ignore[assignment]
INSERT_BATCH = 500


@dataclass
class BackupReport:
    path: Path
    revision: str | None
    tables: dict[str, int] = field(default_factory=dict)
    blobs: int = 0
    blob_bytes: int = 0
    size: int = 0


@dataclass
class RestoreReport:
    path: Path
    revision: str | None
    migrated_to: str | None
    tables: dict[str, int] = field(default_factory=dict)
    blobs: int = 0
    blob_bytes: int = 0
    replaced: bool = False


async def reflect(conn: AsyncConnection, schema: str | None) -> dict[str, Table]:
    """Every table in the database, parents before children (foreign keys)."""
    metadata = MetaData()
    await conn.run_sync(lambda sync: metadata.reflect(sync, schema=schema))
    return {t.name: t for t in metadata.sorted_tables}


def _backend(store: Store) -> CatalogBackend:
    backend = store.blobs
    if not isinstance(backend, CatalogBackend):  # pragma: no cover - both backends are
        raise BackupError(f"blob backend {type(backend).__name__} cannot be backed up")
    return backend


# --- backup --------------------------------------------------------------------------------


async def backup(store: Store, path: Path) -> BackupReport:
    """Write the store to ``path`` (``.tar``, or ``.tar.gz``/``.tgz`` compressed)."""
    report = BackupReport(path=path, revision=None)
    writer = ArchiveWriter(path)
    try:
        with tempfile.TemporaryDirectory(prefix="bizos-backup-") as tmp:
            tables, blobs = await _dump_tables(store, Path(tmp), writer, report)
            for blob in blobs:
                await _add_blob(store, Path(tmp), writer, blob)
                report.blobs += 1
                report.blob_bytes += blob.size
        report.size = writer.commit(
            Manifest(
                version=FORMAT_VERSION,
                created_at=datetime.now(UTC),
                revision=report.revision,
                source_dialect=store.engine.dialect.name,
                source_blob_backend=store.settings.blob_backend,
                tables=tables,
                blobs=blobs,
            )
        )
    except BaseException:
        writer.abort()
        raise
    return report


async def _dump_tables(
    store: Store, tmp: Path, writer: ArchiveWriter, report: BackupReport
) -> tuple[list[TableEntry], list[BlobEntry]]:
    entries: list[TableEntry] = []
    blobs: list[BlobEntry] = []
    async with store.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # One snapshot for every table: a run writing meanwhile cannot leave a ledger
            # row in the archive without the pool row it belongs with.
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            tables = await reflect(conn, store.settings.database_schema)
            if ALEMBIC_TABLE in tables:
                version = (await conn.execute(select(tables[ALEMBIC_TABLE]))).first()
                report.revision = None if version is None else str(version[0])
            for name, table in tables.items():
                if name in (ALEMBIC_TABLE, CONTENT_TABLE):
                    continue
                entry = await _dump_table(conn, table, tmp, writer, blobs)
                entries.append(entry)
                report.tables[name] = entry.rows
    return entries, blobs


async def _dump_table(
    conn: AsyncConnection,
    table: Table,
    tmp: Path,
    writer: ArchiveWriter,
    blobs: list[BlobEntry],
) -> TableEntry:
    file = tmp / f"{table.name}.jsonl"
    rows = 0
    stmt = select(table).order_by(*table.primary_key.columns)
    with file.open("wb") as out:
        result = await conn.stream(stmt)
        async for row in result:
            values = row._asdict()
            out.write(json.dumps({k: encode(v) for k, v in values.items()}, default=str).encode())
            out.write(b"\n")
            rows += 1
            if table.name == BLOBS_TABLE:
                blobs.append(BlobEntry.model_validate(values))
    member = f"{TABLES_DIR}{table.name}.jsonl"
    size, sha256 = writer.add_file(member, file)
    file.unlink()
    return TableEntry(
        name=table.name,
        member=member,
        rows=rows,
        size=size,
        sha256=sha256,
        columns={c.name: column_kind(c) for c in table.columns},
    )


async def _add_blob(store: Store, tmp: Path, writer: ArchiveWriter, blob: BlobEntry) -> None:
    # Downloaded to a file first: tar needs each member's size and bytes in one go, and
    # the download is verified against the blob's sha256 before it is archived.
    file = tmp / "blob"
    ref = BlobRef(tenant=blob.tenant, sha256=blob.sha256, filename="content")
    try:
        await store.blobs.get_to_file(ref, file)
    except Exception as e:
        raise BackupError(
            f"could not read blob {blob.tenant}/{blob.sha256} while backing up ({e}); "
            "it may have been collected meanwhile: run the backup again"
        ) from e
    writer.add_file(f"{BLOBS_DIR}{blob.tenant}/{blob.sha256}", file)
    file.unlink()


# --- restore -------------------------------------------------------------------------------


async def restore(settings: StoreSettings, path: Path, *, force: bool = False) -> RestoreReport:
    """Restore ``path`` into the database (and blob backend) ``settings`` name. The target
    must be empty (a fresh database, or one holding only what migrations create) unless
    ``force``, which first deletes everything in it."""
    from store.engine import create_engine

    with ArchiveReader(path) as archive:
        manifest = archive.verify()  # before the target is touched
        store = Store(create_engine(settings), settings)
        try:
            report = RestoreReport(path=path, revision=manifest.revision, migrated_to=None)
            await _prepare_schema(store.engine, settings.database_schema, manifest.revision)
            report.replaced = await _make_room(store, force)
            await _load(store, archive, manifest, report)
            from store.migrate import current_revision, upgrade

            await upgrade(store.engine, settings.database_schema)
            report.migrated_to = await current_revision(store.engine)
        finally:
            await store.close()
    return report


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    from store.migrate import alembic_config

    return {r.revision for r in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


async def _prepare_schema(engine: AsyncEngine, schema: str | None, revision: str | None) -> None:
    """A fresh target is migrated to the archive's revision, so rows load into the schema
    they were read from; an existing one is brought to the current revision."""
    from store.migrate import current_revision, upgrade

    if revision is not None and revision not in _known_revisions():
        raise BackupError(
            f"the archive was made at store revision {revision}, which this bizos does not "
            "know: restore it with the bizos version that made it (or a newer one)"
        )
    if await current_revision(engine) is not None or revision is None:
        await upgrade(engine, schema)
        return
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql" and schema:
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        await conn.run_sync(_upgrade_to, schema, revision)


def _upgrade_to(conn: Any, schema: str | None, revision: str) -> None:
    from alembic import command

    from store.migrate import alembic_config

    cfg = alembic_config(schema)
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, revision)


@functools.cache  # the migrations of this code never change within a process
def _seeded_keys() -> dict[str, frozenset[tuple[Any, ...]]]:
    """Primary keys of the rows the migrations themselves write (e.g. tenant `default`),
    read from a fresh in-memory database: a target holding only those is still empty."""
    from sqlalchemy import create_engine

    engine = create_engine("sqlite://")
    try:
        with engine.begin() as conn:
            _upgrade_to(conn, None, "head")
            metadata = MetaData()
            metadata.reflect(conn)
            return {
                t.name: frozenset(tuple(r) for r in conn.execute(select(*t.primary_key.columns)))
                for t in metadata.sorted_tables
                if t.name != ALEMBIC_TABLE and len(t.primary_key.columns)
            }
    finally:
        engine.dispose()


async def _make_room(store: Store, force: bool) -> bool:
    """Refuse a target with data (unless ``force``: delete it all). True when replaced."""
    seeded = _seeded_keys()
    async with store.engine.connect() as conn:
        tables = await reflect(conn, store.settings.database_schema)
        held: dict[str, int] = {}
        for name, table in tables.items():
            if name == ALEMBIC_TABLE:
                continue
            count = await _rows_beyond(conn, table, seeded.get(name, frozenset()))
            if count:
                held[name] = count
    if not held:
        return False
    if not force:
        listed = ", ".join(f"{n}: {c} rows" for n, c in held.items())
        raise TargetNotEmpty(
            f"the target database already holds data ({listed}); restore into an empty "
            "database, or pass --force to delete everything in it first"
        )
    await _clear(store, tables)
    return True


async def _rows_beyond(
    conn: AsyncConnection, table: Table, seeded: frozenset[tuple[Any, ...]]
) -> int:
    """How many rows of ``table`` are not among the ``seeded`` primary keys."""
    count = int((await conn.execute(select(func.count()).select_from(table))).scalar_one())
    pk = list(table.primary_key.columns)
    if not pk or count == 0 or count > len(seeded):  # no need to read a big table's keys
        return max(count - len(seeded), 0) if pk else count
    keys = {tuple(r) for r in await conn.execute(select(*pk))}
    return len(keys - seeded)


async def _clear(store: Store, tables: dict[str, Table]) -> None:
    backend = _backend(store)
    if BLOBS_TABLE in tables:  # content first, through the backend (S3 objects too)
        async with store.engine.connect() as conn:
            rows = (await conn.execute(select(tables[BLOBS_TABLE]))).all()
        for r in rows:
            await backend.delete(BlobRef(tenant=r.tenant, sha256=r.sha256, filename="content"))
    async with store.engine.begin() as conn:
        for name, table in reversed(tables.items()):
            if name != ALEMBIC_TABLE:
                await conn.execute(delete(table))


async def _archive_chunks(archive: ArchiveReader, member: str) -> AsyncIterator[bytes]:
    for chunk in archive.chunks(member, CHUNK_SIZE):
        yield chunk


async def _load(
    store: Store, archive: ArchiveReader, manifest: Manifest, report: RestoreReport
) -> None:
    backend = _backend(store)
    staged: list[str] = []
    try:
        # Content goes through the backend's own staging and promotion, as a put does: the
        # blob rows and their promotion commit together below, so a failed restore leaves
        # only staging, which `bizos artifacts gc` removes.
        for blob in manifest.blobs:
            staged.append(blob.upload_id)
            await backend._stage(blob.upload_id, _archive_chunks(archive, blob.member))
        async with store.engine.begin() as conn:
            tables = await reflect(conn, store.settings.database_schema)
            by_name = {t.name: t for t in manifest.tables}
            _check_compatible(manifest.tables, tables)
            for name, table in reversed(tables.items()):  # the rows migrations seeded
                if name not in (ALEMBIC_TABLE, CONTENT_TABLE):
                    await conn.execute(delete(table))
            for name, table in tables.items():
                if name in by_name:
                    report.tables[name] = await _load_table(conn, archive, by_name[name], table)
            for blob in manifest.blobs:
                row = BlobRow(
                    blob.tenant,
                    blob.sha256,
                    blob.size,
                    blob.content_type,
                    blob.upload_id,
                    blob.created_at,
                )
                await backend._promote(conn, row)
                report.blobs += 1
                report.blob_bytes += blob.size
            if conn.dialect.name == "postgresql":
                await _reset_sequences(conn, tables.values(), store.settings.database_schema)
    except BaseException:
        for upload_id in staged:
            await backend._discard_quietly(upload_id)
        raise
    for upload_id in staged:
        await backend._after_promote(upload_id)


def _check_compatible(entries: Sequence[TableEntry], tables: dict[str, Table]) -> None:
    for entry in entries:
        table = tables.get(entry.name)
        if table is None:
            raise BackupError(
                f"the archive has table {entry.name}, which the target database lacks: "
                "restore into a new, empty database (restore migrates it to match)"
            )
        unknown = sorted(set(entry.columns) - set(table.columns.keys()))
        if unknown:
            raise BackupError(
                f"the archive's {entry.name} has columns {unknown} the target lacks: restore "
                "into a new, empty database (restore migrates it to match)"
            )
        for column in table.columns:
            required = not column.nullable and column.server_default is None
            if column.name not in entry.columns and required and not column.autoincrement:
                raise BackupError(
                    f"the target's {entry.name}.{column.name} needs a value the archive does "
                    "not have: restore into a new, empty database"
                )


async def _load_table(
    conn: AsyncConnection, archive: ArchiveReader, entry: TableEntry, table: Table
) -> int:
    columns = {name: table.c[name] for name in entry.columns}
    batch: list[dict[str, Any]] = []
    rows = 0
    for line in archive.lines(entry.member):
        try:
            raw = json.loads(line)
        except ValueError as e:
            raise CorruptArchive(f"{entry.member} line {rows + 1} is not JSON: {e}") from e
        batch.append({k: decode(v, entry.columns[k], columns[k]) for k, v in raw.items()})
        rows += 1
        if len(batch) >= INSERT_BATCH:
            await conn.execute(table.insert(), batch)
            batch = []
    if batch:
        await conn.execute(table.insert(), batch)
    if rows != entry.rows:
        raise CorruptArchive(f"{entry.member} has {rows} rows, its manifest says {entry.rows}")
    return rows


async def _reset_sequences(conn: AsyncConnection, tables: Any, schema: str | None) -> None:
    """Rows came with their ids; move each id sequence past them, or the next insert
    would collide with a restored row."""
    for table in tables:
        pk = list(table.primary_key.columns)
        if len(pk) != 1 or not isinstance(pk[0].type, Integer):
            continue
        qualified = f'"{schema}"."{table.name}"' if schema else f'"{table.name}"'
        seq = (
            await conn.execute(
                text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": qualified, "c": pk[0].name}
            )
        ).scalar()
        if seq:
            await conn.execute(
                text(
                    f'SELECT setval(:s, COALESCE((SELECT MAX("{pk[0].name}") FROM {qualified}), '
                    "0) + 1, false)"
                ),
                {"s": seq},
            )
