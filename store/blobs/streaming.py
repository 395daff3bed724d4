"""Moving blob content in fixed-size chunks, so no step ever holds a whole file in memory."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import TypeAlias

from store.blobs.errors import BlobIntegrityError

CHUNK_SIZE = 256 * 1024

# What a put accepts: chunks from anywhere, a file on disk, or bytes already in memory.
BlobSource: TypeAlias = AsyncIterable[bytes] | str | os.PathLike[str] | bytes


async def fixed_chunks(source: BlobSource, size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
    """The source as chunks of exactly ``size`` bytes (the last one shorter)."""
    if isinstance(source, bytes):
        for start in range(0, len(source), size):
            yield source[start : start + size]
    elif isinstance(source, str | os.PathLike):
        async for chunk in file_chunks(Path(source), size):
            yield chunk
    else:
        buf = bytearray()
        async for piece in source:
            buf += piece
            while len(buf) >= size:
                yield bytes(buf[:size])
                del buf[:size]
        if buf:
            yield bytes(buf)


async def file_chunks(path: Path, size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
    # File reads go to a thread: a slow disk or network mount must not stall the event loop
    # (activities heartbeat from it).
    f = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(f.read, size):
            yield chunk
    finally:
        await asyncio.to_thread(f.close)


class Digest:
    """sha256 and size of everything that passed through ``tap``."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.size = 0

    async def tap(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        async for chunk in chunks:
            self._hash.update(chunk)
            self.size += len(chunk)
            yield chunk

    @property
    def hexdigest(self) -> str:
        return self._hash.hexdigest()


async def write_to_file(chunks: AsyncIterable[bytes], path: Path, expected_sha256: str) -> int:
    """Write ``chunks`` to ``path`` atomically: a temporary file beside it, renamed into place
    only when the content matches ``expected_sha256`` (a failed download never leaves a file
    that looks complete). Returns the size written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.part")
    digest = Digest()
    try:
        f = await asyncio.to_thread(tmp.open, "wb")
        try:
            async for chunk in digest.tap(chunks):
                await asyncio.to_thread(f.write, chunk)
        finally:
            await asyncio.to_thread(f.close)
        if digest.hexdigest != expected_sha256:
            raise BlobIntegrityError(
                f"downloaded content has sha256 {digest.hexdigest}, expected {expected_sha256}"
            )
        await asyncio.to_thread(os.replace, tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return digest.size
