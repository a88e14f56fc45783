"""Pull cursors: opaque to clients, two kinds inside.

- snapshot `s`: paging through the compacted state as of version `upto`,
  entity by entity (named), by id after `last_id`;
- log `c`: every change after `version`, in version order.

`"0"` (or no cursor) starts a snapshot. Encoded as base64url text:
`v1.c.<version>` and `v2.s.<version>.<entity>.<last id or ->`. Snapshot
cursors made before entities were named (`v1.s.<version>.<index>.<last>`)
still decode: their index is read against the entity order of that time.
Every number must fit in signed 64 bits; whether a version is one the
tenant has reached is checked where the tenant's version is known
(`ahead_of`).
"""

from __future__ import annotations

import base64
import binascii
import functools
import uuid
from dataclasses import dataclass

from syncd.sync.errors import InvalidSyncCursor

_LOG_PREFIX = "v1"
_SNAPSHOT_PREFIX = "v2"
MAX_VERSION = 2**63 - 1
# The entity order v1 snapshot cursors counted in (never change it).
V1_SNAPSHOT_ENTITIES = (
    "task",
    "task_assignment",
    "task_event",
    "purchase",
    "receipt",
    "media_asset",
)
_MAX_TEXT = 200  # longer than any cursor this server makes


@dataclass(frozen=True, slots=True)
class Cursor:
    version: int = 0
    snapshot: bool = False
    entity: str | None = None  # snapshot: the entity being paged (None: the first)
    last_id: uuid.UUID | None = None

    @classmethod
    def at(cls, version: int) -> Cursor:
        return cls(version=version)

    @classmethod
    def start_snapshot(cls, upto: int) -> Cursor:
        return cls(version=upto, snapshot=True)

    def encode(self) -> str:
        if self.snapshot:
            raw = f"{_SNAPSHOT_PREFIX}.s.{self.version}.{self.entity or '-'}.{self.last_id or '-'}"
        else:
            raw = f"{_LOG_PREFIX}.c.{self.version}"
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    def ahead_of(self, tenant_version: int) -> bool:
        """Whether the cursor names a version the tenant has not reached (forged)."""
        return self.version > tenant_version

    @classmethod
    def decode(cls, text: str | None) -> Cursor | None:
        """None means "start from a snapshot"."""
        if text in (None, "", "0"):
            return None
        assert text is not None
        try:
            if len(text) > _MAX_TEXT:
                raise ValueError(text)
            raw = base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode()).decode()
            parts = raw.split(".")
            if parts[0] == _LOG_PREFIX and parts[1] == "c" and len(parts) == 3:
                return cls.at(_natural(parts[2]))
            if parts[1] == "s" and len(parts) == 5 and parts[0] in (_LOG_PREFIX, _SNAPSHOT_PREFIX):
                last = None if parts[4] == "-" else uuid.UUID(parts[4])
                return cls(_natural(parts[2]), True, _entity(parts[0], parts[3]), last)
            raise ValueError(raw)
        except (ValueError, IndexError, binascii.Error, UnicodeDecodeError):
            raise InvalidSyncCursor("the cursor was not made by this server") from None


@functools.lru_cache(maxsize=256)
def version_of(text: str | None) -> int:
    """The version a cursor stands at (0: from the start). Cached: the live feed
    asks each of its followers on every page, and hands them all one cursor."""
    cursor = Cursor.decode(text)
    return 0 if cursor is None else cursor.version


def _natural(text: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        raise ValueError(text)
    value = int(text)
    if value > MAX_VERSION:
        raise ValueError(text)
    return value


def _entity(prefix: str, text: str) -> str | None:
    if prefix == _LOG_PREFIX:  # v1: a position in the order of that time
        index = _natural(text)
        if index >= len(V1_SNAPSHOT_ENTITIES):
            raise ValueError(text)
        return V1_SNAPSHOT_ENTITIES[index]
    if text == "-":
        return None
    if not text.replace("_", "").isalpha() or not text.islower():
        raise ValueError(text)
    return text
