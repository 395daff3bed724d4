"""`bizos backup FILE` and `bizos restore FILE [--force]`: the whole store (every table's
rows and every blob) to one archive and back (`store.backup`).

The store is the one the environment names (``BIZOS_DATABASE_URL``, ``BIZOS_BLOB_BACKEND``
…, as every other command): to restore elsewhere, set those for the restore. Temporal's own
state (histories, schedules) is not in the store: back it up with Temporal's tools.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from starters.output import OutputFormat, console, emit, fail

T = TypeVar("T")

OutputOpt = typer.Option(OutputFormat.text, "--output", "-o", help="text, json or jsonl")
BackupFileArg = typer.Argument(..., help="archive to write (.tar, or .tar.gz to compress)")
RestoreFileArg = typer.Argument(..., help="an archive made by `bizos backup`")
ForceOpt = typer.Option(False, "--force", help="delete everything in the target store first")


def _run(fn: Callable[[], Awaitable[T]]) -> T:
    from store.backup_format import BackupError
    from store.blobs import BlobError

    try:
        return asyncio.run(fn())  # type: ignore[arg-type]
    except (BackupError, BlobError, OSError) as e:
        fail(str(e))
    raise AssertionError("unreachable")


def _summary(report: Any) -> dict[str, Any]:
    data = dict(vars(report))
    data["path"] = str(report.path)
    data["rows"] = sum(report.tables.values())
    return data


def backup(
    file: Path = BackupFileArg,
    output: OutputFormat = OutputOpt,
) -> None:
    """Back up the store: every table's rows and every blob, with a manifest and checksums.
    The archive holds what the database holds (webhook secrets, key hashes): keep it safe."""
    from store import Store
    from store.backup import backup as run_backup

    async def go() -> Any:
        store = await Store.open()
        try:
            return await run_backup(store, file)
        finally:
            await store.close()

    report = _run(go)
    if output is not OutputFormat.text:
        emit(_summary(report), output)
        return
    console.print(
        f"backed up {sum(report.tables.values())} rows of {len(report.tables)} tables and "
        f"{report.blobs} blobs ({report.blob_bytes} bytes) at store revision "
        f"{report.revision} to {file} ({report.size} bytes)",
        highlight=False,
    )


def restore(
    file: Path = RestoreFileArg,
    force: bool = ForceOpt,
    output: OutputFormat = OutputOpt,
) -> None:
    """Restore a backup into an empty store (migrated first; --force replaces one with
    data). The whole archive is checked before anything is written."""
    from store import StoreSettings
    from store.backup import restore as run_restore

    report = _run(lambda: run_restore(StoreSettings(), file, force=force))
    if output is not OutputFormat.text:
        emit(_summary(report), output)
        return
    replaced = " (after deleting what the target held)" if report.replaced else ""
    console.print(
        f"restored {sum(report.tables.values())} rows of {len(report.tables)} tables and "
        f"{report.blobs} blobs ({report.blob_bytes} bytes) from {file}{replaced}; "
        f"store at revision {report.migrated_to}",
        highlight=False,
    )
