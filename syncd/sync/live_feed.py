"""Live fan-out: one reader of the change log per tenant for its caught-up sockets.

A socket that has caught up follows its tenant's feed instead of reading the
log itself on every commit. On each hint the feed reads the page after its
cursor once (the whole tenant's changes, each with the task it hangs off and
the technician it assigns, if any) and hands it to every follower:

- a whole-tenant follower (admin, staff) gets the page as it is, encoded
  once for all of them (once per app schema: an older app's rows are shaped
  to its schema, client_schema.py);
- a technician gets the changes of the tasks in their scope, filtered in
  memory; a page holding an entry that assigns or unassigns them lets them
  go instead: their own read from their cursor sends the task's rows or
  `remove`s exactly as a pull does, loads their new scope, and they follow
  the feed again.

A follower is handed a page only when the page starts exactly at its own
cursor; one that is behind, half-way into the page, or whose send queue is
full is let go and reads from its own cursor again (where the slow-reader
rule applies). So sharing can neither skip a change nor send one twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import orjson
import structlog

from storage.log_reads import FeedItem
from syncd.auth.principal import Principal
from syncd.sync.client_schema import shape_changes
from syncd.sync.cursor import Cursor
from syncd.sync.scope import Scope
from syncd.sync.service import SyncService

log = structlog.get_logger("syncd.live")

PAGE = 500
RESYNC_INTERVAL_S = 30.0  # hints are at-most-once (Redis pub/sub): read now and then anyway


class Follower(Protocol):
    """What the feed needs of a live session."""

    who: Principal | None
    scope: Scope | None  # as of the session's last own read
    schema: int  # the app schema its pages are shaped to

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
        start = self._version
        items, end, has_more = await self._sync.feed_page(self._tenant_id, start, PAGE)
        self.reads += 1
        cursor = Cursor.at(end).encode()
        page = _Page(items)
        self._on_read({"changes": page.whole})
        # Encoded once per distinct set of changes and app schema.
        frames: dict[tuple[int, int], str | None] = {}
        for follower in list(self._followers):
            at = follower.version
            if at >= end and at != start:
                continue  # it read this far itself: nothing here is new to it
            changes = page.visible_to(follower.scope)
            if at != start or changes is None:
                self._let_go(follower)
                continue
            if not changes:  # nothing of theirs (most technicians): the cursor moves
                follower.offer(None, cursor)
                continue
            key = (id(changes) if changes is page.whole else len(frames) + 1, follower.schema)
            if key not in frames:
                shaped = shape_changes(changes, follower.schema)
                frames[key] = orjson.dumps(
                    {"type": "changes", "changes": shaped, "cursor": cursor, "has_more": has_more}
                ).decode()
            if not follower.offer(frames[key], cursor):
                self._let_go(follower)
        self._version = end
        return has_more

    def _let_go(self, follower: Follower) -> None:
        self._followers.pop(follower, None)
        follower.release()

    def _release_all(self) -> None:
        followers, self._followers = list(self._followers), {}
        for follower in followers:
            follower.release()


class _Page:
    """One page of the feed, indexed once for every follower's filter: a
    technician's share is found through the tasks the page touches, so a page
    costs each technician a set intersection, not a pass over its changes."""

    def __init__(self, items: list[FeedItem]) -> None:
        self.whole = [item.change for item in items]
        self.assignees = {item.assignee_id for item in items if item.assignee_id is not None}
        self.by_task: dict[uuid.UUID, list[int]] = {}
        for n, item in enumerate(items):
            if item.task_id is not None:  # a row of no task: the whole tenant's readers only
                self.by_task.setdefault(item.task_id, []).append(n)

    def visible_to(self, scope: Scope | None) -> list[Any] | None:
        """The changes of the page `scope` may see; None when the page assigns or
        unassigns its user (their own read must send what the new scope brings)."""
        if scope is None or scope.tasks is None:
            return self.whole
        if scope.user_id in self.assignees:
            return None
        shared = self.by_task.keys() & scope.tasks
        if not shared:
            return []
        positions = sorted(n for task in shared for n in self.by_task[task])
        return [self.whole[n] for n in positions]
