"""What jobs need, handed over once by a composition root (jobs never import syncd).

A job is an async core `core(runtime, *args)` plus a plain, importable entry
point for rq that runs the core on the configured runtime. The `Runtime`
carries the dependencies: the blob store, the database sessions (for reads),
and the write path, seen only through the `MediaWriter` protocol that the
sync service satisfies.

Two composition roots fill it in: the app factory builds a `Runtime` and hands
it to the in-process queue (nothing global); `syncd worker` calls
`configure(...)` with an `asyncio.Runner`, whose one event loop then runs every
job of the worker process (so connection pools live across jobs).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jobs.attempts import during, rq_attempt
from storage.blobs import BlobStore

T = TypeVar("T")
THUMBNAIL_PX = 512
UPLOAD_TTL_S = 86_400


class MediaWriter(Protocol):
    """The write path for synced rows (syncd's SyncService.server_upsert)."""

    async def server_upsert(
        self,
        tenant_id: uuid.UUID,
        actor_id: uuid.UUID | None,
        entity: str,
        row_id: uuid.UUID,
        values: dict[str, Any],
        task_id: uuid.UUID | None = None,
        *,
        event: str | None = None,
    ) -> int: ...


@dataclass(frozen=True, slots=True)
class Runtime:
    blobs: BlobStore
    writer: MediaWriter
    sessions: async_sessionmaker[AsyncSession]
    upload_ttl_s: int = UPLOAD_TTL_S
    thumbnail_px: int = THUMBNAIL_PX


_configured: Runtime | None = None
_runner: asyncio.Runner | None = None


def configure(
    blobs: BlobStore,
    writer: MediaWriter,
    sessions: async_sessionmaker[AsyncSession],
    *,
    upload_ttl_s: int = UPLOAD_TTL_S,
    thumbnail_px: int = THUMBNAIL_PX,
    runner: asyncio.Runner | None = None,
) -> Runtime:
    """Hand the process's jobs their dependencies (and the loop to run them on)."""
    global _configured, _runner
    _configured = Runtime(blobs, writer, sessions, upload_ttl_s, thumbnail_px)
    _runner = runner
    return _configured


def reset() -> None:
    global _configured, _runner
    _configured = None
    _runner = None


def current() -> Runtime:
    if _configured is None:
        raise RuntimeError(
            "jobs.runtime.configure() was not called: run jobs through `syncd worker` "
            "or the app's in-process queue"
        )
    return _configured


def run(core: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
    """Run `core(runtime, *args)` to completion (the body of every rq entry point),
    as the attempt rq's current job is on (`jobs.attempts`)."""
    runtime = current()
    work = during(rq_attempt(), core(runtime, *args))
    if _runner is not None:
        return _runner.run(work)
    return asyncio.run(work)
