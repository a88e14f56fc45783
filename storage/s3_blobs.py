"""The BlobStore port over S3 or any S3-compatible service (MinIO), through boto3.

boto3 blocks, so every call runs in a worker thread (`asyncio.to_thread`); a
boto3 client is safe to share between threads. Keys map to object keys in one
bucket, unchanged. Writes are single PUTs (or boto3's managed multipart
upload for large streams), which S3 makes atomic: a reader sees the old
object or the new one.

Presigning is local computation (no request to S3):

- upload, PUT (default): a presigned `put_object` URL whose signature covers
  the `Content-Type` and `Content-Length` headers, so S3 refuses another type
  or length (403 SignatureDoesNotMatch);
- upload, POST (`upload_method="post"`): a presigned form policy with the exact
  key, the content type and `content-length-range` [size, size];
- download: a presigned `get_object` URL, optionally naming the
  `Content-Type` S3 answers with.

S3 keeps what a client sends even if a lenient S3-compatible server skipped a
check; callers that must trust a stored object re-check it (media
`complete`).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Literal

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from storage.blob_urls import attachment
from storage.blobs import (
    CHUNK_BYTES,
    BlobError,
    BlobNotFound,
    BlobTooLarge,
    PresignedUpload,
    check_key,
    opened_in_thread,
    read_all,
)

UploadMethod = Literal["put", "post"]
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


class S3BlobStore:
    """Blobs as objects of one bucket."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        upload_method: UploadMethod = "put",
    ) -> None:
        self.bucket = bucket
        self.upload_method = upload_method
        s3_options: dict[str, Any] = {"addressing_style": "path" if endpoint_url else "auto"}
        self.client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=Config(
                signature_version="s3v4",
                s3=s3_options,
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=5,
                read_timeout=30,
            ),
        )

    async def _call(self, operation: str, **params: Any) -> Any:
        return await asyncio.to_thread(self._sync_call, operation, **params)

    def _sync_call(self, operation: str, **params: Any) -> Any:
        method = getattr(self.client, operation)
        try:
            return method(Bucket=self.bucket, **params)
        except ClientError as exc:
            if _error_code(exc) in _MISSING:
                raise BlobNotFound(params.get("Key", self.bucket)) from exc
            raise BlobError(f"S3 {operation} failed: {_error_code(exc)}") from exc
        except BotoCoreError as exc:
            raise BlobError(f"S3 {operation} failed: {exc}") from exc

    async def ensure_bucket(self) -> None:
        """Create the bucket unless it exists (development and tests)."""
        try:
            await self._call("head_bucket")
        except BlobNotFound:
            await self._call("create_bucket")

    async def put_stream(
        self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int | None = None
    ) -> int:
        check_key(key)
        spool = await opened_in_thread(tempfile.TemporaryFile, lambda file: file.close())
        try:
            written = 0
            async for chunk in chunks:
                written += len(chunk)
                if max_bytes is not None and written > max_bytes:
                    raise BlobTooLarge(max_bytes)
                await asyncio.to_thread(spool.write, chunk)
            await asyncio.to_thread(spool.seek, 0)
            try:
                await asyncio.to_thread(self.client.upload_fileobj, spool, self.bucket, key)
            except (ClientError, BotoCoreError) as exc:
                raise BlobError(f"S3 upload of {key!r} failed: {exc}") from exc
        finally:
            await asyncio.to_thread(spool.close)
        return written

    async def put_bytes(self, key: str, data: bytes) -> int:
        await self._call("put_object", Key=check_key(key), Body=data)
        return len(data)

    @asynccontextmanager
    async def _open(self, key: str, chunk_bytes: int) -> AsyncIterator[AsyncIterator[bytes]]:
        check_key(key)
        found = await opened_in_thread(
            lambda: self._sync_call("get_object", Key=key), lambda got: got["Body"].close()
        )
        body = found["Body"]

        async def chunks() -> AsyncIterator[bytes]:
            while chunk := await asyncio.to_thread(body.read, chunk_bytes):
                yield chunk

        try:
            yield chunks()
        finally:
            await asyncio.to_thread(body.close)

    def open(
        self, key: str, *, chunk_bytes: int = CHUNK_BYTES
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        return self._open(key, chunk_bytes)

    async def read(self, key: str) -> bytes:
        return await read_all(self, key)

    async def exists(self, key: str) -> bool:
        try:
            await self._call("head_object", Key=check_key(key))
        except BlobNotFound:
            return False
        return True

    async def size(self, key: str) -> int:
        found = await self._call("head_object", Key=check_key(key))
        return int(found["ContentLength"])

    async def delete(self, key: str) -> bool:
        existed = await self.exists(key)  # S3's DELETE does not say
        if existed:
            await self._call("delete_object", Key=key)
        return existed

    async def presign_upload(
        self, key: str, content_type: str, size: int, expires_s: int
    ) -> PresignedUpload:
        check_key(key)
        if self.upload_method == "post":
            form = await asyncio.to_thread(
                self.client.generate_presigned_post,
                self.bucket,
                key,
                Fields={"Content-Type": content_type},
                Conditions=[{"Content-Type": content_type}, ["content-length-range", size, size]],
                ExpiresIn=expires_s,
            )
            return PresignedUpload("POST", form["url"], fields=dict(form["fields"]))
        url = await asyncio.to_thread(
            self.client.generate_presigned_url,
            "put_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ContentType": content_type,
                "ContentLength": size,
            },
            ExpiresIn=expires_s,
        )
        headers = {"Content-Type": content_type, "Content-Length": str(size)}
        return PresignedUpload("PUT", url, headers=headers)

    async def presign_download(
        self,
        key: str,
        expires_s: int,
        *,
        content_type: str | None = None,
        file_name: str | None = None,
    ) -> str:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": check_key(key)}
        if content_type is not None:
            params["ResponseContentType"] = content_type
        if file_name is not None:
            params["ResponseContentDisposition"] = attachment(file_name)
        url: str = await asyncio.to_thread(
            self.client.generate_presigned_url, "get_object", Params=params, ExpiresIn=expires_s
        )
        return url


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "unknown"))
