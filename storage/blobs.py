"""Blob stores: the `BlobStore` port and its local-filesystem adapter.

A blob is an opaque byte string under a key such as
`tenants/<tenant_id>/branding/logo-<id>`: `/`-separated segments of letters,
digits, `.`, `_` and `-`, none starting with a dot (so no `..`, no hidden
names) and never absolute. Writes are atomic: a reader sees the old blob or the
new one, never half of one. Uploads stream: `put_stream` writes chunks as they
arrive and can refuse a stream that grows past a limit, without ever holding
the whole of it in memory.

Clients move large files straight to and from the store, never through a
request handler of ours: `presign_upload` answers how to send one object (a
method, a URL and the headers or form fields the signature covers) and
`presign_download` a URL to read one, both expiring.

    BlobError (storage.blob_keys, with `check_key`; importable from here)
    ├── InvalidBlobKey (also ValueError): the key could escape the store
    ├── BlobNotFound (also KeyError)
    ├── BlobTooLarge: a stream passed `max_bytes` (nothing was stored)
    ├── BlobSizeMismatch: a signed upload ended short of its size (nothing was stored)
    └── BlobUrlError (storage.blob_urls): a signed URL refused

`LocalBlobStore` is the embedded default: its signed URLs are HMAC-signed
(storage.blob_urls) and served by syncd itself under `/blobs/`.
`S3BlobStore` (storage.s3_blobs) is the adapter for S3 and MinIO.
"""

from __future__ import annotations

import asyncio
import stat
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

from storage.blob_files import (
    close_handle,
    commit_temp,
    discard_pair,
    discard_temp,
    open_temp,
)
from storage.blob_files import opened_in_thread as opened_in_thread  # the S3 adapter's import
from storage.blob_keys import MAX_KEY_LENGTH as MAX_KEY_LENGTH
from storage.blob_keys import BlobError as BlobError
from storage.blob_keys import BlobNotFound as BlobNotFound
from storage.blob_keys import BlobSizeMismatch as BlobSizeMismatch
from storage.blob_keys import BlobTooLarge as BlobTooLarge
from storage.blob_keys import InvalidBlobKey as InvalidBlobKey
from storage.blob_keys import check_key as check_key
from storage.blob_urls import SignatureInvalid, SignedDownload, UrlSigner

CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class PresignedUpload:
    """How a client sends one object: `method` to `url` with these headers, or
    (POST) as a multipart form holding `fields` and then the file."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    fields: dict[str, str] | None = None

    def as_json(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"method": self.method, "url": self.url}
        if self.fields is not None:
            answer["fields"] = dict(self.fields)
        else:
            answer["headers"] = dict(self.headers)
        return answer


class BlobStore(Protocol):
    """Where uploaded files live. Every method takes a key checked by `check_key`."""

    async def put_stream(
        self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int | None = None
    ) -> int:
        """Store the chunks under `key` atomically; answer the size in bytes."""
        ...

    async def put_bytes(self, key: str, data: bytes) -> int:
        """Store `data` under `key` atomically; answer its size."""
        ...

    def open(
        self, key: str, *, chunk_bytes: int = CHUNK_BYTES
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """`async with store.open(key) as chunks:` the blob, chunk by chunk.

        Entering raises BlobNotFound; the blob stays readable until the context
        exits even if it is replaced or deleted meanwhile.
        """
        ...

    async def read(self, key: str) -> bytes:
        """The whole blob (only for blobs known to be small)."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def size(self, key: str) -> int:
        """The blob's size in bytes; BlobNotFound if absent."""
        ...

    async def delete(self, key: str) -> bool:
        """Remove the blob; answer whether there was one."""
        ...

    async def presign_upload(
        self, key: str, content_type: str, size: int, expires_s: int
    ) -> PresignedUpload:
        """How to send exactly `size` bytes of `content_type` to `key`, for `expires_s`.

        The URL may be relative (the local store's, served by syncd): resolve it
        against the server's own address.
        """
        ...

    async def presign_download(
        self,
        key: str,
        expires_s: int,
        *,
        content_type: str | None = None,
        file_name: str | None = None,
    ) -> str:
        """A URL that reads the blob for `expires_s` (served as `content_type`, and
        as an attachment named `file_name` when one is given)."""
        ...


async def read_all(store: BlobStore, key: str) -> bytes:
    """A whole blob through `store.open` (any adapter; small blobs only)."""
    parts = []
    async with store.open(key) as chunks:
        async for chunk in chunks:
            parts.append(chunk)
    return b"".join(parts)


class LocalBlobStore:
    """Blobs as files under `root`, written through a temporary file and os.replace.

    With a `signer` it presigns: URLs under `url_path` (`/blobs/upload`,
    `/blobs/download`) that syncd serves through `accept_upload` and
    `open_download`.
    """

    def __init__(
        self, root: Path, *, signer: UrlSigner | None = None, url_path: str = "/blobs"
    ) -> None:
        self.root = root.resolve()
        self.signer = signer
        self.url_path = url_path.rstrip("/")

    def path_of(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise InvalidBlobKey(f"{key!r} leads outside the blob store")
        return path

    async def put_stream(
        self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int | None = None
    ) -> int:
        path = self.path_of(key)
        handle, temp = await opened_in_thread(lambda: open_temp(path), discard_pair)
        written = 0
        try:
            async for chunk in chunks:
                written += len(chunk)
                if max_bytes is not None and written > max_bytes:
                    raise BlobTooLarge(max_bytes)
                await asyncio.to_thread(handle.write, chunk)
            await asyncio.to_thread(commit_temp, handle, temp, path)
        except BaseException:
            await asyncio.to_thread(discard_temp, handle, temp)
            raise
        return written

    async def put_bytes(self, key: str, data: bytes) -> int:
        async def one_chunk() -> AsyncIterator[bytes]:
            yield data

        return await self.put_stream(key, one_chunk())

    @asynccontextmanager
    async def _open(self, key: str, chunk_bytes: int) -> AsyncIterator[AsyncIterator[bytes]]:
        path = self.path_of(key)
        try:
            handle = await opened_in_thread(lambda: path.open("rb"), close_handle)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise BlobNotFound(key) from None

        async def chunks() -> AsyncIterator[bytes]:
            while chunk := await asyncio.to_thread(handle.read, chunk_bytes):
                yield chunk

        try:
            yield chunks()
        finally:
            handle.close()  # a read handle: no flush, and no await a cancel could cut

    def open(
        self, key: str, *, chunk_bytes: int = CHUNK_BYTES
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        return self._open(key, chunk_bytes)

    async def read(self, key: str) -> bytes:
        return await read_all(self, key)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path_of(key).is_file)

    async def size(self, key: str) -> int:
        path = self.path_of(key)
        try:
            found = await asyncio.to_thread(path.stat)
        except (FileNotFoundError, NotADirectoryError):
            raise BlobNotFound(key) from None
        if not stat.S_ISREG(found.st_mode):
            raise BlobNotFound(key)
        return found.st_size

    async def delete(self, key: str) -> bool:
        path = self.path_of(key)
        try:
            await asyncio.to_thread(path.unlink)
        except (FileNotFoundError, NotADirectoryError):
            return False
        return True

    # --- signed URLs -------------------------------------------------------------

    def _signer(self) -> UrlSigner:
        if self.signer is None:
            raise RuntimeError("this LocalBlobStore has no URL signer; it cannot presign")
        return self.signer

    async def presign_upload(
        self, key: str, content_type: str, size: int, expires_s: int
    ) -> PresignedUpload:
        signer = self._signer()
        self.path_of(key)
        query = signer.sign_upload(key, content_type, size, signer.now() + expires_s)
        return PresignedUpload(
            "PUT",
            f"{self.url_path}/upload?{urlencode(query)}",
            headers={"Content-Type": content_type, "Content-Length": str(size)},
        )

    async def presign_download(
        self,
        key: str,
        expires_s: int,
        *,
        content_type: str | None = None,
        file_name: str | None = None,
    ) -> str:
        signer = self._signer()
        self.path_of(key)
        query = signer.sign_download(key, signer.now() + expires_s, content_type, file_name)
        return f"{self.url_path}/download?{urlencode(query)}"

    async def accept_upload(
        self,
        query: Mapping[str, str],
        content_type: str,
        content_length: int | None,
        chunks: AsyncIterable[bytes],
    ) -> int:
        """Store the body of a PUT to a signed upload URL; answer its size.

        Refuses (storage.blob_urls) a bad or expired signature, or a body sent
        as another content type than signed (SignatureInvalid: it is a signed
        term); BlobTooLarge for a body longer than signed, BlobSizeMismatch for
        a shorter one. Nothing is stored unless all of it holds.
        """

        signed = self._signer().verify_upload(query)
        if content_type != signed.content_type:
            raise SignatureInvalid(
                f"the body is {content_type or 'untyped'!r}; the URL was signed for "
                f"{signed.content_type!r}"
            )
        if content_length is not None and content_length > signed.size:
            raise BlobTooLarge(signed.size)
        return await self.put_stream(
            signed.key, _exactly(chunks, signed.size), max_bytes=signed.size
        )

    def verify_download(self, query: Mapping[str, str]) -> SignedDownload:
        """The terms of a signed download URL (or the error refusing it)."""
        return self._signer().verify_download(query)


async def _exactly(chunks: AsyncIterable[bytes], size: int) -> AsyncIterator[bytes]:
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        yield chunk
    if received < size:
        raise BlobSizeMismatch(size, received)
