"""The blob store: refs, streamed content-addressed puts and reads, tenant isolation,
interrupted uploads, garbage collection, and `bizos artifacts`.

Behaviour tests run on both backends (content in the database; content in S3) and on both
catalogs (SQLite and PostgreSQL, via the store conftest). The S3 backend talks to a local
S3 test double: moto's server on 127.0.0.1, started by these tests, never a real bucket.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
import subprocess
import sys
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import func, inspect, select, text, update

from store import Store, StoreSettings
from store.blobs import (
    CHUNK_SIZE,
    BlobConfigError,
    BlobIntegrityError,
    BlobNotFound,
    BlobRef,
    BlobTenantMismatch,
    MalformedBlobRef,
    format_ref,
)
from store.blobs.s3_backend import PART_SIZE, STAGING_DIR
from store.tables import Blob, BlobChunk, BlobRefRecord, utcnow

MiB = 1024 * 1024
S3_BUCKET = "bizos-blobs-test"
S3_REGION = "us-east-1"
SHA = "0123456789abcdef" * 4


def _tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def _wf() -> str:
    return f"wf-{uuid.uuid4().hex[:10]}"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def _pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    """A source that hands over odd-sized pieces, as a network stream would."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _read_all(store: Store, ref: BlobRef | str, **kw: Any) -> bytes:
    return b"".join([chunk async for chunk in store.open_blob(ref, **kw)])


# --- the S3 test double ------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def s3_test_double() -> Iterator[str]:
    """A local S3-compatible server (moto) with one bucket; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _s3_client(endpoint).create_bucket(Bucket=S3_BUCKET)
        yield endpoint
    finally:
        server.stop()


def _s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=S3_REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _s3_settings(base: StoreSettings, endpoint: str, **extra: Any) -> StoreSettings:
    return base.model_copy(
        update={
            "blob_backend": "s3",
            "s3_endpoint_url": endpoint,
            "s3_bucket": S3_BUCKET,
            "s3_region": S3_REGION,
            "s3_prefix": f"run-{uuid.uuid4().hex[:8]}/",  # each test its own corner
            **extra,
        }
    )


@pytest.fixture
def aws_test_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # boto3 reads its usual chain: give it test keys and nothing of the machine's own.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


@pytest.fixture(params=["db", "s3"])
async def blob_store(
    request: pytest.FixtureRequest, settings: StoreSettings
) -> AsyncIterator[Store]:
    """A store per (catalog database, blob backend)."""
    if request.param == "s3":
        request.getfixturevalue("aws_test_credentials")
        settings = _s3_settings(settings, request.getfixturevalue("s3_test_double"))
    opened = await Store.open(settings)
    try:
        yield opened
    finally:
        await opened.close()


def _spy_on_uploads(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The upload ids the backend stages, in order."""
    backend: Any = store.blobs
    staged: list[str] = []
    original = backend._stage

    async def spy(upload_id: str, chunks: AsyncIterator[bytes]) -> None:
        staged.append(upload_id)
        await original(upload_id, chunks)

    monkeypatch.setattr(backend, "_stage", spy)
    return staged


async def _staging_left(store: Store, upload_id: str) -> bool:
    """Whether anything of this upload is still stored as staging."""
    if store.settings.blob_backend == "db":
        chunks = BlobChunk.__table__  # type: ignore[attr-defined]
        async with store.engine.connect() as conn:
            n = (
                await conn.execute(
                    select(func.count()).select_from(chunks).where(chunks.c.upload_id == upload_id)
                )
            ).scalar_one()
        return bool(n)
    s3 = _s3_client(store.settings.s3_endpoint_url or "")
    key = f"{store.settings.s3_prefix}{STAGING_DIR}{upload_id}"
    objects = s3.list_objects_v2(Bucket=S3_BUCKET, Prefix=key).get("Contents", [])
    uploads = s3.list_multipart_uploads(Bucket=S3_BUCKET, Prefix=key).get("Uploads", [])
    return bool(objects or uploads)


def _files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def _blob_rows(store: Store, tenant: str) -> int:
    blobs = Blob.__table__  # type: ignore[attr-defined]
    async with store.engine.connect() as conn:
        stmt = select(func.count()).select_from(blobs).where(blobs.c.tenant == tenant)
        return int((await conn.execute(stmt)).scalar_one())


# --- refs --------------------------------------------------------------------------------


def test_a_ref_parses_formats_and_travels_as_its_string() -> None:
    text_form = f"blob://acme/{SHA}/q3 report.md"
    ref = BlobRef.parse(text_form)
    assert (ref.tenant, ref.sha256, ref.filename) == ("acme", SHA, "q3 report.md")
    assert str(ref) == text_form == format_ref("acme", SHA, "q3 report.md")
    assert ref.key == f"acme/{SHA}"

    class StepOutput(BaseModel):
        files: list[BlobRef]

    out = StepOutput.model_validate({"files": [text_form]})
    assert out.files == [ref]
    assert out.model_dump() == {"files": [text_form]}  # expressions see plain strings
    assert json.loads(out.model_dump_json())["files"][0].endswith(".md")
    assert StepOutput.model_validate_json(out.model_dump_json()) == out


@pytest.mark.parametrize(
    ("text_form", "says"),
    [
        ("/tmp/report.md", "must start with 'blob://'"),
        (f"s3://acme/{SHA}/a.md", "must start with 'blob://'"),
        (f"blob://acme/{SHA}", "expected blob://<tenant>/<sha256>/<filename>"),
        ("blob://acme/abc123/a.md", "'abc123' is not a sha256 digest (64 lowercase hex digits)"),
        (f"blob://acme/{SHA.upper()}/a.md", "is not a sha256 digest"),
        (f"blob://Acme/{SHA}/a.md", "tenant 'Acme' is not a tenant id"),
        (f"blob:///{SHA}/a.md", "tenant '' is not a tenant id"),
        (f"blob://acme/{SHA}/", "the filename is empty"),
        (f"blob://acme/{SHA}/out/a.md", "must be a name, not a path"),
        (f"blob://acme/{SHA}/..", "'..' is not a file name"),
        (f"blob://acme/{SHA}/a\nb.md", "contains control characters"),
    ],
)
def test_a_malformed_ref_is_refused_saying_what_is_wrong(text_form: str, says: str) -> None:
    with pytest.raises(MalformedBlobRef) as caught:
        BlobRef.parse(text_form)
    assert says in str(caught.value)
    assert repr(text_form) in str(caught.value)  # names the offending ref
    assert isinstance(caught.value, ValueError)
    with pytest.raises(ValueError, match="malformed blob ref"):
        BlobRef.model_validate(text_form)


def test_blob_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIZOS_BLOB_BACKEND", "s3")
    monkeypatch.setenv("BIZOS_BLOB_RETENTION_DAYS", "7")
    monkeypatch.setenv("BIZOS_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("BIZOS_S3_BUCKET", "artifacts")
    monkeypatch.setenv("BIZOS_S3_PREFIX", "bizos/")
    monkeypatch.setenv("BIZOS_S3_REGION", "eu-west-1")
    monkeypatch.setenv("BIZOS_S3_ADDRESSING_STYLE", "path")
    s = StoreSettings()
    assert (s.blob_backend, s.blob_retention_days) == ("s3", 7)
    assert (s.s3_endpoint_url, s.s3_bucket, s.s3_prefix) == (
        "http://127.0.0.1:9000",
        "artifacts",
        "bizos/",
    )
    assert (s.s3_region, s.s3_addressing_style) == ("eu-west-1", "path")
    monkeypatch.delenv("BIZOS_BLOB_BACKEND")
    assert StoreSettings().blob_backend == "db"


# --- the catalog schema ------------------------------------------------------------------


async def test_the_migration_creates_the_tables_the_models_describe(store: Store) -> None:
    def columns(sync_conn: Any) -> dict[str, set[str]]:
        insp = inspect(sync_conn)
        return {
            t: {c["name"] for c in insp.get_columns(t)}
            for t in ("blobs", "blob_chunks", "blob_refs")
        }

    async with store.engine.connect() as conn:
        found = await conn.run_sync(columns)
    for model in (Blob, BlobChunk, BlobRefRecord):
        table = model.__table__  # type: ignore[union-attr]
        assert found[table.name] == set(table.c.keys()), table.name


# --- streaming ---------------------------------------------------------------------------


async def test_a_5mib_file_streams_in_and_out_without_being_held_in_memory(
    store: Store, tmp_path: Path
) -> None:
    src = tmp_path / "big.bin"
    with src.open("wb") as f:
        for _ in range(5 * MiB // CHUNK_SIZE):
            f.write(os.urandom(CHUNK_SIZE))
    want = _sha(src.read_bytes())
    dst = tmp_path / "out" / "big.bin"

    tracemalloc.start()
    try:
        ref = await store.put_blob(_tenant(), src, "big.bin", workflow_id=_wf(), run_id="r1")
        put_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        stat = await store.blob_to_file(ref, dst)
        get_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        digest, sizes = hashlib.sha256(), []
        async for chunk in store.open_blob(ref):
            digest.update(chunk)
            sizes.append(len(chunk))
        stream_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert ref.sha256 == want and stat.size == 5 * MiB and stat.sha256 == want
    assert _sha(dst.read_bytes()) == want
    assert digest.hexdigest() == want and set(sizes) == {CHUNK_SIZE}
    assert put_peak < 2 * MiB, f"put peaked at {put_peak / MiB:.2f} MiB"
    assert get_peak < 2 * MiB, f"get_to_file peaked at {get_peak / MiB:.2f} MiB"
    assert stream_peak < 2 * MiB, f"open_blob peaked at {stream_peak / MiB:.2f} MiB"
    assert not list(dst.parent.glob(".*.part"))  # the temporary file was renamed away


async def test_content_round_trips_from_any_source(blob_store: Store, tmp_path: Path) -> None:
    tenant, wf = _tenant(), _wf()
    # Past one S3 part, so the S3 backend goes through a real multipart upload.
    data = os.urandom(PART_SIZE + 3 * CHUNK_SIZE + 123)
    ref = await blob_store.put_blob(
        tenant, _pieces(data, 100_000), "data.parquet", workflow_id=wf, run_id="r1"
    )
    assert str(ref) == f"blob://{tenant}/{_sha(data)}/data.parquet"
    assert await _read_all(blob_store, str(ref)) == data
    stat = await blob_store.stat_blob(ref)
    assert (stat.tenant, stat.sha256, stat.size) == (tenant, _sha(data), len(data))
    assert stat.content_type == "application/octet-stream"
    assert stat.created.tzinfo is not None

    small = await blob_store.put_blob(tenant, b"# Title\n", "notes.md", workflow_id=wf, run_id="r1")
    assert (await blob_store.stat_blob(small)).content_type == "text/markdown"
    empty = await blob_store.put_blob(tenant, b"", "empty.txt", workflow_id=wf, run_id="r1")
    assert await _read_all(blob_store, empty) == b""
    await blob_store.blob_to_file(empty, tmp_path / "empty.txt")
    assert (tmp_path / "empty.txt").read_bytes() == b""

    recorded = await blob_store.blobs.refs_for_run(wf, "r1")
    assert [str(r.ref) for r in recorded] == [str(ref), str(small), str(empty)]
    assert recorded[0].size == len(data) and recorded[0].content_type


# --- content addressing and tenants -------------------------------------------------------


async def test_the_same_content_twice_is_the_same_ref_and_one_blob(
    blob_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, wf = _tenant(), _wf()
    staged = _spy_on_uploads(blob_store, monkeypatch)
    data = os.urandom(3 * CHUNK_SIZE + 5)
    first = await blob_store.put_blob(tenant, data, "a.csv", workflow_id=wf, run_id="r1")
    again = await blob_store.put_blob(
        tenant, _pieces(data, 77_777), "a.csv", workflow_id=wf, run_id="r2"
    )
    retried = await blob_store.put_blob(tenant, data, "a.csv", workflow_id=wf, run_id="r2")
    renamed = await blob_store.put_blob(tenant, data, "b.txt", workflow_id=wf, run_id="r3")
    assert first == again == retried and str(first) == str(again)
    assert renamed.key == first.key and str(renamed).endswith("/b.txt")
    assert await _blob_rows(blob_store, tenant) == 1
    # The retried put of the same file in the same run recorded nothing new.
    assert len(await blob_store.blobs.refs_for_run(wf)) == 3
    # Only the first upload's content is kept: the duplicates were discarded.
    assert [await _staging_left(blob_store, u) for u in staged[1:]] == [False] * 3

    # Identical uploads racing each other: one blob, every put gets the same ref.
    racing = os.urandom(CHUNK_SIZE * 2)
    refs = await asyncio.gather(
        *(
            blob_store.put_blob(tenant, racing, "r.bin", workflow_id=wf, run_id=f"g{i}")
            for i in range(4)
        )
    )
    assert len(set(refs)) == 1
    assert await _blob_rows(blob_store, tenant) == 2
    assert await _read_all(blob_store, refs[0]) == racing


async def test_a_tenant_cannot_read_another_tenants_blob(blob_store: Store) -> None:
    a, b, wf = _tenant(), _tenant(), _wf()
    data = b"tenant a's quarterly numbers"
    ref_a = await blob_store.put_blob(a, data, "q.csv", workflow_id=wf, run_id="r1")

    forged = BlobRef(tenant=b, sha256=ref_a.sha256, filename="q.csv")
    assert not await blob_store.blobs.exists(forged)
    with pytest.raises(BlobNotFound, match=f"never stored in tenant '{b}'"):
        await blob_store.stat_blob(forged)
    with pytest.raises(BlobNotFound):
        await _read_all(blob_store, forged)

    with pytest.raises(BlobTenantMismatch, match=f"belongs to tenant '{a}'"):
        await _read_all(blob_store, ref_a, tenant=b)
    with pytest.raises(BlobTenantMismatch):
        await blob_store.blob_to_file(ref_a, Path("/nonexistent/never-written"), tenant=b)
    assert await _read_all(blob_store, ref_a, tenant=a) == data

    # The same bytes stored by b are b's own blob, not a shared one.
    ref_b = await blob_store.put_blob(b, data, "q.csv", workflow_id=wf, run_id="r2")
    assert ref_b.sha256 == ref_a.sha256 and ref_b.key != ref_a.key
    assert await blob_store.blobs.delete(ref_a)
    assert await _read_all(blob_store, ref_b, tenant=b) == data


async def test_a_bad_ref_or_name_is_refused_before_anything_is_stored(blob_store: Store) -> None:
    with pytest.raises(MalformedBlobRef, match="must start with 'blob://'"):
        await blob_store.stat_blob("report.md")
    with pytest.raises(MalformedBlobRef, match="must be a name, not a path"):
        await blob_store.put_blob(_tenant(), b"x", "../etc/passwd", workflow_id="w", run_id="r")
    with pytest.raises(MalformedBlobRef, match="not a tenant id"):
        await blob_store.put_blob("Not A Tenant", b"x", "a.txt", workflow_id="w", run_id="r")


# --- failures ------------------------------------------------------------------------------


async def test_an_interrupted_upload_leaves_nothing_readable(
    blob_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, wf = _tenant(), _wf()
    staged = _spy_on_uploads(blob_store, monkeypatch)
    data = os.urandom(PART_SIZE + 2 * CHUNK_SIZE)  # past one S3 part: a multipart upload

    async def dies_half_way() -> AsyncIterator[bytes]:
        async for piece in _pieces(data, CHUNK_SIZE):
            yield piece
        raise ConnectionResetError("the producer went away")

    with pytest.raises(ConnectionResetError):
        await blob_store.put_blob(tenant, dies_half_way(), "x.bin", workflow_id=wf, run_id="r1")

    assert not await blob_store.blobs.exists(
        BlobRef(tenant=tenant, sha256=_sha(data), filename="x")
    )
    assert await _blob_rows(blob_store, tenant) == 0
    assert await blob_store.blobs.refs_for_run(wf) == []
    assert not await _staging_left(blob_store, staged[0])  # cleaned up on the way out


async def test_a_crash_before_the_commit_leaves_nothing_readable_and_gc_clears_it(
    blob_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, wf = _tenant(), _wf()
    staged = _spy_on_uploads(blob_store, monkeypatch)
    backend: Any = blob_store.blobs

    class Killed(BaseException):
        pass

    async def process_dies(*_: Any) -> bool:
        raise Killed

    async def no_cleanup(_upload_id: str) -> None:  # a dead process tidies nothing
        return None

    monkeypatch.setattr(backend, "_commit", process_dies)
    monkeypatch.setattr(backend, "_discard", no_cleanup)
    data = os.urandom(2 * CHUNK_SIZE + 9)
    with pytest.raises(Killed):
        await blob_store.put_blob(tenant, data, "x.bin", workflow_id=wf, run_id="r1")
    monkeypatch.undo()

    ref = BlobRef(tenant=tenant, sha256=_sha(data), filename="x.bin")
    assert await _staging_left(blob_store, staged[0])  # the content got there...
    assert not await blob_store.blobs.exists(ref)  # ...but is not a blob
    with pytest.raises(BlobNotFound):
        await _read_all(blob_store, ref)

    await blob_store.gc_blobs()  # within the grace period it may be an upload still running
    assert await _staging_left(blob_store, staged[0])
    later = await blob_store.gc_blobs(utcnow() + timedelta(hours=2))
    assert later.stale_uploads_deleted >= 1
    assert not await _staging_left(blob_store, staged[0])


async def test_content_that_no_longer_matches_its_digest_is_refused(
    blob_store: Store, tmp_path: Path
) -> None:
    tenant = _tenant()
    data = os.urandom(CHUNK_SIZE + 10)
    ref = await blob_store.put_blob(tenant, data, "a.bin", workflow_id=_wf(), run_id="r1")
    tampered = bytes([data[0] ^ 0xFF]) + data[1:]
    if blob_store.settings.blob_backend == "db":
        blobs, chunks = Blob.__table__, BlobChunk.__table__  # type: ignore[attr-defined]
        async with blob_store.engine.begin() as conn:
            upload_id = (
                await conn.execute(
                    select(blobs.c.upload_id).where(
                        blobs.c.tenant == tenant, blobs.c.sha256 == ref.sha256
                    )
                )
            ).scalar_one()
            await conn.execute(
                update(chunks)
                .where(chunks.c.upload_id == upload_id, chunks.c.seq == 0)
                .values(data=tampered[:CHUNK_SIZE])
            )
    else:
        _s3_client(blob_store.settings.s3_endpoint_url or "").put_object(
            Bucket=S3_BUCKET, Key=f"{blob_store.settings.s3_prefix}{ref.key}", Body=tampered
        )
    with pytest.raises(BlobIntegrityError, match="sha256"):
        await _read_all(blob_store, ref)
    with pytest.raises(BlobIntegrityError):
        await blob_store.blob_to_file(ref, tmp_path / "dl" / "a.bin")
    assert _files_in(tmp_path / "dl") == []  # no half-verified file left behind


# --- retention and garbage collection ----------------------------------------------------


async def test_gc_deletes_expired_unreferenced_blobs_and_keeps_referenced_ones(
    blob_store: Store,
) -> None:
    tenant, wf = _tenant(), _wf()
    day = timedelta(days=1)
    old_data, kept_data, shared_data = os.urandom(1000), os.urandom(1001), os.urandom(1002)
    old = await blob_store.put_blob(
        tenant, old_data, "old.txt", workflow_id=wf, run_id="r1", retention=day
    )
    kept = await blob_store.put_blob(tenant, kept_data, "kept.txt", workflow_id=wf, run_id="r2")
    shared = await blob_store.put_blob(
        tenant, shared_data, "s.txt", workflow_id=wf, run_id="r1", retention=day
    )
    await blob_store.put_blob(tenant, shared_data, "s.txt", workflow_id=wf, run_id="r2")
    expiry = {str(r.ref) + r.run_id: r.expires_at for r in await blob_store.blobs.refs_for_run(wf)}
    assert expiry[str(kept) + "r2"] - expiry[str(old) + "r1"] > timedelta(days=28)

    later = utcnow() + 2 * day
    dry = await blob_store.gc_blobs(later, dry_run=True)
    assert dry.dry_run and dry.refs_deleted >= 2 and dry.blobs_deleted >= 1
    assert dry.bytes_freed >= len(old_data)
    assert await blob_store.blobs.exists(old)  # a dry run deletes nothing
    assert len(await blob_store.blobs.refs_for_run(wf)) == 4

    real = await blob_store.gc_blobs(later)
    assert (real.refs_deleted, real.blobs_deleted, real.bytes_freed) == (
        dry.refs_deleted,
        dry.blobs_deleted,
        dry.bytes_freed,
    )
    assert not await blob_store.blobs.exists(old)
    with pytest.raises(BlobNotFound):
        await blob_store.stat_blob(old)
    assert await _read_all(blob_store, kept) == kept_data
    assert await _read_all(blob_store, shared) == shared_data  # run r2 still references it
    left = await blob_store.blobs.refs_for_run(wf)
    assert sorted((r.ref.filename, r.run_id) for r in left) == [("kept.txt", "r2"), ("s.txt", "r2")]

    again = await blob_store.gc_blobs(later)
    assert (again.refs_deleted, again.blobs_deleted) == (0, 0)

    # A shorter retention applied at collection time takes refs written under a longer one.
    await blob_store.gc_blobs(later, retention=day)
    assert not await blob_store.blobs.exists(kept)


async def test_a_deleted_run_frees_its_blobs_after_the_grace_period(blob_store: Store) -> None:
    tenant, wf = _tenant(), _wf()
    ref = await blob_store.put_blob(tenant, os.urandom(500), "a.txt", workflow_id=wf, run_id="r1")
    other = await blob_store.put_blob(tenant, os.urandom(500), "b.txt", workflow_id=wf, run_id="r2")
    assert await blob_store.blobs.delete_run(wf, "r1") == 1
    assert [r.run_id for r in await blob_store.blobs.refs_for_run(wf)] == ["r2"]

    # Unreferenced but just used: a put may be re-using it this very moment.
    await blob_store.gc_blobs()
    assert await blob_store.blobs.exists(ref)
    await blob_store.gc_blobs(utcnow() + timedelta(hours=2))
    assert not await blob_store.blobs.exists(ref)
    assert await blob_store.blobs.exists(other)

    assert await blob_store.blobs.delete_run(wf) == 1  # every run of the workflow id
    assert await blob_store.blobs.refs_for_run(wf) == []


async def test_delete_erases_a_blob_and_every_ref_to_it(blob_store: Store) -> None:
    tenant, wf = _tenant(), _wf()
    ref = await blob_store.put_blob(tenant, b"erase me", "a.txt", workflow_id=wf, run_id="r1")
    await blob_store.put_blob(tenant, b"erase me", "b.txt", workflow_id=wf, run_id="r2")
    assert await blob_store.blobs.delete(ref)
    assert not await blob_store.blobs.exists(ref)
    assert await blob_store.blobs.refs_for_run(wf) == []
    assert not await blob_store.blobs.delete(ref)


# --- S3 specifics ----------------------------------------------------------------------------


@pytest.mark.usefixtures("aws_test_credentials")
async def test_s3_objects_are_keyed_by_tenant_and_digest_with_metadata(
    s3_test_double: str, tmp_path: Path
) -> None:
    settings = _s3_settings(StoreSettings(home=tmp_path), s3_test_double)
    store = await Store.open(settings)
    try:
        tenant = _tenant()
        data = os.urandom(PART_SIZE + 1)
        ref = await store.put_blob(tenant, data, "deck.pdf", workflow_id=_wf(), run_id="r1")
    finally:
        await store.close()
    s3 = _s3_client(s3_test_double)
    head = s3.head_object(Bucket=S3_BUCKET, Key=f"{settings.s3_prefix}{tenant}/{ref.sha256}")
    assert head["ContentLength"] == len(data) and head["ContentType"] == "application/pdf"
    assert head["Metadata"]["sha256"] == ref.sha256 and head["Metadata"]["tenant"] == tenant
    listed = s3.list_objects_v2(Bucket=S3_BUCKET, Prefix=settings.s3_prefix)["Contents"]
    assert [o["Key"] for o in listed] == [f"{settings.s3_prefix}{tenant}/{ref.sha256}"]


@pytest.mark.usefixtures("aws_test_credentials")
async def test_s3_misconfiguration_is_an_actionable_error(
    s3_test_double: str, tmp_path: Path
) -> None:
    store = await Store.open(StoreSettings(home=tmp_path, blob_backend="s3"))
    try:
        with pytest.raises(BlobConfigError, match="BIZOS_S3_BUCKET"):
            _ = store.blobs
    finally:
        await store.close()
    settings = _s3_settings(StoreSettings(home=tmp_path), s3_test_double, s3_bucket="no-such")
    store = await Store.open(settings)
    try:
        with pytest.raises(BlobConfigError, match="bucket 'no-such' does not exist"):
            await store.put_blob(_tenant(), b"x", "a.txt", workflow_id="w", run_id="r")
    finally:
        await store.close()


# --- the CLI --------------------------------------------------------------------------------


def _bizos(home: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BIZOS_", "AWS_"))}
    env["BIZOS_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "starters.cli", "artifacts", *args],
        env=env,
        capture_output=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )


async def test_bizos_artifacts_get_ls_and_gc(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = await Store.open(StoreSettings(home=home))
    try:
        report = b"# Report\n" + os.urandom(CHUNK_SIZE)
        ref = await store.put_blob("acme", report, "report.md", workflow_id="wf-cli", run_id="r1")
        short = await store.put_blob(
            "acme",
            b"a,b\n",
            "t.csv",
            workflow_id="wf-cli",
            run_id="r1",
            retention=timedelta(seconds=0),
        )
    finally:
        await store.close()

    got = _bizos(home, "get", str(ref), "-o", str(tmp_path / "out.md"))
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "out.md").read_bytes() == report
    (tmp_path / "dir").mkdir()
    got = _bizos(home, "get", str(ref), "--out", str(tmp_path / "dir"))
    assert got.returncode == 0 and (tmp_path / "dir" / "report.md").read_bytes() == report
    piped = _bizos(home, "get", str(ref))
    assert piped.returncode == 0 and piped.stdout == report

    bad = _bizos(home, "get", "blob://acme/nope/x.md")
    assert bad.returncode == 1 and b"not a sha256 digest" in bad.stderr
    other = _bizos(home, "get", str(ref), "--tenant", "globex")
    assert other.returncode == 1 and b"belongs to tenant 'acme'" in other.stderr

    listed = _bizos(home, "ls", "wf-cli", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [r["ref"] for r in rows] == [str(ref), str(short)]
    assert rows[0]["size"] == len(report) and rows[0]["run_id"] == "r1"

    dry = _bizos(home, "gc", "--dry-run", "-o", "json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["refs_deleted"] == 1 and json.loads(dry.stdout)["dry_run"]
    done = _bizos(home, "gc")
    assert done.returncode == 0 and b"deleted 1 expired refs" in done.stdout
    listed = _bizos(home, "ls", "wf-cli")
    assert listed.returncode == 0 and b"1 refs for wf-cli" in listed.stdout


async def test_migration_is_head_for_the_blob_tables(store: Store) -> None:
    from alembic.script import ScriptDirectory

    from store.migrate import alembic_config

    async with store.engine.connect() as conn:
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    scripts = ScriptDirectory.from_config(alembic_config())
    assert version == scripts.get_current_head()
    assert "0002_blobs" in {r.revision for r in scripts.iterate_revisions(version, "base")}
