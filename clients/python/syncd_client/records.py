"""What the client's store keeps, as values: its SQLite schema, a batch saved
for sending, an answered change, a token pair."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from protocol import versions
from protocol.changes import ChangeResult
from protocol.merge import Outcome

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rows (
    entity TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (entity, id)
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    entity TEXT NOT NULL,
    row_id TEXT NOT NULL,
    change TEXT NOT NULL,
    batch_id TEXT,
    queued_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_batch ON outbox (batch_id);
CREATE INDEX IF NOT EXISTS outbox_row ON outbox (entity, row_id);
CREATE TABLE IF NOT EXISTS acknowledged (
    seq INTEGER PRIMARY KEY,
    batch_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    entity TEXT NOT NULL,
    row_id TEXT NOT NULL,
    change TEXT NOT NULL,
    result TEXT NOT NULL,
    status TEXT NOT NULL,
    version INTEGER,
    cursor TEXT NOT NULL,
    acked_at REAL NOT NULL,
    delivered INTEGER NOT NULL,
    echoed INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS acknowledged_row ON acknowledged (entity, row_id);
"""
NOTIFY = frozenset({Outcome.CONFLICT, Outcome.SUPERSEDED, Outcome.REJECTED})
Synchronous = Literal["FULL", "NORMAL"]


@dataclass(frozen=True, slots=True)
class PendingBatch:
    """Changes sent together under one batch id (saved before the first send)."""

    batch_id: str
    seqs: tuple[int, ...]
    changes: tuple[dict[str, Any], ...]

    def body(self, client_id: str) -> dict[str, Any]:
        return {
            "client_id": client_id,
            "batch_id": self.batch_id,
            "changes": list(self.changes),
            "schema": versions.CURRENT,  # the client is built on this server's protocol/
        }

    def __len__(self) -> int:
        return len(self.changes)


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """One answered change: what was sent and what the server said."""

    seq: int
    batch_id: str
    position: int
    change: dict[str, Any]
    result: ChangeResult
    cursor: str
    delivered: bool

    @property
    def status(self) -> Outcome:
        return self.result.status


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str
    refresh_token: str
    access_expires_at: float
