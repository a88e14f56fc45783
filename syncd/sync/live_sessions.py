"""Every live session of this process: per-user caps, deactivation, shutdown,
and the tenants' shared log readers (syncd/sync/live_feed.py).

A user holds at most WS_MAX_SOCKETS_PER_USER sockets per process: past that,
the socket that connected first is closed with 4409 (syncd.sockets.caps).

This module names the sessions by what it needs of them (`Session`) and
imports neither live.py nor the app's keys: `syncd.appkeys` types LIVE with
it, so nothing here may lead back there.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import Callable
from typing import Protocol

from syncd.sockets.caps import UserSockets
from syncd.sockets.close import Close
from syncd.sync.live_feed import Follower, TenantFeed


class Session(Follower, Protocol):
    """What the registry needs of a live session (syncd.sync.live.LiveSession)."""

    opened: int
    superseded: bool
    finished: asyncio.Event

    def request_close(self, code: int, message: str) -> None: ...


class LiveSessions:
    """Every open session of this process, for deactivation and shutdown, and the
    tenants' shared log readers (syncd/sync/live_feed.py)."""

    def __init__(self) -> None:
        self._sessions: weakref.WeakSet[Session] = weakref.WeakSet()
        self._feeds: dict[uuid.UUID, TenantFeed] = {}
        self._users: UserSockets[Session] = UserSockets("too many live sockets for this user")

    def feed(self, tenant_id: uuid.UUID, start: Callable[[], TenantFeed]) -> TenantFeed:
        """The tenant's shared feed, started by `start` if it has none yet."""
        feed = self._feeds.get(tenant_id)
        if feed is None:
            feed = self._feeds[tenant_id] = start()
        return feed

    def add(self, session: Session, limit: int) -> None:
        """Track a session; past `limit` sockets of its user, close the oldest."""
        assert session.who is not None
        self._sessions.add(session)
        self._users.add((session.who.tenant_id, session.who.user_id), session, limit)

    def discard(self, session: Session) -> None:
        self._sessions.discard(session)
        if session.who is None:
            return
        self._users.discard((session.who.tenant_id, session.who.user_id), session)
        if session.who.tenant_id in self._feeds:
            self._feeds[session.who.tenant_id].leave(session)

    def __len__(self) -> int:
        return len(self._sessions)

    async def close_user(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> int:
        """Close the sessions of a deactivated user (4403). Answers how many."""
        mine = self._users.of((tenant_id, user_id))
        for session in mine:
            session.request_close(Close.FORBIDDEN, "user deactivated")
        await asyncio.gather(*(s.finished.wait() for s in mine))
        return len(mine)

    async def close_all(self) -> None:
        sessions = list(self._sessions)
        for feed in self._feeds.values():
            await feed.stop()
        for session in sessions:
            session.request_close(Close.RESTART, "server restarting; reconnect")
        await asyncio.gather(*(s.finished.wait() for s in sessions))
