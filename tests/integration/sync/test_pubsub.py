"""The process's one pub/sub listener (syncd/pubsub.py) on real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from syncd.pubsub import PubSub

Heard = asyncio.Queue[tuple[str, bytes]]


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    name = f"pubsub-test-{uuid.uuid4().hex[:8]}"
    client = Redis.from_url(redis_url, client_name=name, socket_connect_timeout=2)
    yield client
    await client.aclose()


def hearing(queue: Heard):  # type: ignore[no-untyped-def]
    return lambda rest, payload: queue.put_nowait((rest, payload))


async def test_messages_are_routed_by_topic(redis: Redis, redis_prefix: str) -> None:
    hub, yjs = Heard(), Heard()
    pubsub = PubSub(redis, redis_prefix)
    await pubsub.route("hub", hearing(hub))
    async with pubsub.running():
        late = await pubsub.route("yjs", hearing(yjs))  # routed while listening
        await pubsub.publish("hub", "t1", "a:1")
        await pubsub.publish("other", "t1", "nobody listens")
        await pubsub.publish("yjs", "t1:task:x:notes", b"b:u\x00\x01")
        assert await asyncio.wait_for(hub.get(), 5) == ("t1", b"a:1")
        assert await asyncio.wait_for(yjs.get(), 5) == ("t1:task:x:notes", b"b:u\x00\x01")
        late()
        await pubsub.publish("yjs", "t1:gone", b"x")
        await pubsub.publish("hub", "t2", "a:2")
        assert await asyncio.wait_for(hub.get(), 5) == ("t2", b"a:2")
        assert yjs.empty()  # unrouted: the message after it reached no one
    with pytest.raises(ValueError, match="one word"):
        await pubsub.route("yjs:x", hearing(yjs))


async def test_a_failing_handler_does_not_stop_the_listener(
    redis: Redis, redis_prefix: str
) -> None:
    heard = Heard()

    def fussy(rest: str, payload: bytes) -> None:
        if payload == b"bad":
            raise ValueError("malformed")
        heard.put_nowait((rest, payload))

    pubsub = PubSub(redis, redis_prefix)
    await pubsub.route("hub", fussy)
    async with pubsub.running():
        await pubsub.publish("hub", "t", b"bad")
        await pubsub.publish("hub", "t", b"good")
        assert await asyncio.wait_for(heard.get(), 5) == ("t", b"good")


async def test_the_listener_subscribes_again_after_losing_redis(
    redis: Redis, redis_prefix: str
) -> None:
    heard = Heard()
    pubsub = PubSub(redis, redis_prefix)
    await pubsub.route("hub", hearing(heard))
    async with pubsub.running():
        name = (await redis.client_getname()) or ""
        listeners = [c for c in await redis.client_list(_type="pubsub") if c["name"] == name]
        assert len(listeners) == 1
        await redis.client_kill_filter(_id=listeners[0]["id"])
        got = None
        for attempt in range(100):  # until the listener is back: each try waits 0.2 s
            await pubsub.publish("hub", "t", f"{attempt}")
            try:
                got = await asyncio.wait_for(heard.get(), 0.2)
                break
            except TimeoutError:
                continue
        assert got is not None
        assert got[0] == "t"
