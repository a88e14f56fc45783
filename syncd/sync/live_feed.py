"""Live fan-out: one reader of the change log per tenant for its caught-up dashboards.

A socket whose scope is the whole tenant (admin or staff) follows its tenant's
feed once it has caught up, instead of reading the log itself on every
commit. On each hint the feed reads the page after its cursor once, encodes
the frame once, and puts it on each follower's send queue: one read, one
encoding and one queue put per commit, whatever the number of sockets.

A follower is handed a page only when the page starts exactly at its own
cursor; one that is behind, half-way into the page, or whose send queue is
full is let go and reads from its own cursor again (where the slow-reader
rule applies). So sharing can neither skip a change nor send one twice.
Technicians see a scope of their own: they always read for themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import orjson
import structlog

from syncd.auth.principal import Principal
from syncd.sync.cursor import Cursor
from syncd.sync.service import SyncService

log = structlog.get_logger("syncd.live")

PAGE = 500
RESYNC_INTERVAL_S = 30.0  # hints are at-most-once (Redis pub/sub): read now and then anyway


class Follower(Protocol):
    """What the feed needs of a live session."""

    who: Principal | None

    @property
    def version(self) -> int:
        """The log version the session's cursor stands at."""
        ...

    def offer(self, frame: str | None, cursor: str) -> bool:
        """Queue a page's frame (None: nothing to send, the cursor moves) without
        waiting; False when there is no room."""
        ...

    def release(self) -> None:
        """The feed lets the session go: it reads from its own cursor again."""
        ...


async def wait_for_hint(wake: asyncio.Event) -> None:
    """Wait for a commit hint, or RESYNC_INTERVAL_S at most: a lost hint (pub/sub
    is at-most-once) costs a short delay, never a missed change.

    asyncio.timeout, not wait_for: no extra task per wait.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(RESYNC_INTERVAL_S):
            await wake.wait()


class TenantFeed:
    """The shared log reader of one tenant; runs while it has followers."""

    def __init__(
        self,
        sync: SyncService,
        tenant_id: uuid.UUID,
        subscribe: Callable[[uuid.UUID, Callable[[int], None]], Callable[[], None]],
        on_read: Callable[[dict[str, Any]], None],
    ) -> None:
        self._sync = sync
        self._tenant_id = tenant_id
        self._subscribe = subscribe
        self._on_read = on_read
        self._followers: dict[Follower, None] = {}  # an ordered set
        self._reader: Principal | None = None
        self._version = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.reads = 0

    def __len__(self) -> int:
        return len(self._followers)

    def follow(self, follower: Follower) -> None:
        assert follower.who is not None
        if not self._followers:
            self._version = follower.version
        self._followers[follower] = None
        self._reader = follower.who
        # A commit between the follower's own last read and now is read at once.
        self._wake.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"live-feed-{self._tenant_id}")

    def leave(self, follower: Follower) -> None:
        self._followers.pop(follower, None)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._release_all()

    async def _run(self) -> None:
        unsubscribe = self._subscribe(self._tenant_id, lambda _version: self._wake.set())
        try:
            while self._followers:
                self._wake.clear()
                has_more = await self._read_and_deliver()
                if has_more or not self._followers:
                    continue
                await wait_for_hint(self._wake)
        except Exception:
            log.exception("live_feed_failed", tenant_id=str(self._tenant_id))
            self._release_all()  # the sessions carry on with their own reads
        finally:
            unsubscribe()
            if self._task is asyncio.current_task():
                self._task = None

    async def _read_and_deliver(self) -> bool:
        assert self._reader is not None
        start = self._version
        page = await self._sync.pull(self._reader, Cursor.at(start).encode(), PAGE, None)
        self.reads += 1
        self._on_read(page)
        end = Cursor.decode(page["cursor"]).version  # type: ignore[union-attr]
        frame = orjson.dumps({"type": "changes", **page}).decode() if page["changes"] else None
        for follower in list(self._followers):
            at = follower.version
            if at >= end and at != start:
                continue  # it read this far itself: nothing here is new to it
            if at != start or not follower.offer(frame, page["cursor"]):
                self._followers.pop(follower, None)
                follower.release()
        self._version = end
        return bool(page["has_more"])

    def _release_all(self) -> None:
        followers, self._followers = list(self._followers), {}
        for follower in followers:
            follower.release()
