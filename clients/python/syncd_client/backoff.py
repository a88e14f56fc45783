"""Retry delays: exponential back-off with full jitter.

Attempt n waits a uniform random time in [0, min(cap, base * factor**n)]
("full jitter", as in the AWS Architecture Blog's "Exponential Backoff And
Jitter"), so a fleet of devices that lost the server together does not come
back together. A server's `Retry-After` is a floor. The random source is
injectable, so a seeded simulation replays the same delays.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, field

from syncd_client.errors import SyncClientError, TransientError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a client waits between attempts; `max_attempts=None` retries for ever."""

    base_s: float = 0.25
    factor: float = 2.0
    cap_s: float = 20.0
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if self.base_s <= 0 or self.factor < 1 or self.cap_s < self.base_s:
            raise ValueError("need base_s > 0, factor >= 1 and cap_s >= base_s")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def start(self, rng: random.Random | None = None) -> Backoff:
        return Backoff(self, rng or random.Random())  # noqa: S311 - jitter, not secrets


@dataclass(slots=True)
class Backoff:
    """The delays of one operation's attempts; `reset()` after a success."""

    policy: RetryPolicy
    rng: random.Random
    attempt: int = field(default=0)

    def ceiling(self) -> float:
        """The longest wait of the next attempt (before jitter)."""
        exponent = min(self.attempt, 64)  # keep the power finite
        return min(self.policy.cap_s, self.policy.base_s * self.policy.factor**exponent)

    def next_delay(self, retry_after_s: float | None = None) -> float:
        """The wait before the next attempt; raises GaveUp past `max_attempts`."""
        limit = self.policy.max_attempts
        if limit is not None and self.attempt + 1 >= limit:
            raise GaveUp(self.attempt + 1)
        delay = self.rng.uniform(0, self.ceiling())
        self.attempt += 1
        return max(delay, retry_after_s or 0.0)

    async def sleep(self, retry_after_s: float | None = None) -> float:
        delay = self.next_delay(retry_after_s)
        await asyncio.sleep(delay)
        return delay

    def reset(self) -> None:
        self.attempt = 0


class GaveUp(SyncClientError):
    """`max_attempts` attempts failed."""

    def __init__(self, attempts: int) -> None:
        super().__init__(f"gave up after {attempts} attempts")
        self.attempts = attempts


async def pause_unless_stopped(
    backoff: Backoff, failure: TransientError, stop: asyncio.Event
) -> None:
    """Wait the next delay after `failure`, or less if `stop` is set meanwhile;
    raises GaveUp (from the failure) when the policy gives up."""
    try:
        delay = backoff.next_delay(failure.retry_after_s)
    except GaveUp as gave_up:
        raise gave_up from failure
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), delay)
