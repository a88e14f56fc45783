"""Hybrid logical clocks: wall time plus a counter plus the node, as sortable text.

A stamp travels as `"<unix ms, 13 digits>:<counter, 4 digits>:<node id>"`, for
example `"1764000000000:0000:dev-a"`. The fixed widths make text order equal
clock order, ties broken by node id. A clock never goes backwards: it takes
the larger of its wall time and every stamp it has seen, and counts up when
the wall time stands still (Kulkarni et al., "Logical Physical Clocks", 2014).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_COUNTER = 9999
MAX_WALL_MS = 9_999_999_999_999
NODE_PATTERN = r"[A-Za-z0-9._\-]{1,64}"
# ASCII digits only, and nothing after the node (not even a newline): a parsed
# stamp is written back as the very text it came as.
_STAMP = re.compile(rf"([0-9]{{13}}):([0-9]{{4}}):({NODE_PATTERN})")
_NODE = re.compile(NODE_PATTERN)


_new = object.__new__
_set = object.__setattr__


class InvalidStamp(ValueError):
    """Text that is not an HLC stamp."""


@dataclass(frozen=True, slots=True, order=True)
class Stamp:
    wall_ms: int
    counter: int
    node: str

    def __post_init__(self) -> None:
        if not 0 <= self.wall_ms <= MAX_WALL_MS:
            raise InvalidStamp(f"wall time {self.wall_ms} out of range")
        if not 0 <= self.counter <= MAX_COUNTER:
            raise InvalidStamp(f"counter {self.counter} out of range")
        if not _NODE.fullmatch(self.node):
            raise InvalidStamp(f"node id {self.node!r} is not 1-64 of [A-Za-z0-9._-]")

    def __str__(self) -> str:
        return f"{self.wall_ms:013d}:{self.counter:04d}:{self.node}"

    @classmethod
    def parse(cls, text: str) -> Stamp:
        match = _STAMP.fullmatch(text)
        if match is None:
            raise InvalidStamp(f"{text!r} is not '<13-digit ms>:<4-digit counter>:<node>'")
        # The pattern already holds every field in range: skip __post_init__'s checks
        # (a push parses each change's stamp twice).
        wall_ms, counter, node = match.groups()
        stamp = _new(cls)
        _set(stamp, "wall_ms", int(wall_ms))
        _set(stamp, "counter", int(counter))
        _set(stamp, "node", node)
        return stamp

    def with_node(self, node: str) -> Stamp:
        return Stamp(self.wall_ms, self.counter, node)


def _successor(wall_ms: int, counter: int, node: str) -> Stamp:
    if counter > MAX_COUNTER:  # the counter overflows into the next millisecond
        if wall_ms == MAX_WALL_MS:
            raise InvalidStamp("no stamp is later than the largest one (year 2286)")
        return Stamp(wall_ms + 1, 0, node)
    return Stamp(wall_ms, counter, node)


class HybridClock:
    """One node's clock. Not thread-safe: own one per event loop or guard it."""

    def __init__(self, node: str, now_ms: Callable[[], int] | None = None) -> None:
        self.node = node
        self._now_ms = now_ms or (lambda: time.time_ns() // 1_000_000)
        self.last = Stamp(0, 0, node)

    def now(self) -> Stamp:
        """A stamp for a local event, later than every stamp seen so far."""
        wall = self._now_ms()
        if wall > self.last.wall_ms:
            self.last = Stamp(wall, 0, self.node)
        else:
            self.last = _successor(self.last.wall_ms, self.last.counter + 1, self.node)
        return self.last

    def observe(self, remote: Stamp) -> Stamp:
        """Merge a received stamp; the result is later than both it and our last."""
        wall = self._now_ms()
        top = max(wall, self.last.wall_ms, remote.wall_ms)
        if top == self.last.wall_ms == remote.wall_ms:
            counter = max(self.last.counter, remote.counter) + 1
        elif top == self.last.wall_ms:
            counter = self.last.counter + 1
        elif top == remote.wall_ms:
            counter = remote.counter + 1
        else:
            counter = 0
        self.last = _successor(top, counter, self.node)
        return self.last


def clamp(stamp: Stamp, server_now_ms: int, max_skew_ms: int) -> tuple[Stamp, bool]:
    """Limit a stamp to `max_skew_ms` ahead of the server's clock.

    A device whose clock runs far ahead would otherwise win every
    last-writer-wins race for as long as its clock stays wrong. The clamped
    stamp keeps its counter and node; the flag says it was clamped.
    """
    ceiling = server_now_ms + max_skew_ms
    if stamp.wall_ms <= ceiling:
        return stamp, False
    return Stamp(ceiling, stamp.counter, stamp.node), True
