"""Files and threads under the blob stores.

`opened_in_thread` opens a handle in a worker thread so that a cancelled
caller never leaks it (the S3 adapter spools through it too); `open_temp`,
`commit_temp` and `discard_temp` make the local store's writes atomic: a
temporary file beside the blob, flushed, synced and renamed over it, or
removed.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO, TypeVar

T = TypeVar("T")


async def opened_in_thread(open_: Callable[[], T], close: Callable[[T], None]) -> T:
    """`open_()` in a worker thread; if the caller is cancelled meanwhile, what the
    thread opens is closed (a bare to_thread would leak it).

    The hand-over is guarded by a lock on the thread's side, not by a callback on
    the event loop: a loop that is closing (a shutdown cancelling a job) may never
    run a callback, and the handle would then leak.
    """
    lock = threading.Lock()
    opened: list[T] = []
    abandoned = False

    def guarded() -> T:
        value = open_()
        with lock:
            if abandoned:
                close(value)
            else:
                opened.append(value)
        return value

    try:
        return await asyncio.to_thread(guarded)
    except asyncio.CancelledError:
        with lock:
            abandoned = True
            late = list(opened)
        for value in late:
            close(value)
        raise


def close_handle(handle: BinaryIO) -> None:
    handle.close()


def discard_pair(pair: tuple[BinaryIO, Path]) -> None:
    discard_temp(*pair)


def open_temp(path: Path) -> tuple[BinaryIO, Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    return temp.open("xb"), temp


def commit_temp(handle: BinaryIO, temp: Path, path: Path) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()
    os.replace(temp, path)


def discard_temp(handle: BinaryIO, temp: Path) -> None:
    handle.close()
    with suppress(FileNotFoundError):
        temp.unlink()
