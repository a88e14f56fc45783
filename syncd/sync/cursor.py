"""Pull cursors: opaque to clients, two kinds inside.

- snapshot `s`: paging through the compacted state as of version `upto`,
  entity by entity (`entity` index), by id after `last_id`;
- log `c`: every change after `version`, in version order.

`"0"` (or no cursor) starts a snapshot. Encoded as base64url text.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass

from syncd.sync.errors import InvalidSyncCursor

_PREFIX = "v1"


@dataclass(frozen=True, slots=True)
class Cursor:
    version: int = 0
    snapshot: bool = False
    entity: int = 0
    last_id: uuid.UUID | None = None

    @classmethod
    def at(cls, version: int) -> Cursor:
        return cls(version=version)

    @classmethod
    def start_snapshot(cls, upto: int) -> Cursor:
        return cls(version=upto, snapshot=True)

    def encode(self) -> str:
        if self.snapshot:
            raw = f"{_PREFIX}.s.{self.version}.{self.entity}.{self.last_id or '-'}"
        else:
            raw = f"{_PREFIX}.c.{self.version}"
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str | None) -> Cursor | None:
        """None means "start from a snapshot"."""
        if text in (None, "", "0"):
            return None
        assert text is not None
        try:
            raw = base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode()).decode()
            parts = raw.split(".")
            if parts[0] != _PREFIX:
                raise ValueError(raw)
            if parts[1] == "c" and len(parts) == 3:
                return cls.at(_natural(parts[2]))
            if parts[1] == "s" and len(parts) == 5:
                last = None if parts[4] == "-" else uuid.UUID(parts[4])
                return cls(_natural(parts[2]), True, _natural(parts[3]), last)
            raise ValueError(raw)
        except (ValueError, IndexError, binascii.Error, UnicodeDecodeError):
            raise InvalidSyncCursor("the cursor was not made by this server") from None


def _natural(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value
