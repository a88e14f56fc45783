"""A device's durable state: one SQLite file, one transaction per step.

What lives here, and why it survives a kill at any point:

- `rows`: the replica, the rows pulled from the server, each with the
  version at which the device saw it (the next edit's `base_version`);
- `meta`: the pull cursor, the clock's last stamp, the batch counter, tokens;
- `outbox`: local changes not yet answered, in the order they were made;
- `acknowledged`: answered changes with their results, kept until the
  callbacks have taken them and, for applied ones, until a pull has
  brought their effect back (so the local view never flips back in between);
  for ever with `keep_history`.

Each step is one transaction, so a process killed between two steps finds
the state of the last step that committed:

- `enqueue`: stamp the change (the clock's new stamp is saved with it) and
  add it to the outbox;
- `next_batch`: give the oldest changes a batch id and save it *before* the
  send, so a resend after a crash reuses the id and the server answers it
  from its idempotency record. A batch in flight is always answered first;
- `complete_batch`: move the batch's changes from the outbox to
  `acknowledged` with their results;
- `apply_page`: write a pulled page's rows and its cursor together.

The file itself (its schema, owner, transactions, meta values and tokens)
is `StoreFile` (syncd_client/store_file.py). The store is synchronous
(stdlib sqlite3) and not thread-safe: one event loop owns it. Tokens sit in
the file in clear text; a real device should keep them in its platform's
key store.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from protocol.changes import Change, ChangeResult, PulledChange
from protocol.hlc import HybridClock, Stamp
from protocol.merge import Outcome
from syncd_client.errors import ProtocolViolation
from syncd_client.records import NOTIFY, Acknowledged, PendingBatch, Synchronous, Tokens
from syncd_client.store_file import StoreFile, dump, load

__all__ = ["Acknowledged", "LocalStore", "PendingBatch", "Tokens"]


class LocalStore(StoreFile):
    """The SQLite file of one device (one client id)."""

    def __init__(
        self,
        path: str | Path,
        client_id: str,
        *,
        keep_history: bool = False,
        synchronous: Synchronous = "FULL",
        now_ms: Callable[[], int] | None = None,
    ) -> None:
        self.keep_history = keep_history
        super().__init__(path, client_id, synchronous=synchronous)
        self.clock = HybridClock(client_id, now_ms)
        saved = self._meta("hlc")
        if saved is not None:  # never go backwards across restarts
            self.clock.last = Stamp.parse(saved).with_node(client_id)

    # --- local changes -----------------------------------------------------------

    def enqueue(
        self, entity: str, row_id: uuid.UUID, build: Callable[[str, int], Change]
    ) -> Change:
        """Stamp a change and queue it, in one transaction.

        `build(hlc, base_version)` makes the change from the clock's next stamp
        and the version at which this device saw the row (0 if it never did).
        """
        with self._tx() as db:
            base = self._version_of(entity, row_id)
            stamp = self.clock.now()
            change = build(str(stamp), base)
            self._set_meta("hlc", str(stamp))
            db.execute(
                "INSERT INTO outbox (entity, row_id, change, queued_at) VALUES (?, ?, ?, ?)",
                (entity, str(row_id), dump(change), time.time()),
            )
        return change

    def _version_of(self, entity: str, row_id: uuid.UUID) -> int:
        row = self._db.execute(
            "SELECT version FROM rows WHERE entity = ? AND id = ?", (entity, str(row_id))
        ).fetchone()
        return 0 if row is None else int(row[0])

    def next_batch(self, limit: int) -> PendingBatch | None:
        """The batch to send: the one in flight, else the oldest `limit` changes
        under a new id saved now. None when the outbox is empty."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT seq, change, batch_id FROM outbox WHERE batch_id = "
                "(SELECT batch_id FROM outbox WHERE batch_id IS NOT NULL ORDER BY seq LIMIT 1) "
                "ORDER BY seq"
            ).fetchall()
            if rows:
                return _batch(rows[0][2], rows)
            rows = db.execute(
                "SELECT seq, change FROM outbox ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
            if not rows:
                return None
            number = int(self._meta("next_batch") or "1")
            batch_id = f"{self.client_id}-{number:08d}"[-100:]
            self._set_meta("next_batch", str(number + 1))
            db.executemany(
                "UPDATE outbox SET batch_id = ? WHERE seq = ?", [(batch_id, r[0]) for r in rows]
            )
            return _batch(batch_id, rows)

    def release_batch(self, batch_id: str) -> None:
        """Forget a batch id the server refused as a whole (it recorded nothing),
        so its changes can go out again in smaller batches under new ids."""
        with self._tx() as db:
            db.execute("UPDATE outbox SET batch_id = NULL WHERE batch_id = ?", (batch_id,))

    def complete_batch(
        self, batch_id: str, results: Sequence[ChangeResult], cursor: str
    ) -> list[Acknowledged]:
        """Record the server's answer to a batch: its changes leave the outbox.

        A second answer to a completed batch (a duplicate frame) changes
        nothing and answers [].
        """
        now = time.time()
        with self._tx() as db:
            rows = db.execute(
                "SELECT seq, change, entity, row_id FROM outbox WHERE batch_id = ? ORDER BY seq",
                (batch_id,),
            ).fetchall()
            if not rows:
                return []
            if len(rows) != len(results):
                raise ProtocolViolation(
                    f"batch {batch_id}: {len(rows)} changes sent, {len(results)} results"
                )
            acks = [
                Acknowledged(seq, batch_id, index, json.loads(change), result, cursor, False)
                for index, ((seq, change, _, _), result) in enumerate(
                    zip(rows, results, strict=True)
                )
            ]
            db.executemany(
                "INSERT INTO acknowledged (seq, batch_id, position, entity, row_id, change, "
                "result, status, version, cursor, acked_at, delivered, echoed) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        a.seq,
                        batch_id,
                        a.position,
                        entity,
                        row_id,
                        dump(a.change),
                        a.result.model_dump_json(exclude_none=True),
                        a.status.value,
                        a.result.version,
                        cursor,
                        now,
                        0 if a.status in NOTIFY else 1,
                        int(self._echoed(entity, row_id, a.result)),
                    )
                    for a, (_, _, entity, row_id) in zip(acks, rows, strict=True)
                ],
            )
            db.execute("DELETE FROM outbox WHERE batch_id = ?", (batch_id,))
            self._prune()
        return acks

    def _echoed(self, entity: str, row_id: str, result: ChangeResult) -> bool:
        """Whether the replica already shows this answer's effect (or it has none to show)."""
        if result.status is not Outcome.APPLIED or result.version is None:
            return True
        return self._version_of(entity, uuid.UUID(row_id)) >= result.version

    def _echo(self, entity: str, row_id: str, version: int) -> None:
        self._db.execute(
            "UPDATE acknowledged SET echoed = 1 WHERE entity = ? AND row_id = ? AND version <= ?",
            (entity, row_id, version),
        )

    def _prune(self) -> None:
        if not self.keep_history:
            self._db.execute("DELETE FROM acknowledged WHERE delivered = 1 AND echoed = 1")

    # --- the replica -------------------------------------------------------------

    def apply_page(self, changes: Iterable[PulledChange], cursor: str) -> int:
        """Apply pulled changes and store their cursor together; answers how many."""
        count = 0
        with self._tx() as db:
            for change in changes:
                count += 1
                key = (change.entity, str(change.id))
                version = max(change.version, int(change.data.get("version") or 0))
                self._echo(*key, version)
                task_id = change.data.get("task_id")
                if change.entity == "task_event" and task_id:
                    # An action's last effect is its timeline event: once that is
                    # here, so is the task row the action changed (version order).
                    self._echo("task", str(task_id), change.version)
                if change.op == "upsert":
                    db.execute(
                        "INSERT INTO rows (entity, id, version, data) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (entity, id) DO UPDATE SET version = excluded.version, "
                        "data = excluded.data",
                        (*key, version, dump(change.data)),
                    )
                else:  # delete (a tombstone) or remove (left this device's scope)
                    db.execute("DELETE FROM rows WHERE entity = ? AND id = ?", key)
            self._set_meta("cursor", cursor)
            self._prune()
        return count

    @property
    def cursor(self) -> str | None:
        return self._meta("cursor")

    def row(self, entity: str, row_id: uuid.UUID | str) -> dict[str, Any] | None:
        """The row as last pulled (without local changes), or None."""
        found = self._db.execute(
            "SELECT data FROM rows WHERE entity = ? AND id = ?", (entity, str(row_id))
        ).fetchone()
        return None if found is None else load(found[0])

    def rows(self, entity: str | None = None) -> dict[tuple[str, str], dict[str, Any]]:
        """Every replica row (of one entity), keyed by (entity, id)."""
        query = "SELECT entity, id, data FROM rows"
        found = (
            self._db.execute(query + " WHERE entity = ?", (entity,))
            if entity
            else self._db.execute(query)
        )
        return {(e, i): load(data) for e, i, data in found}

    # --- the outbox and answered changes -----------------------------------------

    def pending(
        self, entity: str | None = None, row_id: uuid.UUID | str | None = None
    ) -> list[dict[str, Any]]:
        """Queued changes, oldest first (of one row when both are given)."""
        if entity is not None and row_id is not None:
            found = self._db.execute(
                "SELECT change FROM outbox WHERE entity = ? AND row_id = ? ORDER BY seq",
                (entity, str(row_id)),
            )
        else:
            found = self._db.execute("SELECT change FROM outbox ORDER BY seq")
        return [load(change) for (change,) in found]

    def outbox_size(self) -> int:
        count: int = self._db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        return count

    def in_flight(self) -> str | None:
        """The id of the batch saved for sending and not yet answered."""
        found = self._db.execute(
            "SELECT batch_id FROM outbox WHERE batch_id IS NOT NULL ORDER BY seq LIMIT 1"
        ).fetchone()
        return None if found is None else str(found[0])

    def unechoed(self, entity: str, row_id: uuid.UUID | str | None = None) -> list[dict[str, Any]]:
        """Applied changes whose effect no pull has brought back yet, oldest first."""
        query = (
            "SELECT change FROM acknowledged WHERE echoed = 0 AND entity = ? "
            "AND (row_id = ? OR ? IS NULL) ORDER BY seq"
        )
        key = None if row_id is None else str(row_id)
        return [load(change) for (change,) in self._db.execute(query, (entity, key, key))]

    def undelivered(self) -> list[Acknowledged]:
        """Conflict, superseded and rejected answers no callback has taken yet."""
        return self._acknowledged(undelivered_only=True)

    def history(self) -> list[Acknowledged]:
        """Every answered change kept (all of them with `keep_history`)."""
        return self._acknowledged(undelivered_only=False)

    def _acknowledged(self, *, undelivered_only: bool) -> list[Acknowledged]:
        found = self._db.execute(
            "SELECT seq, batch_id, position, change, result, cursor, delivered "
            "FROM acknowledged WHERE delivered = 0 OR NOT ? ORDER BY seq",
            (undelivered_only,),
        )
        return [
            Acknowledged(
                seq,
                batch_id,
                position,
                load(change),
                ChangeResult.model_validate_json(result),
                cursor,
                bool(delivered),
            )
            for seq, batch_id, position, change, result, cursor, delivered in found
        ]

    def mark_delivered(self, seqs: Iterable[int]) -> None:
        with self._tx() as db:
            db.executemany(
                "UPDATE acknowledged SET delivered = 1 WHERE seq = ?", [(s,) for s in seqs]
            )
            self._prune()


def _batch(batch_id: str, rows: Sequence[Sequence[Any]]) -> PendingBatch:
    return PendingBatch(batch_id, tuple(int(r[0]) for r in rows), tuple(load(r[1]) for r in rows))
