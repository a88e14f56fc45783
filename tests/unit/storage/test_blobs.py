"""The BlobStore contract, run over every adapter: the local filesystem and S3 (moto's server)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import threading
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.blobs import (
    BlobNotFound,
    BlobStore,
    BlobTooLarge,
    InvalidBlobKey,
    LocalBlobStore,
    check_key,
    opened_in_thread,
)
from storage.s3_blobs import S3BlobStore

KEY = "tenants/7d0c/branding/logo-1"


@pytest.fixture(params=["local", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    endpoint = request.getfixturevalue("s3_endpoint")
    s3 = S3BlobStore(
        f"blobs-{uuid.uuid4().hex[:12]}",
        endpoint_url=endpoint,
        access_key_id="test",
        secret_access_key="test-secret",
    )
    await s3.ensure_bucket()
    return s3


async def stream(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def read_chunks(store: BlobStore, key: str, chunk_bytes: int) -> list[bytes]:
    async with store.open(key, chunk_bytes=chunk_bytes) as chunks:
        return [chunk async for chunk in chunks]


async def test_put_read_size_exists_delete(store: BlobStore) -> None:
    assert not await store.exists(KEY)
    assert await store.put_stream(KEY, stream(b"abc", b"", b"defg")) == 7
    assert await store.exists(KEY)
    assert await store.size(KEY) == 7
    assert await store.read(KEY) == b"abcdefg"
    assert await read_chunks(store, KEY, 3) == [b"abc", b"def", b"g"]
    assert await store.delete(KEY)
    assert not await store.exists(KEY)
    assert not await store.delete(KEY)


async def test_put_bytes_replaces_whole(store: BlobStore) -> None:
    await store.put_bytes(KEY, b"first version, longer")
    assert await store.put_bytes(KEY, b"second") == 6
    assert await store.read(KEY) == b"second"


async def test_missing_blob_raises_not_found(store: BlobStore) -> None:
    with pytest.raises(BlobNotFound):
        await store.read("nothing/here")
    with pytest.raises(BlobNotFound):
        await store.size("nothing/here")
    await store.put_bytes(KEY, b"x")
    with pytest.raises(BlobNotFound):  # a "directory" of keys is not a blob
        await store.size("tenants/7d0c/branding")
    with pytest.raises(BlobNotFound):
        await read_chunks(store, "tenants/7d0c", 10)


async def test_a_stream_past_its_limit_stores_nothing(store: BlobStore) -> None:
    await store.put_bytes(KEY, b"the old blob")
    with pytest.raises(BlobTooLarge) as raised:
        await store.put_stream(KEY, stream(b"x" * 600, b"y" * 600), max_bytes=1000)
    assert raised.value.limit == 1000
    assert await store.read(KEY) == b"the old blob"
    assert await store.put_stream(KEY, stream(b"z" * 1000), max_bytes=1000) == 1000


async def test_a_failing_stream_keeps_the_old_blob(store: BlobStore) -> None:
    await store.put_bytes(KEY, b"old")

    async def broken() -> AsyncIterator[bytes]:
        yield b"half of the new one"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await store.put_stream(KEY, broken())
    assert await store.read(KEY) == b"old"


async def test_a_reader_keeps_its_blob_while_it_is_replaced(store: BlobStore) -> None:
    await store.put_bytes(KEY, b"A" * 10)
    async with store.open(KEY, chunk_bytes=4) as chunks:
        first = await anext(chunks)
        await store.put_bytes(KEY, b"B" * 10)
        rest = [chunk async for chunk in chunks]
    assert first + b"".join(rest) == b"A" * 10
    assert await store.read(KEY) == b"B" * 10


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/etc/passwd",
        "../outside",
        "tenants/../../outside",
        "tenants/./x",
        "tenants//x",
        "tenants/x/",
        ".hidden",
        "tenants/.x.tmp",
        "back\\slash",
        "nul\x00byte",
        "spa ce",
        "x" * 301,
    ],
)
async def test_keys_that_could_escape_are_refused(store: BlobStore, key: str) -> None:
    with pytest.raises(InvalidBlobKey):
        check_key(key)
    with pytest.raises(InvalidBlobKey):
        await store.put_bytes(key, b"nope")
    with pytest.raises(InvalidBlobKey):
        await store.exists(key)
    with pytest.raises(InvalidBlobKey):
        await store.delete(key)


async def test_local_store_refuses_a_symlink_out_of_its_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "blobs"
    root.mkdir()
    os.symlink(outside, root / "link")
    store = LocalBlobStore(root)
    with pytest.raises(InvalidBlobKey):
        await store.put_bytes("link/file", b"escaped")
    assert list(outside.iterdir()) == []


async def test_local_store_writes_atomically_with_no_leftovers(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    await store.put_bytes(KEY, b"done")
    with pytest.raises(BlobTooLarge):
        await store.put_stream("tenants/7d0c/other", stream(b"x" * 20), max_bytes=10)
    files = sorted(p.name for p in (tmp_path / "blobs" / "tenants" / "7d0c").rglob("*"))
    assert files == ["branding", "logo-1"]
    assert (tmp_path / "blobs" / KEY).read_bytes() == b"done"


async def test_cancelled_reads_and_writes_leave_no_open_file(store: BlobStore) -> None:
    await store.put_bytes(KEY, b"x" * 200_000)
    for spins in range(8):
        for work in (lambda: store.read(KEY), lambda: store.put_bytes(KEY + "-new", b"y" * 1000)):
            task = asyncio.ensure_future(work())
            for _ in range(spins):
                await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    await asyncio.sleep(0.2)  # let threads still opening finish, and close what they opened
    gc.collect()  # a leaked file would warn (ResourceWarning: an error under pytest here)
    assert await store.read(KEY) == b"x" * 200_000


async def test_a_handle_opened_after_its_caller_left_is_closed_without_the_loop() -> None:
    # A shutdown may cancel a job mid-open and close the loop at once: the thread
    # itself must close what it opened, with no callback left for the loop to run.
    release, closed = threading.Event(), threading.Event()

    def open_slowly() -> str:
        release.wait(5)
        return "handle"

    task = asyncio.ensure_future(opened_in_thread(open_slowly, lambda _: closed.set()))
    await asyncio.sleep(0.05)  # the thread is inside open_slowly
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    release.set()
    assert closed.wait(5)  # blocks the loop: only the thread can set it
