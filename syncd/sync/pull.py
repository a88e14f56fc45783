"""Pull pages: from cursor 0 a compacted snapshot of the rows in scope, entity by
entity, then the change log after the snapshot's version, in version order.

Whole-tenant readers (admins, staff, the shared live feed) read the log as
it stands: on PostgreSQL each change's JSON is written by the database. A
technician's page holds the entries of their tasks, and the entries that
assign or unassign them: an assignment brings the task's rows as they stood
at its version, an unassignment sends `remove` for each of them (deleted
rows too: PROTOCOL.md guarantee 5).
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from storage import log_reads, moved_rows, scoped_reads
from storage import sync_ledger as ledger
from storage import sync_store as store
from syncd.sync.cursor import Cursor
from syncd.sync.errors import InvalidSyncCursor
from syncd.sync.scope import Scope


async def page(
    session: AsyncSession, scope: Scope, cursor: Cursor | None, limit: int
) -> tuple[list[Any], Cursor, bool]:
    """The changes after `cursor` (None: start a snapshot), the next cursor, and
    whether more may follow."""
    if cursor is None:
        cursor = Cursor.start_snapshot(await ledger.current_version(session))
    elif cursor.snapshot and cursor.ahead_of(await ledger.current_version(session)):
        raise InvalidSyncCursor("the cursor was not made by this server")
    if cursor.snapshot:
        return await _snapshot(session, scope, cursor, limit)
    return await _log_page(session, scope, cursor, limit)


async def _snapshot(
    session: AsyncSession, scope: Scope, cursor: Cursor, limit: int
) -> tuple[list[Any], Cursor, bool]:
    changes: list[dict[str, Any]] = []
    order = store.SNAPSHOT_ORDER
    if cursor.entity is not None and cursor.entity not in order:
        raise InvalidSyncCursor("the cursor was not made by this server")
    index = 0 if cursor.entity is None else order.index(cursor.entity)
    last_id = cursor.last_id
    while index < len(order) and len(changes) < limit:
        entity = order[index]
        wanted = limit - len(changes)
        if scope.tasks is None:
            rows = await log_reads.snapshot_page(
                session, entity, cursor.version, last_id, wanted, None
            )
        else:  # by the indexes that lead with the task
            rows = await scoped_reads.snapshot_page(
                session, entity, cursor.version, last_id, wanted, scope.tasks
            )
        changes.extend(pulled(entity, row, "upsert") for row in rows)
        if len(changes) < limit:
            index, last_id = index + 1, None
        else:
            last_id = rows[-1]["id"]
    if index < len(order):
        return changes, Cursor(cursor.version, True, order[index], last_id), True
    latest = await ledger.current_version(session)
    return changes, Cursor.at(cursor.version), latest > cursor.version


async def _log_page(
    session: AsyncSession, scope: Scope, cursor: Cursor, limit: int
) -> tuple[list[Any], Cursor, bool]:
    if scope.tasks is None:
        every, scanned_to, full = await log_reads.read_log_changes(session, cursor.version, limit)
        if not every:
            await _check_reached(session, cursor)
        return every, Cursor.at(scanned_to), full
    # Up to the tenant's version, read with the entries: an entry committed after
    # it has a greater version (versions follow commit order), so it skips nothing.
    # One entry past the page tells whether more of the share follows: a page that
    # holds the rest of it ends at the tenant's version (no empty page after it).
    upto, entries = await scoped_reads.read_share(
        session, cursor.version, scope.tasks, scope.user_id, limit + 1
    )
    if cursor.ahead_of(upto):
        raise InvalidSyncCursor("the cursor was not made by this server")
    full = len(entries) > limit
    if full:
        del entries[limit:]
    changes: list[Any] = []
    rows = await _rows_moving(session, scope, entries)
    me, tasks, add = scope.user_id, scope.tasks, changes.append
    for entry in entries:  # (`scope.sees_task` inlined: a page runs this thousands of times)
        assignee = entry.assignee_id
        if assignee is not None and assignee == me:
            changes.extend(_scoped(scope, entry, rows))
        elif entry.task_id in tasks:  # (None never is: a row of no task)
            add(entry.change)
    return changes, Cursor.at(entries[-1].version if full else upto), full


async def _check_reached(session: AsyncSession, cursor: Cursor) -> None:
    """An empty page: refuse a cursor past the tenant's version (one this server
    did not make), which would otherwise wait for ever for versions to come."""
    if cursor.ahead_of(await ledger.current_version(session)):
        raise InvalidSyncCursor("the cursor was not made by this server")


class Moving:
    """The rows of the tasks a page assigns to the user (live, with their JSON)
    and of those it takes away (deleted ones too)."""

    def __init__(self) -> None:
        self.given: moved_rows.MovedRows = {}
        self.taken: dict[uuid.UUID, list[tuple[str, dict[str, Any]]]] = {}


def _assignment(scope: Scope, entry: scoped_reads.Entry) -> bool | None:
    """For an entry that assigns (True) or unassigns (False) the scope's user, which;
    None for any other entry."""
    assignee = entry.assignee_id
    return entry.active if assignee is not None and assignee == scope.user_id else None


async def _rows_moving(
    session: AsyncSession, scope: Scope, entries: list[scoped_reads.Entry]
) -> Moving:
    """The rows of every task the page assigns to the user (live) or takes away
    (deleted ones too), read once for the page: (assigned, task) -> rows."""
    assert scope.tasks is not None
    given: dict[uuid.UUID, int] = {}  # a task -> its last assignment's version
    taken: set[uuid.UUID] = set()
    for entry in entries:
        if entry.assignee_id is None or entry.task_id is None:
            continue  # (not an assignment: only those move rows)
        active = _assignment(scope, entry)
        if active is True and entry.task_id in scope.tasks:
            given[entry.task_id] = entry.version
        elif active is False and entry.task_id not in scope.tasks:
            taken.add(entry.task_id)
    moving = Moving()
    if given:
        moving.given = await moved_rows.moved_rows_of_tasks(session, given)
    if taken:
        moving.taken = await scoped_reads.rows_of_tasks(session, taken, live_only=False)
    return moving


def _scoped(scope: Scope, entry: scoped_reads.Entry, moving: Moving) -> list[Any]:
    """What a technician receives of one log entry (PROTOCOL.md guarantee 5)."""
    assert scope.tasks is not None
    task_id = entry.task_id
    active = _assignment(scope, entry)
    version = entry.version
    if task_id is None:
        return []  # (a row of no task: the whole tenant's readers only)
    if active is True and task_id in scope.tasks:
        # A row changed after the assignment comes in its own later entry:
        # sending it here too would deliver the same state twice.
        return [upsert_at(row, version) for row in moving.given[task_id] if row.version <= version]
    if active is False and task_id not in scope.tasks:
        # Deleted rows too: one deleted after the unassignment was never sent its
        # `delete` (out of scope by then), and must still go.
        return [removed(entity, row["id"], version) for entity, row in moving.taken[task_id]]
    if scope.sees_task(task_id):
        return [entry.change]
    return []


def pulled(entity: str, row: dict[str, Any], op: str, version: int | None = None) -> dict[str, Any]:
    """A row as a pulled change, at its own version or at `version`."""
    return {
        "version": row["version"] if version is None else version,
        "entity": entity,
        "id": str(row["id"]),
        "op": op,
        "data": store.row_to_json(entity, row),
    }


def upsert_at(row: moved_rows.Moved, version: int) -> Any:
    """A moved row as the pulled change `pulled(entity, row, "upsert", version)`,
    in the same JSON bytes orjson writes of it (its `data` text as it comes)."""
    return orjson.Fragment(
        f'{{"version":{version},"entity":"{row.entity}","id":"{row.id}",'
        f'"op":"upsert","data":{row.data}}}'
    )


def removed(entity: str, row_id: uuid.UUID, version: int) -> dict[str, Any]:
    return {"version": version, "entity": entity, "id": str(row_id), "op": "remove", "data": {}}
