"""Retry delays of the client: exponential, capped, fully jittered, seeded."""

from __future__ import annotations

import random

import pytest

from syncd_client.backoff import GaveUp, RetryPolicy
from syncd_client.errors import SyncClientError, TransientError
from syncd_client.session import pause


def test_the_ceiling_doubles_up_to_the_cap_and_every_delay_stays_under_it() -> None:
    backoff = RetryPolicy(base_s=0.5, factor=2, cap_s=5).start(random.Random(1))
    ceilings, delays = [], []
    for _ in range(8):
        ceilings.append(backoff.ceiling())
        delays.append(backoff.next_delay())
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0, 5.0]
    assert all(0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len(set(delays)) == len(delays)  # jittered, not a fixed ladder


def test_the_same_seed_gives_the_same_delays() -> None:
    policy = RetryPolicy()
    first = policy.start(random.Random(7))
    second = policy.start(random.Random(7))
    assert [first.next_delay() for _ in range(5)] == [second.next_delay() for _ in range(5)]


def test_reset_starts_again_from_the_base() -> None:
    backoff = RetryPolicy(base_s=1, cap_s=60).start(random.Random(2))
    for _ in range(4):
        backoff.next_delay()
    assert backoff.ceiling() == 16
    backoff.reset()
    assert backoff.ceiling() == 1


def test_retry_after_is_a_floor() -> None:
    backoff = RetryPolicy(base_s=0.1, cap_s=0.2).start(random.Random(3))
    assert backoff.next_delay(retry_after_s=7) == 7


def test_a_huge_attempt_count_stays_finite() -> None:
    backoff = RetryPolicy(base_s=0.1, cap_s=3).start(random.Random(4))
    backoff.attempt = 10_000
    assert backoff.ceiling() == 3


def test_max_attempts_gives_up() -> None:
    backoff = RetryPolicy(max_attempts=3).start(random.Random(5))
    backoff.next_delay()
    backoff.next_delay()
    with pytest.raises(GaveUp, match="3 attempts") as raised:
        backoff.next_delay()
    assert isinstance(raised.value, SyncClientError)


async def test_pause_sleeps_then_gives_up_with_the_failure_as_cause() -> None:
    backoff = RetryPolicy(base_s=0.001, cap_s=0.001, max_attempts=2).start(random.Random(6))
    failure = TransientError("connection reset")
    assert 0 <= await pause(backoff, failure) <= 0.001
    with pytest.raises(GaveUp) as raised:
        await pause(backoff, failure)
    assert raised.value.__cause__ is failure


@pytest.mark.parametrize(
    "options",
    [{"base_s": 0}, {"factor": 0.5}, {"base_s": 2, "cap_s": 1}, {"max_attempts": 0}],
)
def test_nonsense_policies_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must|need"):
        RetryPolicy(**options)  # type: ignore[arg-type]
