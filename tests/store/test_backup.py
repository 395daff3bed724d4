"""`bizos backup` / `bizos restore`: a store populated through its own APIs on the real
PostgreSQL is backed up, restored into empty databases (PostgreSQL with its blobs moved to
S3, and a SQLite file), and every row and blob is found again; a target with data and a
damaged archive are refused, naming the problem.

S3 is moto's server on 127.0.0.1 (a local test double speaking the S3 API), shared with the
blob tests.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from store import BilledCall, CallKey, EstimatedCall, Store, StoreSettings
from store.backup import CONTENT_TABLE, backup, reflect, restore
from store.backup_format import CorruptArchive, TargetNotEmpty
from store.blobs import CHUNK_SIZE, BlobRef
from store.testing import temporary_pg_schema
from tests.store.test_blobs import (  # noqa: F401  (fixtures: moto's S3 server, test keys)
    S3_BUCKET,
    S3_REGION,
    aws_test_credentials,
    s3_test_double,
)

pytestmark = pytest.mark.timeout(120)

BLOB_SIZES = (0, 1, 1000, CHUNK_SIZE, 2 * CHUNK_SIZE + 17)


def _content(size: int) -> bytes:
    seed = hashlib.sha256(str(size).encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


class Populated:
    """What the source store was given, to look for after the restore."""

    def __init__(self) -> None:
        self.raw_key = ""
        self.refs: dict[str, bytes] = {}


async def _populate(store: Store) -> Populated:
    made = Populated()
    await store.create_tenant("acme", name="Acme Inc.", monthly_budget_usd=50, max_running=3)
    _, made.raw_key = await store.create_key("acme", "ops@acme", "operator")
    await store.audit("acme", "cli:test", "tenant.create", "acme", {"n": 1})
    await store.create_config_version(
        "content_generation", {"providers": ["offline"]}, note="v1", tenant="acme"
    )
    wf, run = "acme.content_creation.k1", "run-1"
    await store.record_execution(
        workflow_id=wf, run_id=run, tenant="acme", kind="template", name="content_creation"
    )
    await store.update_execution_status(wf, "completed", cost_usd=0.25)
    key = CallKey(tenant="acme", workflow_id=wf, run_id=run, step_key="draft", request_hash="h1")
    await store.reserve(f"{wf}/{run}", "res-1", 10_000, 5_000_000_000, workflow_id=wf, run_id=run)
    await store.record_billed_call(
        BilledCall(
            key=key,
            attempt=1,
            agent="content_generation",
            mode="marketing_content",
            provider="openai",
            model="gpt-4o-mini",
            tokens_in=120,
            tokens_out=80,
            usd_nanos=4_321,
            response='{"answer": "draft ✓"}',
        )
    )
    await store.record_estimated_call(
        EstimatedCall(
            key=key.model_copy(update={"step_key": "seo"}),
            attempt=1,
            agent="seo_optimization",
            mode="content_seo",
            provider="offline",
            model="offline-policy",
            tokens_in=10,
            tokens_out=5,
            usd_nanos=0,
            priced_as="openai:gpt-4o-mini",
        )
    )
    await store.settle("res-1", 4_321)
    await store.put_output(
        ref_key=f"{wf}/draft", workflow_id=wf, run_id=run, step_key="draft", body='{"x": 1}'
    )
    endpoint, _ = await store.create_webhook("acme", "https://hooks.example.com/bizos", ["*"])
    await store.enqueue_webhook_delivery(
        event_id=f"{wf}/completed",
        endpoint_id=endpoint.id,
        tenant="acme",
        event_type="run.completed",
        payload={"workflow_id": wf},
    )
    for size in BLOB_SIZES:
        data = _content(size)
        ref = await store.put_blob("acme", data, f"file-{size}.bin", workflow_id=wf, run_id=run)
        made.refs[str(ref)] = data
    return made


def _plain(value: Any) -> Any:
    """One form for a value read from either database (SQLite hands timestamps back naive)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, memoryview):
        return bytes(value)
    return value


async def _rows(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the migration marker and the blob content table
    (content is compared by reading the blobs)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with store.engine.connect() as conn:
        tables = await reflect(conn, store.settings.database_schema)
        for name, table in tables.items():
            if name in ("alembic_version", CONTENT_TABLE):
                continue
            cols = sorted(table.columns.keys())
            rows = (await conn.execute(select(*[table.c[c] for c in cols]))).all()
            out[name] = sorted(
                (tuple(_plain(v) for v in r) for r in rows),
                key=lambda r: json.dumps(r, default=str),
            )
    return out


async def _read(store: Store, ref: str) -> bytes:
    return b"".join([c async for c in store.open_blob(ref)])


@pytest.fixture(scope="module")
async def source(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[Store, Populated, Path]]:
    """One populated PostgreSQL store and its backup, shared by the tests of this module
    (a test that restores into it leaves it as the archive has it)."""
    async with temporary_pg_schema("bizos_backup_src") as settings:
        store = await Store.open(settings)
        try:
            made = await _populate(store)
            archive = tmp_path_factory.mktemp("backup") / "store.tar"
            await backup(store, archive)
            yield store, made, archive
        finally:
            await store.close()


async def _check_restored(
    target: Store, source: Store, made: Populated, *, then_backup_to: Path | None = None
) -> None:
    """Every row and blob of ``source`` is in ``target`` (optionally backed up again, as
    it is now), and the restored store works: its keys authenticate, new rows get ids."""
    assert await _rows(target) == await _rows(source)
    for ref, data in made.refs.items():
        assert await _read(target, ref) == data, ref
    if then_backup_to is not None:
        await backup(target, then_backup_to)
    principal = await target.principal_for_key(made.raw_key)
    assert principal is not None and (principal.tenant, principal.role) == ("acme", "operator")
    # New rows get fresh ids after the restored ones (sequences moved past them).
    await target.audit("acme", "cli:test", "after.restore", "acme")
    assert [e.action for e in await target.audit_entries("acme", action="after.restore")] == [
        "after.restore"
    ]


async def test_restore_into_empty_postgres_with_s3_blobs_then_sqlite_finds_everything(
    source: tuple[Store, Populated, Path],
    tmp_path: Path,
    s3_test_double: str,  # noqa: F811
    aws_test_credentials: None,  # noqa: F811
) -> None:
    src, made, archive = source
    rows = await _rows(src)
    assert all(rows[t] for t in ("tenants", "api_keys", "ledger_entries", "blobs", "blob_refs"))

    async with temporary_pg_schema("bizos_backup_dst") as pg:
        s3 = pg.model_copy(
            update={
                "blob_backend": "s3",
                "s3_endpoint_url": s3_test_double,
                "s3_bucket": S3_BUCKET,
                "s3_region": S3_REGION,
                "s3_prefix": f"restore-{uuid.uuid4().hex[:8]}/",
            }
        )
        report = await restore(s3, archive)
        assert report.blobs == len(BLOB_SIZES) and report.tables["ledger_entries"] == 2
        target = await Store.open(s3)
        try:
            await _check_restored(target, src, made, then_backup_to=tmp_path / "from-s3.tar")
        finally:
            await target.close()

    # That copy's backup (blobs read from S3) restores into SQLite with blobs in the database.
    sqlite = StoreSettings(home=tmp_path / "sqlite-target")
    await restore(sqlite, tmp_path / "from-s3.tar")
    target = await Store.open(sqlite)
    try:
        await _check_restored(target, src, made)
    finally:
        await target.close()


async def test_a_target_with_data_is_refused_unless_forced(
    source: tuple[Store, Populated, Path], tmp_path: Path
) -> None:
    src, made, archive = source
    before = await _rows(src)
    with pytest.raises(TargetNotEmpty, match=r"api_keys: 1 rows.*--force"):
        await restore(src.settings, archive)
    assert await _rows(src) == before

    await src.create_tenant("extra")  # replaced by the archive's rows
    report = await restore(src.settings, archive, force=True)
    assert report.replaced
    assert await _rows(src) == before
    for ref, data in made.refs.items():
        assert await _read(src, ref) == data


def _rewrite(archive: Path, out: Path, member: str, change: Any) -> None:
    """A copy of ``archive`` with ``member``'s bytes passed through ``change``."""
    with tarfile.open(archive) as src, tarfile.open(out, "w") as dst:
        for info in src.getmembers():
            f = src.extractfile(info)
            assert f is not None
            data = f.read()
            if info.name == member:
                data = change(data)
                info.size = len(data)
            dst.addfile(info, io.BytesIO(data))


async def test_a_damaged_archive_is_refused_naming_the_problem(
    source: tuple[Store, Populated, Path], tmp_path: Path
) -> None:
    _, made, archive = source
    big = BlobRef.parse(next(r for r, d in made.refs.items() if len(d) > CHUNK_SIZE))
    member = f"blobs/{big.tenant}/{big.sha256}"

    flipped = tmp_path / "flipped.tar"
    _rewrite(archive, flipped, member, lambda d: d[:100] + bytes([d[100] ^ 1]) + d[101:])
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(b"not an archive at all" * 100)
    missing_rows = tmp_path / "rows.tar"
    _rewrite(archive, missing_rows, "tables/api_keys.jsonl", lambda d: b"")

    cases = [
        (flipped, rf"{member} fails its checksum"),
        (truncated, r"truncated|cut short"),
        (garbage, r"not a bizos backup"),
        (missing_rows, r"tables/api_keys.jsonl is 0 bytes, the manifest says"),
    ]
    for path, problem in cases:
        target = StoreSettings(home=tmp_path / f"target-{path.stem}")
        with pytest.raises(CorruptArchive, match=problem):
            await restore(target, path)
        assert not (target.home / "bizos.db").exists(), "the target was touched"


async def test_backup_and_restore_from_the_cli(tmp_path: Path) -> None:
    """A user's round trip on the default SQLite store, and a damaged archive refused."""

    def bizos(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BIZOS_")}
        env["BIZOS_HOME"] = str(home)
        cmd = [sys.executable, "-m", "starters.cli", *args]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)

    src, dst = tmp_path / "src", tmp_path / "dst"
    store = await Store.open(StoreSettings(home=src))
    try:
        await store.create_tenant("acme")
        ref = await store.put_blob(
            "acme", _content(3 * CHUNK_SIZE), "a.bin", workflow_id="w", run_id="r"
        )
    finally:
        await store.close()
    archive = tmp_path / "cli.tar.gz"
    made = bizos(src, "backup", str(archive), "-o", "json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["tables"]["tenants"] == 2
    assert archive.stat().st_mode & 0o077 == 0, "the archive holds secrets: owner only"

    done = bizos(dst, "restore", str(archive))
    assert done.returncode == 0, done.stderr
    assert "restored" in done.stdout and "1 blobs" in done.stdout
    store = await Store.open(StoreSettings(home=dst))
    try:
        assert await store.get_tenant("acme") is not None
        assert await _read(store, str(ref)) == _content(3 * CHUNK_SIZE)
    finally:
        await store.close()

    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(archive.read_bytes()[:-200])
    refused = bizos(tmp_path / "other", "restore", str(cut))
    assert refused.returncode == 1 and "error:" in refused.stderr
    assert "Traceback" not in refused.stderr
