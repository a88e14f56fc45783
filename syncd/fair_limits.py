"""Fair limits per tenant: one tenant's flood never starves another.

- a request budget per tenant, a token bucket (`TENANT_REQUESTS_PER_SECOND`,
  `TENANT_BURST`): every signed-in request (REST, push, pull, a `push` frame
  on /sync/ws) takes a token;
  an empty bucket answers 429 `tenant_rate_limited` with `Retry-After` (the
  seconds until a token is back). The bucket lives in Redis when REDIS_URL
  is set (one Lua script: atomic, on Redis's clock, shared by every
  process), else in the process's memory;
- a cap on one tenant's pushes running at once in a process
  (`TENANT_MAX_CONCURRENT_PUSHES`): one more answers 429 `too_many_pushes`;
  and one on every tenant's together (`PROCESS_MAX_CONCURRENT_PUSHES`): 429
  `server_busy`. Both hold for HTTP pushes and `push` frames on /sync/ws
  (there the refusal is the `push_result`'s problem);
- a cap on one tenant's sockets in a process, /sync/ws and /sync/yjs
  together (`TENANT_MAX_LIVE_SOCKETS`), and one on every tenant's together
  (`PROCESS_MAX_LIVE_SOCKETS`), checked once the socket has authenticated:
  one more is closed with 4429. The count is the WebSocket kit's
  (syncd/sockets/caps.py, under `SOCKET_CAPS`); `limits_context` builds it.

When Redis cannot be reached the budget lets requests through (a warning
line each: `tenant budget unavailable`): a Redis outage must not stop the
API. Public routes (login, health, signed blob URLs) are not counted: they have
their own limits. The middleware runs after the policy middleware, which
has named the caller's tenant.

`LIMITS` (the app's `TenantLimits`) is declared here, beside its owner, so
that syncd.appkeys need not name this module (which reads the app's keys).
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Protocol

import structlog
from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from syncd import appkeys
from syncd.i18n import Msg
from syncd.sockets.caps import SOCKET_CAPS, SocketCaps
from syncd.web.keys import PRINCIPAL
from syncd.web.problems import TooManyRequests

log = structlog.get_logger("syncd.limits")
PUSH_PATHS = frozenset({"/sync/push", "/sync/tasks"})
MAX_TRACKED = 100_000


class TenantRateLimited(TooManyRequests):
    code = "tenant_rate_limited"
    title = "The tenant's request budget is spent"


class TooManyPushes(TooManyRequests):
    code = "too_many_pushes"
    title = "Too many pushes of the tenant at once"


class ServerBusy(TooManyRequests):
    code = "server_busy"
    title = "The server runs as many pushes as it may"


class Bucket(Protocol):
    async def take(self, tenant_id: uuid.UUID) -> float:
        """Take one token: 0 if taken, else the seconds until one is back."""
        ...


class MemoryBucket:
    """Token buckets in this process's memory."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate, self.burst, self._now = rate, burst, clock
        self._state: dict[uuid.UUID, tuple[float, float]] = {}

    async def take(self, tenant_id: uuid.UUID) -> float:
        now = self._now()
        tokens, at = self._state.get(tenant_id, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate
        self._state[tenant_id] = (tokens, now)
        if len(self._state) > MAX_TRACKED:  # bound memory: forget full buckets
            full = now - self.burst / self.rate
            self._state = {k: v for k, v in self._state.items() if v[1] > full}
        return wait


# KEYS[1] the bucket; ARGV rate, burst. Answers {taken (1/0), seconds to wait (text)}.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local taken, wait = 0, 0
if tokens >= 1 then
  tokens = tokens - 1
  taken = 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {taken, tostring(wait)}
"""


class RedisBucket:
    """Token buckets in Redis, shared by every process (`<prefix>tb:<tenant>`)."""

    def __init__(self, redis: Redis, rate: float, burst: int, prefix: str) -> None:
        self.rate, self.burst, self.prefix = rate, burst, prefix
        self._script = redis.register_script(_TAKE)

    async def take(self, tenant_id: uuid.UUID) -> float:
        key = f"{self.prefix}tb:{tenant_id}"
        taken, wait = await self._script(keys=[key], args=[self.rate, self.burst])
        return 0.0 if int(taken) else float(wait)


class TenantLimits:
    """The budget and the push caps of every tenant, and of the process."""

    def __init__(
        self, bucket: Bucket | None, max_pushes: int, process_max_pushes: int = 1_000_000
    ) -> None:
        self.bucket = bucket
        self.max_pushes = max_pushes
        self.process_max_pushes = process_max_pushes
        self._pushes: dict[uuid.UUID, int] = {}
        self.pushes_running = 0  # every tenant's, in this process

    async def spend(self, tenant_id: uuid.UUID) -> None:
        """Take one request from the tenant's budget, or raise TenantRateLimited."""
        if self.bucket is None:
            return
        try:
            wait = await self.bucket.take(tenant_id)
        except (RedisError, OSError, TimeoutError) as exc:  # open, not shut: say so
            log.warning("tenant budget unavailable", tenant_id=str(tenant_id), error=repr(exc))
            return
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            log.info("tenant rate limited", tenant_id=str(tenant_id), retry_after=seconds)
            raise TenantRateLimited(
                Msg(
                    "the tenant has spent its request budget; retry in {seconds} s",
                    seconds=seconds,
                ),
                headers={"Retry-After": str(seconds)},
                extra={"retry_after": seconds},
            )

    @asynccontextmanager
    async def pushing(self, tenant_id: uuid.UUID) -> AsyncIterator[None]:
        """Hold one of the tenant's push slots, or raise TooManyPushes."""
        running = self._pushes.get(tenant_id, 0)
        if running >= self.max_pushes:
            log.info("tenant push refused", tenant_id=str(tenant_id), running=running)
            raise TooManyPushes(
                Msg(
                    "the tenant has {running} pushes running; retry in a second",
                    running=running,
                ),
                headers={"Retry-After": "1"},
                extra={"retry_after": 1},
            )
        if self.pushes_running >= self.process_max_pushes:
            log.warning("process push refused", running=self.pushes_running)
            raise ServerBusy(
                Msg(
                    "the server runs {running} pushes; retry in a second",
                    running=self.pushes_running,
                ),
                headers={"Retry-After": "1"},
                extra={"retry_after": 1},
            )
        self._pushes[tenant_id] = running + 1
        self.pushes_running += 1
        try:
            yield
        finally:
            self.pushes_running -= 1
            left = self._pushes[tenant_id] - 1
            if left:
                self._pushes[tenant_id] = left
            else:
                del self._pushes[tenant_id]


LIMITS = web.AppKey("limits", TenantLimits)


@web.middleware
async def fair_limits(
    request: web.Request, handler: Callable[[web.Request], object]
) -> web.StreamResponse:
    who = request.get(PRINCIPAL)
    limits = request.app.get(LIMITS)
    if who is None or limits is None:
        response: web.StreamResponse = await handler(request)  # type: ignore[misc]
        return response
    await limits.spend(who.tenant_id)
    if request.method == "POST" and request.path in PUSH_PATHS:
        async with limits.pushing(who.tenant_id):
            pushed: web.StreamResponse = await handler(request)  # type: ignore[misc]
            return pushed
    answered: web.StreamResponse = await handler(request)  # type: ignore[misc]
    return answered


async def limits_context(app: web.Application) -> AsyncIterator[None]:
    """The tenants' limits and the socket caps for the life of the app (after
    Redis is open, if set)."""
    settings = app[appkeys.SETTINGS]
    bucket: Bucket | None = None
    if settings.tenant_requests_per_s > 0:
        if appkeys.REDIS in app:
            bucket = RedisBucket(
                app[appkeys.REDIS],
                settings.tenant_requests_per_s,
                settings.tenant_burst,
                settings.redis_prefix,
            )
        else:
            bucket = MemoryBucket(settings.tenant_requests_per_s, settings.tenant_burst)
    app[LIMITS] = TenantLimits(
        bucket, settings.tenant_max_concurrent_pushes, settings.process_max_concurrent_pushes
    )
    app[SOCKET_CAPS] = SocketCaps(
        settings.tenant_max_live_sockets, settings.process_max_live_sockets
    )
    yield
