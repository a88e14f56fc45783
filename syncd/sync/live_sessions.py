"""Every live session of this process: per-user caps, deactivation, shutdown,
and the tenants' shared log readers (syncd/sync/live_feed.py).

A user holds at most WS_MAX_SOCKETS_PER_USER sockets per process: past that,
the socket that connected first is closed with 4409 (a phone whose old
connection died silently can always reconnect).
"""

from __future__ import annotations

import asyncio
import bisect
import uuid
import weakref
from typing import TYPE_CHECKING

from syncd import appkeys, metrics
from syncd.sockets.close import CLOSE_FORBIDDEN, CLOSE_RESTART, CLOSE_SUPERSEDED
from syncd.sync.live_feed import TenantFeed

if TYPE_CHECKING:
    from syncd.sync.live import LiveSession


class LiveSessions:
    """Every open session of this process, for deactivation and shutdown, and the
    tenants' shared log readers (syncd/sync/live_feed.py)."""

    def __init__(self) -> None:
        self._sessions: weakref.WeakSet[LiveSession] = weakref.WeakSet()
        self._feeds: dict[uuid.UUID, TenantFeed] = {}
        self._by_user: dict[tuple[uuid.UUID, uuid.UUID], list[LiveSession]] = {}

    def feed(self, session: LiveSession) -> TenantFeed:
        assert session.who is not None
        tenant_id = session.who.tenant_id
        feed = self._feeds.get(tenant_id)
        if feed is None:
            app = session.request.app
            feed = TenantFeed(
                session.sync,
                tenant_id,
                app[appkeys.HUB].subscribe,
                lambda page: metrics.count_pull(app, page),
            )
            self._feeds[tenant_id] = feed
        return feed

    def add(self, session: LiveSession, limit: int) -> None:
        """Track a session; past `limit` sockets of its user, close the oldest."""
        assert session.who is not None
        self._sessions.add(session)
        mine = self._by_user.setdefault((session.who.tenant_id, session.who.user_id), [])
        bisect.insort(mine, session, key=lambda s: s.opened)  # by connection, oldest first
        open_ = [s for s in mine if not s.superseded]
        for old in open_[: max(0, len(open_) - limit)]:
            old.superseded = True
            old.request_close(CLOSE_SUPERSEDED, "too many live sockets for this user")

    def discard(self, session: LiveSession) -> None:
        self._sessions.discard(session)
        if session.who is None:
            return
        key = (session.who.tenant_id, session.who.user_id)
        mine = self._by_user.get(key, [])
        if session in mine:
            mine.remove(session)
        if not mine:
            self._by_user.pop(key, None)
        if session.who.tenant_id in self._feeds:
            self._feeds[session.who.tenant_id].leave(session)

    def __len__(self) -> int:
        return len(self._sessions)

    async def close_user(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> int:
        """Close the sessions of a deactivated user (4403). Answers how many."""
        mine = list(self._by_user.get((tenant_id, user_id), []))
        for session in mine:
            session.request_close(CLOSE_FORBIDDEN, "user deactivated")
        await asyncio.gather(*(s.finished.wait() for s in mine))
        return len(mine)

    async def close_all(self) -> None:
        sessions = list(self._sessions)
        for feed in self._feeds.values():
            await feed.stop()
        for session in sessions:
            session.request_close(CLOSE_RESTART, "server restarting; reconnect")
        await asyncio.gather(*(s.finished.wait() for s in sessions))
