"""Cursor pagination: opaque cursors over a (sort key, id) keyset.

A cursor is base64url JSON of the last row's sort value and id; clients treat
it as opaque. `limit` is bounded (1..MAX_LIMIT, default DEFAULT_LIMIT).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from syncd.web.problems import ValidationFailed
from syncd.web.query import query_int

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


def page_params(request: web.Request) -> tuple[str | None, int]:
    """(cursor or None, limit) from the query string, validated."""
    limit = query_int(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    return request.query.get("cursor") or None, limit


def page(items: Sequence[dict[str, Any]], limit: int, next_cursor: str | None) -> dict[str, Any]:
    """The standard list answer: `{"items": [...], "next_cursor": str | null}`."""
    return {"items": list(items), "next_cursor": next_cursor}


class PageQuery(BaseModel):
    """Cursor pagination of a list: the query string, for the document."""

    model_config = ConfigDict(extra="ignore")

    cursor: str | None = Field(None, description="`next_cursor` of the previous page")
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="items per page")
