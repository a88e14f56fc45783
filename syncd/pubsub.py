"""The process's one Redis pub/sub listener, routing each message by its channel.

Channels are `<prefix><topic>:<rest>`: the hub's `hub:<tenant>` commit hints
(syncd.hub) and the Yjs rooms' `yjs:<tenant>:<name>` relay (syncd.yjs). A
user of the listener `route`s a topic to a handler, which gets the rest of the
channel and the payload (bytes) for every message published on it by any
process; handlers run in the listener's task and must not block (they only
deliver to in-memory queues and documents).

One connection subscribes to one pattern per routed topic. When Redis goes
away the listener logs once, waits (1 s, doubling to at most 10 s while it
stays away) and subscribes again to every route on a fresh connection; a
route added while connected is subscribed on the spot. Pub/sub is
at-most-once: what was published while the listener was away is lost, and
its users heal from the database (sessions re-read the change log, editors
resync on reconnect). A handler that raises is logged and the listener goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.asyncio.client import PubSub as RedisPubSub

log = structlog.get_logger("syncd.pubsub")

Handler = Callable[[str, bytes], None]  # (the channel after `<prefix><topic>:`, payload)
RETRY_FIRST_S = 1.0
RETRY_MAX_S = 10.0
READY_TIMEOUT_S = 5.0


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class PubSub:
    """Publish on `<prefix><topic>:<rest>`, and route what every process publishes."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._routes: dict[str, Handler] = {}  # pattern -> handler
        self._connected: RedisPubSub | None = None
        self._ready = asyncio.Event()  # subscribed to every route at least once
        self._routed = asyncio.Event()  # there is a route to listen for
        self._task: asyncio.Task[None] | None = None

    def _pattern(self, topic: str) -> str:
        if ":" in topic or "*" in topic:
            raise ValueError(f"a topic is one word: {topic!r}")
        return f"{self.prefix}{topic}:*"

    async def publish(self, topic: str, rest: str, payload: bytes | str) -> None:
        """Publish to every process (raises redis' errors: the caller decides)."""
        await self.redis.publish(f"{self.prefix}{topic}:{rest}", payload)

    async def route(self, topic: str, handler: Handler) -> Callable[[], None]:
        """Hand every message on `topic` to `handler`; answers the function that stops it."""
        pattern = self._pattern(topic)
        if pattern in self._routes:
            raise RuntimeError(f"the topic {topic!r} is routed already")
        self._routes[pattern] = handler
        self._routed.set()
        if self._connected is not None:
            try:
                await self._connected.psubscribe(pattern)
            except Exception:  # the listener subscribes it again when it reconnects
                log.warning("pub/sub could not subscribe yet", topic=topic)

        def unroute() -> None:
            self._routes.pop(pattern, None)

        return unroute

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[PubSub]:
        """Own the listener task; wait briefly for its first subscription."""
        if self._task is not None:
            raise RuntimeError("the pub/sub listener runs already")
        self._task = asyncio.create_task(self._listen(), name="syncd-pubsub-listener")
        if self._routes:
            try:
                await asyncio.wait_for(self._ready.wait(), READY_TIMEOUT_S)
            except TimeoutError:
                log.warning("pub/sub listener not subscribed yet; continuing")
        try:
            yield self
        finally:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen(self) -> None:
        delay = RETRY_FIRST_S
        await self._routed.wait()
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    self._connected = pubsub
                    await pubsub.psubscribe(*self._routes)
                    self._ready.set()
                    if delay > RETRY_FIRST_S:
                        log.info("pub/sub listener back on Redis")
                    delay = RETRY_FIRST_S
                    async for message in pubsub.listen():
                        self._dispatch(message)
            except asyncio.CancelledError:
                raise
            except Exception:
                if delay == RETRY_FIRST_S:
                    log.warning("pub/sub listener lost Redis; retrying", exc_info=True)
            finally:
                self._connected = None
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)

    def _dispatch(self, message: dict[str, Any]) -> None:
        if message.get("type") != "pmessage":
            return
        pattern, channel, data = message.get("pattern"), message.get("channel"), message.get("data")
        if not (
            isinstance(pattern, bytes | str)
            and isinstance(channel, bytes | str)
            and isinstance(data, bytes | str)
        ):
            return
        handler = self._routes.get(_text(pattern))
        if handler is None:
            return  # unrouted since it was subscribed
        rest = _text(channel).removeprefix(_text(pattern)[:-1])
        payload = data.encode() if isinstance(data, str) else data
        try:
            handler(rest, payload)
        except Exception:
            log.exception("pub/sub handler failed", channel=_text(channel))
