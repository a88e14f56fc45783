"""Fixed-window counters for throttling (login): in memory, or in Redis.

Both adapters answer the same two questions: how many hits a key has in its
current window, and how long until that window ends.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis


class Limiter(Protocol):
    async def count(self, key: str) -> tuple[int, int]:
        """(hits in the current window, seconds until it ends)."""
        ...

    async def hit(self, key: str) -> None: ...

    async def reset(self, key: str) -> None: ...


class MemoryLimiter:
    def __init__(self, window_s: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self._now = clock
        self._windows: dict[str, tuple[float, int]] = {}

    async def count(self, key: str) -> tuple[int, int]:
        started, hits = self._windows.get(key, (0.0, 0))
        remaining = started + self.window_s - self._now()
        if remaining <= 0:
            return 0, 0
        return hits, max(1, math.ceil(remaining))

    async def hit(self, key: str) -> None:
        now = self._now()
        started, hits = self._windows.get(key, (now, 0))
        if started + self.window_s <= now:
            started, hits = now, 0
        self._windows[key] = (started, hits + 1)
        if len(self._windows) > 100_000:  # bound memory: drop finished windows
            self._windows = {k: v for k, v in self._windows.items() if v[0] + self.window_s > now}

    async def reset(self, key: str) -> None:
        self._windows.pop(key, None)


class RedisLimiter:
    def __init__(self, redis: Redis, window_s: int, prefix: str) -> None:
        self.redis = redis
        self.window_s = window_s
        self.prefix = prefix

    async def count(self, key: str) -> tuple[int, int]:
        name = self.prefix + key
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(name)
            pipe.ttl(name)
            value, ttl = await pipe.execute()
        if value is None:
            return 0, 0
        return int(value), max(1, int(ttl))

    async def hit(self, key: str) -> None:
        name = self.prefix + key
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, self.window_s, nx=True)
            await pipe.execute()

    async def reset(self, key: str) -> None:
        await self.redis.delete(self.prefix + key)
