"""Opaque cursors over a (sort key, id) keyset, and the bounds of a page.

A cursor is base64url JSON of the last row's sort value and id; clients treat
it as opaque. `limit` is bounded (1..MAX_LIMIT, default DEFAULT_LIMIT). Plain
Python: services make and read cursors; `syncd.web.pagination` reads the
query string.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from syncd.web.problems import ValidationFailed

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
INT_PARSING = "Input should be a valid integer, unable to parse string as an integer"


class InvalidCursor(ValidationFailed):
    code = "invalid_cursor"
    title = "The cursor is not valid"


def encode_cursor(*values: Any) -> str:
    raw = json.dumps([str(v) if not isinstance(v, int | float) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidCursor("the cursor was not made by this server") from None
    if not isinstance(values, list) or len(values) != arity:
        raise InvalidCursor("the cursor was not made by this server")
    return values
