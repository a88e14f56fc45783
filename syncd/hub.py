"""The fan-out hub: "tenant T reached version V", told to every live session.

The hub carries hints, never the record: a session that hears a version reads
the change log from its own cursor, so a lost message costs only latency
(sessions also re-read on a timer). In one process the hub is in memory; with
REDIS_URL it is Redis pub/sub (syncd.pubsub), so several `syncd serve` processes behave as
one server. Local subscribers hear local publishes at once either way.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Protocol

import structlog
from redis.asyncio import Redis

from syncd.pubsub import PubSub

log = structlog.get_logger("syncd.hub")

Listener = Callable[[int], None]
TOPIC = "hub"


class Hub(Protocol):
    async def publish(self, tenant_id: uuid.UUID, version: int) -> None: ...

    def subscribe(self, tenant_id: uuid.UUID, listener: Listener) -> Callable[[], None]:
        """Call `listener(version)` for each publish; answers the unsubscribe function."""
        ...


class InProcessHub:
    def __init__(self) -> None:
        self._listeners: dict[uuid.UUID, set[Listener]] = {}

    def subscribe(self, tenant_id: uuid.UUID, listener: Listener) -> Callable[[], None]:
        self._listeners.setdefault(tenant_id, set()).add(listener)

        def unsubscribe() -> None:
            listeners = self._listeners.get(tenant_id)
            if listeners is not None:
                listeners.discard(listener)
                if not listeners:
                    del self._listeners[tenant_id]

        return unsubscribe

    def deliver(self, tenant_id: uuid.UUID, version: int) -> None:
        for listener in list(self._listeners.get(tenant_id, ())):
            listener(version)

    async def publish(self, tenant_id: uuid.UUID, version: int) -> None:
        self.deliver(tenant_id, version)

    @property
    def subscriptions(self) -> int:
        return sum(len(listeners) for listeners in self._listeners.values())


class RedisHub(InProcessHub):
    """In-process delivery plus Redis pub/sub between processes.

    Each process publishes `"<origin>:<version>"` on `<prefix>hub:<tenant>`
    through the process's one pub/sub listener (syncd.pubsub, which the hub
    owns and the Yjs rooms share) and ignores its own messages (already
    delivered locally).
    """

    def __init__(self, redis: Redis, prefix: str) -> None:
        super().__init__()
        self.pubsub = PubSub(redis, prefix)
        self.origin = uuid.uuid4().hex[:12]

    async def publish(self, tenant_id: uuid.UUID, version: int) -> None:
        self.deliver(tenant_id, version)
        try:
            await self.pubsub.publish(TOPIC, str(tenant_id), f"{self.origin}:{version}")
        except Exception:  # a hint lost; sessions heal by re-reading the log
            log.warning("hub publish failed", tenant=str(tenant_id), version=version)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[RedisHub]:
        """Own the process's pub/sub listener for the life of the app."""
        unroute = await self.pubsub.route(TOPIC, self._receive)
        try:
            async with self.pubsub.running():
                yield self
        finally:
            unroute()

    def _receive(self, tenant: str, data: bytes) -> None:
        origin, _, version = data.partition(b":")
        if origin.decode(errors="replace") == self.origin:
            return
        try:
            self.deliver(uuid.UUID(tenant), int(version))
        except ValueError:
            log.warning("hub ignored a malformed message", tenant=tenant)
