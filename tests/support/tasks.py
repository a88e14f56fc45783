"""Tasks over REST: create one as a user, read a problem answer strictly."""

from __future__ import annotations

from typing import Any

from tests.support.factories import Account


async def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    body: dict[str, Any] = await response.json(content_type=None)
    assert body["code"] == code, body
    return body


async def create(client: Any, who: Account, **fields: Any) -> dict[str, Any]:
    response = await client.post(
        "/tasks", json={"title": "Fix pump", **fields}, headers=who.headers
    )
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body
