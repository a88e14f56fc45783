"""Helpers for sync tests: stamps, change builders, push/pull over HTTP, a replica."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from protocol.hlc import HybridClock
from tests.support.factories import Account

_counter = itertools.count()
BASE_MS = 1_764_000_000_000


_clock = HybridClock("tests")


def hlc(node: str, ms: int | None = None) -> str:
    """A stamp for tests: at `ms` if given, else near 'now' and later than every
    stamp made so in this process (a hybrid clock's, so that many stamps within
    one millisecond still go up)."""
    if ms is not None:
        return f"{ms:013d}:{next(_counter) % 10_000:04d}:{node}"
    return str(_clock.now().with_node(node))


def upsert(
    entity: str, row_id: uuid.UUID, node: str, base: int = 0, **fields: Any
) -> dict[str, Any]:
    return {
        "entity": entity,
        "id": str(row_id),
        "op": "upsert",
        "fields": fields,
        "hlc": hlc(node),
        "base_version": base,
    }


def action(task_id: uuid.UUID, name: str, node: str, base: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "entity": "task",
        "id": str(task_id),
        "op": "action",
        "action": name,
        "hlc": hlc(node),
        "base_version": base,
        **extra,
    }


async def push(
    client: Any,
    account: Account,
    client_id: str,
    changes: list[dict[str, Any]],
    batch_id: str | None = None,
    status: int = 200,
    schema: int | None = None,
) -> dict[str, Any]:
    body = {"client_id": client_id, "batch_id": batch_id or uuid.uuid4().hex, "changes": changes}
    if schema is not None:
        body["schema"] = schema
    response = await client.post("/sync/push", json=body, headers=account.headers)
    assert response.status == status, await response.text()
    body: dict[str, Any] = await response.json(content_type=None)
    return body


async def pull_all(
    client: Any,
    account: Account,
    since: str | None = None,
    limit: int = 500,
    client_id: str | None = None,
    schema: int | None = None,
) -> tuple[list[dict[str, Any]], str]:
    changes: list[dict[str, Any]] = []
    cursor = since
    while True:
        params = {"limit": str(limit)}
        if schema is not None:
            params["schema"] = str(schema)
        if cursor is not None:
            params["since"] = cursor
        if client_id is not None:
            params["client_id"] = client_id
        response = await client.get("/sync/pull", params=params, headers=account.headers)
        assert response.status == 200, await response.text()
        page = await response.json()
        changes.extend(page["changes"])
        cursor = page["cursor"]
        if not page["has_more"]:
            return changes, cursor


class Replica:
    """A device's local copy: applies pulled changes the way a client must."""

    def __init__(self, schema: int | None = None) -> None:
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}
        self.cursor: str | None = None
        self.versions: list[int] = []
        self.schema = schema  # the app schema it pulls in (None: sends none, the oldest)

    def apply(self, changes: list[dict[str, Any]]) -> None:
        for change in changes:
            key = (change["entity"], change["id"])
            self.versions.append(change["version"])
            if change["op"] == "upsert":
                self.rows[key] = change["data"]
            else:
                self.rows.pop(key, None)

    async def sync(self, client: Any, account: Account, limit: int = 500) -> None:
        changes, self.cursor = await pull_all(
            client, account, self.cursor, limit, schema=self.schema
        )
        self.apply(changes)
