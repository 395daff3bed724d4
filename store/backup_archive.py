"""The backup archive on disk: a tar file written beside its final name and renamed into
place only when complete, and read back only after every member checks out against the
manifest. See `store.backup_format` for what is inside.

The archive holds what the database holds (hashed API keys, webhook signing secrets): it is
created readable by its owner only (0600).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tarfile
import time
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from store.backup_format import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    BackupError,
    CorruptArchive,
    Manifest,
)

READ_SIZE = 1024 * 1024
# What a damaged tar or gzip stream raises while it is read.
_DAMAGE = (tarfile.TarError, EOFError, zlib.error, OSError)


class _Hashing:
    """A read-only file that hashes what passes through it (tar pulls members by read())."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.hash = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.hash.update(data)
        return data


def _compressed(path: Path) -> bool:
    return path.name.endswith((".gz", ".tgz"))


class ArchiveWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.part")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file = os.fdopen(fd, "wb")
        self._tar = tarfile.open(  # noqa: SIM115 (closed by commit or abort)
            fileobj=self._file, mode="w:gz" if _compressed(path) else "w", format=tarfile.PAX_FORMAT
        )

    def _info(self, member: str, size: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(member)
        info.size = size
        info.mtime = int(time.time())
        info.mode = 0o600
        return info

    def add_file(self, member: str, source: Path) -> tuple[int, str]:
        """Add ``source`` as ``member``; returns its size and sha256."""
        size = source.stat().st_size
        with source.open("rb") as f:
            hashing = _Hashing(f)
            self._tar.addfile(self._info(member, size), hashing)  # type: ignore[arg-type]
        return size, hashing.hash.hexdigest()

    def commit(self, manifest: Manifest) -> int:
        """Write the manifest (last: its presence says the archive is complete), then move
        the archive to its name. Returns the archive's size."""
        data = manifest.model_dump_json(indent=2).encode()
        self._tar.addfile(self._info(MANIFEST, len(data)), io.BytesIO(data))
        self._tar.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        size = self._file.tell()
        self._file.close()
        os.replace(self._tmp, self.path)
        return size

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._tar.close()
        with contextlib.suppress(Exception):
            self._file.close()
        self._tmp.unlink(missing_ok=True)


class ArchiveReader:
    """Open with `verify()` before anything else: it checks the whole archive. Members are
    only read, never extracted to disk, so no member name can write outside anything."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.is_file():
            raise BackupError(f"{path}: no such backup file")
        try:
            self._tar = tarfile.open(path, mode="r:*")  # noqa: SIM115 (closed by close)
        except _DAMAGE as e:
            raise CorruptArchive(f"{path} is not a bizos backup (not a tar archive: {e})") from e
        self._members: dict[str, tarfile.TarInfo] = {}

    def close(self) -> None:
        self._tar.close()

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def verify(self) -> Manifest:
        """The manifest, once every member it names is present with its size and sha256
        and nothing else is in the archive; `CorruptArchive` naming the first problem."""
        try:
            self._members = {m.name: m for m in self._tar.getmembers()}
        except _DAMAGE as e:
            raise CorruptArchive(
                f"{self.path} is truncated or damaged ({e}): it ends before its last member"
            ) from e
        manifest = self._manifest()
        expected: dict[str, tuple[int, str]] = {
            t.member: (t.size, t.sha256) for t in manifest.tables
        }
        expected.update({b.member: (b.size, b.sha256) for b in manifest.blobs})
        extra = sorted(set(self._members) - set(expected) - {MANIFEST})
        if extra:
            raise CorruptArchive(
                f"{self.path} holds members its manifest does not name: {extra[:5]}"
            )
        for member, (size, sha256) in expected.items():
            self._check_member(member, size, sha256)
        return manifest

    def _manifest(self) -> Manifest:
        if MANIFEST not in self._members:
            raise CorruptArchive(
                f"{self.path} has no {MANIFEST}: the backup was cut short (the manifest is "
                "written last) or this is not a bizos backup"
            )
        try:
            raw = json.loads(self._read_all(MANIFEST))
        except ValueError as e:
            raise CorruptArchive(f"{self.path}: {MANIFEST} is not valid JSON ({e})") from e
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise CorruptArchive(f"{self.path}: {MANIFEST} is not a bizos backup manifest")
        if isinstance(raw.get("version"), int) and raw["version"] > FORMAT_VERSION:
            raise BackupError(
                f"{self.path} is backup format {raw['version']}; this bizos reads up to "
                f"{FORMAT_VERSION}: restore it with a newer bizos"
            )
        try:
            return Manifest.model_validate(raw)
        except ValidationError as e:
            raise CorruptArchive(f"{self.path}: {MANIFEST} is malformed: {e}") from e

    def _check_member(self, member: str, size: int, sha256: str) -> None:
        info = self._members.get(member)
        if info is None:
            raise CorruptArchive(f"{self.path} lacks {member}, which its manifest names")
        if info.size != size:
            raise CorruptArchive(
                f"{self.path}: {member} is {info.size} bytes, the manifest says {size}"
            )
        digest = hashlib.sha256()
        read = 0
        for chunk in self.chunks(member):
            digest.update(chunk)
            read += len(chunk)
        if read != size:
            raise CorruptArchive(
                f"{self.path}: {member} ends after {read} of its {size} bytes (truncated)"
            )
        if digest.hexdigest() != sha256:
            raise CorruptArchive(
                f"{self.path}: {member} fails its checksum (sha256 {digest.hexdigest()}, "
                f"manifest {sha256}): the archive was altered or damaged"
            )

    def chunks(self, member: str, size: int = READ_SIZE) -> Iterator[bytes]:
        try:
            f = self._tar.extractfile(self._members[member])
            if f is None:
                raise CorruptArchive(f"{self.path}: {member} is not a regular file")
            with f:
                while chunk := f.read(size):
                    yield chunk
        except _DAMAGE as e:
            raise CorruptArchive(f"{self.path}: cannot read {member}: {e} (truncated?)") from e

    def lines(self, member: str) -> Iterator[bytes]:
        pending = b""
        for chunk in self.chunks(member):
            pending += chunk
            *complete, pending = pending.split(b"\n")
            yield from complete
        if pending:
            yield pending

    def _read_all(self, member: str) -> bytes:
        return b"".join(self.chunks(member))
