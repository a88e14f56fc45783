"""The fan-out hub: "tenant T reached version V", told to every live session.

The hub carries hints, never the record: a session that hears a version reads
the change log from its own cursor, so a lost message costs only latency
(sessions also re-read on a timer). In one process the hub is in memory; with
REDIS_URL it is Redis pub/sub, so several `syncd serve` processes behave as
one server. Local subscribers hear local publishes at once either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Protocol

import structlog
from redis.asyncio import Redis

log = structlog.get_logger("syncd.hub")

Listener = Callable[[int], None]


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
    and listens on the pattern; it ignores its own messages (already
    delivered locally).
    """

    def __init__(self, redis: Redis, prefix: str) -> None:
        super().__init__()
        self.redis = redis
        self.prefix = prefix + "hub:"
        self.origin = uuid.uuid4().hex[:12]
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def publish(self, tenant_id: uuid.UUID, version: int) -> None:
        self.deliver(tenant_id, version)
        try:
            await self.redis.publish(f"{self.prefix}{tenant_id}", f"{self.origin}:{version}")
        except Exception:  # a hint lost; sessions heal by re-reading the log
            log.warning("hub publish failed", tenant=str(tenant_id), version=version)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[RedisHub]:
        """Own the listener task for the life of the app."""
        self._task = asyncio.create_task(self._listen(), name="syncd-hub-listener")
        try:
            await asyncio.wait_for(self._ready.wait(), timeout=5)
        except TimeoutError:
            log.warning("hub listener not subscribed yet; continuing")
        try:
            yield self
        finally:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen(self) -> None:
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.psubscribe(f"{self.prefix}*")
                    self._ready.set()
                    async for message in pubsub.listen():
                        self._dispatch(message)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("hub listener lost Redis; retrying in 1 s")
                await asyncio.sleep(1)

    def _dispatch(self, message: dict[str, object]) -> None:
        if message.get("type") != "pmessage":
            return
        channel, data = message.get("channel"), message.get("data")
        if not isinstance(channel, bytes | str) or not isinstance(data, bytes | str):
            return
        channel_text = channel.decode() if isinstance(channel, bytes) else channel
        data_text = data.decode() if isinstance(data, bytes) else data
        origin, _, version = data_text.partition(":")
        if origin == self.origin:
            return
        try:
            tenant_id = uuid.UUID(channel_text.removeprefix(self.prefix))
            self.deliver(tenant_id, int(version))
        except ValueError:
            log.warning("hub ignored a malformed message", channel=channel_text)
