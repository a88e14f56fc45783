"""One device's SQLite file: its schema, its owner, transactions, meta values, tokens.

`StoreFile` opens the file (WAL, the `synchronous` level asked for), creates
or checks its schema (syncd_client/records.py) and refuses a file that
belongs to another client id. `_tx` is one `BEGIN IMMEDIATE` transaction;
`meta` holds single values (the cursor, the clock's last stamp, the batch
counter, tokens). `LocalStore` (syncd_client/store.py) builds the outbox and
the replica on it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Self

from protocol.changes import Change
from syncd_client.records import SCHEMA, SCHEMA_VERSION, Synchronous, Tokens


class StoreFile:
    """The SQLite file of one client id."""

    def __init__(self, path: str | Path, client_id: str, *, synchronous: Synchronous) -> None:
        self.path = str(path)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        try:
            self._open(client_id, synchronous)
        except BaseException:
            self._db.close()
            raise
        self.client_id = client_id

    # --- lifecycle ---------------------------------------------------------------

    def _open(self, client_id: str, synchronous: Synchronous) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        with self._tx() as db:
            if self._schema_version() < SCHEMA_VERSION:
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            owner = self._meta("client_id")
            if owner is None:
                self._set_meta("client_id", client_id)
            elif owner != client_id:
                raise ValueError(f"{self.path} belongs to client id {owner!r}, not {client_id!r}")

    def close(self) -> None:
        """Close the file; a transaction left open (none should be) is rolled back."""
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """One write transaction on the file (for the media queue, syncd_client/media.py)."""
        return self._tx()

    def _schema_version(self) -> int:
        version: int = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ValueError(
                f"{self.path} has schema {version}; this client knows {SCHEMA_VERSION}"
            )
        return version

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # --- tokens -------------------------------------------------------------------

    def tokens(self) -> Tokens | None:
        access, refresh = self._meta("access_token"), self._meta("refresh_token")
        if access is None or refresh is None:
            return None
        return Tokens(access, refresh, float(self._meta("access_expires_at") or "0"))

    def save_tokens(self, tokens: Tokens) -> None:
        with self._tx():
            self._set_meta("access_token", tokens.access_token)
            self._set_meta("refresh_token", tokens.refresh_token)
            self._set_meta("access_expires_at", repr(tokens.access_expires_at))


def dump(value: Change | dict[str, Any]) -> str:
    if isinstance(value, Change):
        return value.model_dump_json(exclude_none=True)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def load(text: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(text)
    return value
