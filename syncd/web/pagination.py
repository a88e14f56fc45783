"""Cursor pagination as a list route reads and answers it: `cursor` and `limit` from the
query string, the `{"items", "next_cursor"}` answer, the query's document model.

The cursors themselves (made and read by services) are `syncd.web.cursors`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from syncd.web.cursors import DEFAULT_LIMIT, MAX_LIMIT
from syncd.web.query import query_int


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
