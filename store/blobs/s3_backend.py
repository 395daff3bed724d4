"""Blob content in S3-compatible object storage (production): objects at
``<prefix><tenant>/<sha256>`` with the digest, tenant and creation time as metadata.

boto3 is synchronous, so every call runs in a thread (``asyncio.to_thread``): the event
loop keeps serving activity heartbeats and workflow tasks meanwhile. Uploads stream as
multipart uploads to a staging key (the digest, hence the final key, is known only at the
end), then are copied server-side to the final key inside the catalog transaction that
makes the blob readable. Memory per upload is one part (``PART_SIZE``), never the file.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from store.blobs.base import CatalogBackend
from store.blobs.catalog import BlobRow
from store.blobs.errors import BlobConfigError, BlobIntegrityError
from store.settings import StoreSettings

log = logging.getLogger(__name__)

# S3 wants every part but the last to be at least 5 MiB; 8 MiB parts allow objects up to
# 80 GB (10,000 parts) with bounded memory.
PART_SIZE = 8 * 1024 * 1024
# Staging keys start with '_', which no tenant id can, so they never collide with content.
STAGING_DIR = "_uploads/"


class S3BlobBackend(CatalogBackend):
    def __init__(self, engine: AsyncEngine, settings: StoreSettings) -> None:
        super().__init__(engine, settings)
        if not settings.s3_bucket:
            raise BlobConfigError(
                "BIZOS_BLOB_BACKEND=s3 needs BIZOS_S3_BUCKET (and BIZOS_S3_ENDPOINT_URL for a "
                "non-AWS server); credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
                "or boto3's other usual sources"
            )
        self.bucket: str = settings.s3_bucket
        self.prefix = settings.s3_prefix
        self._client: Any = None
        self._client_lock = asyncio.Lock()

    # --- boto3, off the event loop ---------------------------------------------------------

    async def _s3(self) -> Any:
        async with self._client_lock:
            if self._client is None:
                # Building a client loads botocore's service model: ~100 ms of CPU, once.
                self._client = await asyncio.to_thread(self._make_client)
        return self._client

    def _make_client(self) -> Any:
        import boto3
        from botocore.config import Config

        config = Config(
            s3={"addressing_style": self.settings.s3_addressing_style},
            retries={"mode": "standard"},
            # Many S3-compatible servers reject the CRC checksums newer botocore sends by
            # default; content is verified end to end by its sha256 anyway.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.settings.s3_endpoint_url,
            region_name=self.settings.s3_region,
            config=config,
        )

    async def _call(self, method: str, **kwargs: Any) -> Any:
        client = await self._s3()
        fn: Callable[..., Any] = getattr(client, method)
        try:
            return await asyncio.to_thread(functools.partial(fn, Bucket=self.bucket, **kwargs))
        except client.exceptions.NoSuchBucket as e:
            where = self.settings.s3_endpoint_url or "AWS S3"
            raise BlobConfigError(
                f"S3 bucket {self.bucket!r} does not exist at {where}: create it, or set "
                "BIZOS_S3_BUCKET to one that does"
            ) from e

    def _key(self, tenant: str, sha256: str) -> str:
        return f"{self.prefix}{tenant}/{sha256}"

    def _staging_key(self, upload_id: str) -> str:
        return f"{self.prefix}{STAGING_DIR}{upload_id}"

    async def aclose(self) -> None:
        if self._client is not None:
            await asyncio.to_thread(self._client.close)
            self._client = None

    # --- the backend's part ----------------------------------------------------------------

    async def _stage(self, upload_id: str, chunks: AsyncIterator[bytes]) -> None:
        key = self._staging_key(upload_id)
        part = bytearray()
        parts: list[dict[str, Any]] = []
        mpu: str | None = None
        try:
            async for chunk in chunks:
                part += chunk
                if len(part) >= PART_SIZE:
                    if mpu is None:
                        mpu = (await self._call("create_multipart_upload", Key=key))["UploadId"]
                    parts.append(await self._upload_part(key, mpu, len(parts) + 1, part))
                    part = bytearray()
            if mpu is None:  # small enough for one request
                await self._call("put_object", Key=key, Body=part)
                return
            if part:
                parts.append(await self._upload_part(key, mpu, len(parts) + 1, part))
            await self._call(
                "complete_multipart_upload",
                Key=key,
                UploadId=mpu,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            if mpu is not None:
                await self._quietly("abort_multipart_upload", Key=key, UploadId=mpu)
            raise

    async def _upload_part(
        self, key: str, mpu: str, number: int, body: bytearray
    ) -> dict[str, Any]:
        resp = await self._call("upload_part", Key=key, UploadId=mpu, PartNumber=number, Body=body)
        return {"PartNumber": number, "ETag": resp["ETag"]}

    async def _promote(self, conn: AsyncConnection, row: BlobRow) -> None:
        client = await self._s3()
        # The managed copy switches to a multipart copy above 5 GB, where CopyObject stops.
        await asyncio.to_thread(
            client.copy,
            {"Bucket": self.bucket, "Key": self._staging_key(row.upload_id)},
            self.bucket,
            self._key(row.tenant, row.sha256),
            ExtraArgs={
                "ContentType": row.content_type,
                "Metadata": {
                    "sha256": row.sha256,
                    "tenant": row.tenant,
                    "created": row.created_at.isoformat(),
                },
                "MetadataDirective": "REPLACE",
            },
        )

    async def _after_promote(self, upload_id: str) -> None:
        await self._quietly("delete_object", Key=self._staging_key(upload_id))

    async def _discard(self, upload_id: str) -> None:
        await self._call("delete_object", Key=self._staging_key(upload_id))

    async def _read(self, row: BlobRow) -> AsyncIterator[bytes]:
        client = await self._s3()
        key = self._key(row.tenant, row.sha256)
        try:
            resp = await self._call("get_object", Key=key)
        except client.exceptions.NoSuchKey as e:
            raise BlobIntegrityError(
                f"blob {row.tenant}/{row.sha256} is catalogued but s3://{self.bucket}/{key} "
                "is missing"
            ) from e
        body = resp["Body"]
        try:
            while chunk := await asyncio.to_thread(body.read, self.chunk_size):
                yield chunk
        finally:
            await asyncio.to_thread(body.close)

    async def _erase(self, conn: AsyncConnection, row: BlobRow) -> None:
        await self._call("delete_object", Key=self._key(row.tenant, row.sha256))

    async def _collect_stale_staging(self, cutoff: datetime, *, dry_run: bool) -> int:
        prefix = f"{self.prefix}{STAGING_DIR}"
        client = await self._s3()
        pages = await asyncio.to_thread(
            lambda: list(
                client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
            )
        )
        stale_objects = [
            o["Key"] for p in pages for o in p.get("Contents", []) if o["LastModified"] <= cutoff
        ]
        pages = await asyncio.to_thread(
            lambda: list(
                client.get_paginator("list_multipart_uploads").paginate(
                    Bucket=self.bucket, Prefix=prefix
                )
            )
        )
        stale_uploads = [
            (u["Key"], u["UploadId"])
            for p in pages
            for u in p.get("Uploads", [])
            if u["Initiated"] <= cutoff
        ]
        if not dry_run:
            for key in stale_objects:
                await self._call("delete_object", Key=key)
            for key, upload in stale_uploads:
                await self._quietly("abort_multipart_upload", Key=key, UploadId=upload)
        return len(stale_objects) + len(stale_uploads)

    async def _quietly(self, method: str, **kwargs: Any) -> None:
        try:
            await self._call(method, **kwargs)
        except Exception:  # cleanup only: stale staging is collected later anyway
            log.warning("S3 %s failed during cleanup", method, exc_info=True)
