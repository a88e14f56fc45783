"""How many sockets may be open: per tenant, per process, per user.

- `SocketCaps`: one tenant's sockets in this process, /sync/ws and /sync/yjs
  together (`TENANT_MAX_LIVE_SOCKETS`), and every tenant's together
  (`PROCESS_MAX_LIVE_SOCKETS`). Counted once a socket has authenticated; one
  past either cap is closed with 4429 (reconnect later, with backoff). The
  app holds one under `SOCKET_CAPS` (syncd.fair_limits.limits_context).
- `UserSockets`: one user's sockets of one endpoint in this process, oldest
  (by when it connected) first. Past the endpoint's cap
  (`WS_MAX_SOCKETS_PER_USER`) the oldest is closed with 4409: a phone whose
  old connection died silently can always reconnect.

Plain counting: no endpoint, service or app key of another module is
imported here.
"""

from __future__ import annotations

import bisect
import uuid
from typing import Generic, Protocol, TypeVar

import structlog
from aiohttp import web

from syncd.sockets.close import Close

log = structlog.get_logger("syncd.limits")

UserKey = tuple[uuid.UUID, uuid.UUID]  # (tenant, user)


class SocketCaps:
    """The open sockets of every tenant of this process, under two caps."""

    def __init__(self, per_tenant: int, per_process: int) -> None:
        self.per_tenant = per_tenant
        self.per_process = per_process
        self._held: dict[uuid.UUID, int] = {}
        self.open_sockets = 0  # every tenant's, in this process

    def held(self, tenant_id: uuid.UUID) -> int:
        return self._held.get(tenant_id, 0)

    def open(self, tenant_id: uuid.UUID) -> str | None:
        """Count a socket in; else the reason it is refused (the tenant's cap or the
        process's is held already), for its 4429 close."""
        held = self.held(tenant_id)
        if held >= self.per_tenant:
            log.info("tenant socket refused", tenant_id=str(tenant_id), held=held)
            return "too many live sockets for this tenant; retry later"
        if self.open_sockets >= self.per_process:
            log.warning("process socket refused", held=self.open_sockets)
            return "this server holds as many live sockets as it may; retry later"
        self._held[tenant_id] = held + 1
        self.open_sockets += 1
        return None

    def close(self, tenant_id: uuid.UUID) -> None:
        """Count out a socket `open` counted in."""
        self.open_sockets -= 1
        left = self.held(tenant_id) - 1
        if left > 0:
            self._held[tenant_id] = left
        else:
            self._held.pop(tenant_id, None)


SOCKET_CAPS = web.AppKey("socket_caps", SocketCaps)


class Supersedable(Protocol):
    """A socket a newer one of its user may close (syncd.sockets.owned.OwnedSocket)."""

    opened: int  # when it connected (time.monotonic_ns)
    superseded: bool

    def request_close(self, code: int, message: str) -> None: ...


S = TypeVar("S", bound=Supersedable)


class UserSockets(Generic[S]):
    """Each user's open sockets of one endpoint, oldest first."""

    def __init__(self, reason: str) -> None:
        self.reason = reason  # the 4409 close's, as docs/protocol.md words it
        self._by_user: dict[UserKey, list[S]] = {}

    def add(self, user: UserKey, socket: S, limit: int) -> None:
        """Track a socket; past `limit` open sockets of its user, close the oldest."""
        mine = self._by_user.setdefault(user, [])
        bisect.insort(mine, socket, key=lambda s: s.opened)  # by connection, oldest first
        open_ = [s for s in mine if not s.superseded]
        for old in open_[: max(0, len(open_) - limit)]:
            old.superseded = True
            old.request_close(Close.SUPERSEDED, self.reason)

    def discard(self, user: UserKey, socket: S) -> None:
        mine = self._by_user.get(user, [])
        if socket in mine:
            mine.remove(socket)
        if not mine:
            self._by_user.pop(user, None)

    def of(self, user: UserKey) -> list[S]:
        return list(self._by_user.get(user, []))
