"""The sync service: the one write path for synced data, and the pull stream.

push: one tenant-bound transaction per batch. It answers a resent batch with
its first answer; binds the client id to its user; locks the tenant's version
counter for the length of the transaction, so versions are assigned in commit
order (PROTOCOL.md guarantee 3); loads every row the batch touches in one
query per entity; merges change by change with protocol rules; writes rows,
change-log entries and conflicts in bulk; stores the answer; commits; and only
then tells the hub. A bad change is answered `rejected` with a problem and
never fails the rest of the batch.

pull: from cursor 0 a compacted snapshot of the rows in scope, page by page,
then the change log after the snapshot's version, in version order.
Technicians see only their assigned tasks and what hangs off them; an
assignment brings the task's rows, an unassignment sends `remove`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import structlog
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol import bounds
from protocol.changes import Change, Op, PushRequest
from protocol.entities import ENTITIES, EntitySpec, FieldErrors, Geo
from protocol.hlc import HybridClock, Stamp, clamp
from protocol.lifecycle import InvalidTransition, TaskAction, TaskStatus, next_status, settle
from protocol.merge import MergeResult, Outcome, RowState, Write, merge_delete, merge_upsert
from protocol.roles import Role
from storage import sync_ledger as ledger
from storage import sync_store as store
from storage.models import Conflict as ConflictRow
from storage.models import SyncRejection, TaskAssignment, User
from storage.types import utcnow
from storage.unit_of_work import TenantUnitOfWork
from storage.ydoc_store import DocumentTooLarge
from syncd.auth.principal import Principal
from syncd.sync.cursor import Cursor
from syncd.sync.errors import BatchTooLarge, ClientIdTaken, InvalidSyncCursor
from syncd.sync.outcomes import ChangeOutcome

log = structlog.get_logger("syncd.sync")

SERVER_NODE = "server"
ACTION_EVENT = {
    TaskAction.ASSIGN: "assigned",
    TaskAction.UNASSIGN: "unassigned",
    TaskAction.START: "started",
    TaskAction.PAUSE: "paused",
    TaskAction.RESUME: "resumed",
    TaskAction.COMPLETE: "completed",
    TaskAction.REJECT: "rejected",
    TaskAction.REOPEN: "reopened",
}
# The timeline entry a new row of these entities adds to its task.
CREATION_EVENT = {
    "task": "created",
    "purchase": "purchase_added",
    "receipt": "receipt_added",
}
TECHNICIAN_ACTIONS = frozenset(
    {TaskAction.START, TaskAction.PAUSE, TaskAction.RESUME, TaskAction.COMPLETE, TaskAction.REJECT}
)
DOMAIN_COLUMNS_SKIP = frozenset(
    {"id", "version", "field_clocks", "deleted_at", "created_at", "updated_at", "tenant_id"}
)


class Rejected(Exception):
    """One change refused; the batch goes on."""

    def __init__(
        self, code: str, detail: str, errors: list[dict[str, str]] | None = None, status: int = 422
    ) -> None:
        super().__init__(detail)
        self.code, self.detail, self.errors, self.status = code, detail, errors, status

    def problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"urn:syncd:problem:{self.code}",
            "title": self.code.replace("_", " ").capitalize(),
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if self.errors:
            body["errors"] = self.errors
        return body


@dataclass
class Batch:
    """The working state of one push: rows as they change, writes to flush."""

    who: Principal
    client_id: str
    version: int
    rows: dict[tuple[str, uuid.UUID], dict[str, Any] | None] = field(default_factory=dict)
    dirty: dict[tuple[str, uuid.UUID], dict[str, Any]] = field(default_factory=dict)
    log: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[ConflictRow] = field(default_factory=list)
    assigned: set[uuid.UUID] | None = None
    counts: dict[str, int] = field(default_factory=dict)
    ydoc_updates: list[tuple[str, bytes]] = field(default_factory=list)
    now: datetime = field(default_factory=utcnow)  # one server time for the whole batch

    def next_version(self) -> int:
        self.version += 1
        return self.version


@dataclass(frozen=True, slots=True)
class Applied:
    """What `SyncService.apply` did with one change: its result and the row after it."""

    result: ChangeOutcome
    row: dict[str, Any] | None


class YDocWriter(Protocol):
    """Where `ydoc` changes go (the Yjs document store and its live rooms)."""

    async def append(self, session: AsyncSession, name: str, update: bytes) -> None:
        """Persist one update inside the push's transaction (raise ValueError if invalid)."""
        ...

    async def notify(self, tenant_id: uuid.UUID, name: str, update: bytes) -> None:
        """After commit: hand the update to live editors of the document."""
        ...


def ydoc_name(entity: str, row_id: uuid.UUID, field_name: str) -> str:
    """The document of a collaborative text field, e.g. `task:<uuid>:notes`."""
    return f"{entity}:{row_id}:{field_name}"


YDOC_FIELDS: dict[str, frozenset[str]] = {"task": frozenset({"notes"})}


class SyncService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        max_batch: int,
        max_skew_ms: int = 300_000,
        publish: Callable[[uuid.UUID, int], Any] | None = None,
        now_ms: Callable[[], int] | None = None,
        ydocs: YDocWriter | None = None,
    ) -> None:
        self.sessions = sessions
        self.ydocs = ydocs
        self.max_batch = max_batch
        self.max_skew_ms = max_skew_ms
        self.publish = publish
        self._now_ms = now_ms or (lambda: time.time_ns() // 1_000_000)
        self.server_clock = HybridClock(SERVER_NODE)

    # --- push --------------------------------------------------------------------

    async def push(
        self,
        who: Principal,
        request: PushRequest,
        user_agent: str | None = None,
        only_entity: str | None = None,
    ) -> dict[str, Any]:
        """Apply one batch; `only_entity` restricts it (POST /sync/tasks)."""
        if len(request.changes) > self.max_batch:
            raise BatchTooLarge(
                f"{len(request.changes)} changes; at most {self.max_batch} per batch"
            )
        async with TenantUnitOfWork(self.sessions, who.tenant_id) as uow:
            response, batch = await self._push_in(
                uow.session, who, request, user_agent, only_entity
            )
            await uow.commit()
        if self.publish is not None and batch is not None and batch.log:
            await self.publish(who.tenant_id, batch.version)
        if self.ydocs is not None and batch is not None:
            for name, update in batch.ydoc_updates:
                await self.ydocs.notify(who.tenant_id, name, update)
        return response

    async def apply(
        self,
        who: Principal,
        change: Change,
        *,
        client_id: str,
        check: Callable[[AsyncSession, dict[str, Any] | None], Awaitable[None]] | None = None,
    ) -> Applied:
        """Apply one change made on the server by a person (a REST write).

        The same path as a device's push, in its own transaction under the
        version lock. `check(session, current)` sees the row as it stands (JSON,
        or None) before anything is written and may raise to refuse the write (a
        stale `If-Match`, an invalid transition): nothing is then written. The change
        is stamped by the server's clock, later than every stamp on the row, and
        based on the row's current version: the person saw the latest state, so
        the write wins and opens no conflict.
        """
        async with TenantUnitOfWork(self.sessions, who.tenant_id) as uow:
            session = uow.session
            batch = Batch(who, client_id, await ledger.lock_version(session))
            await self._preload(session, batch, [change])
            current = batch.rows.get((change.entity, change.id))
            if check is not None:
                await check(
                    session, None if current is None else store.row_to_json(change.entity, current)
                )
            clocks = (current or {}).get("field_clocks") or {}
            latest = max(
                (Stamp.parse(c["hlc"]) for c in clocks.values() if isinstance(c, dict)),
                default=Stamp(0, 0, SERVER_NODE),
            )
            stamped = change.model_copy(
                update={
                    "hlc": str(self.server_clock.observe(latest).with_node(client_id)),
                    "base_version": (current or {}).get("version", 0),
                }
            )
            result = await self._apply_one(session, batch, stamped)
            if result.status is not Outcome.REJECTED:
                await self._flush(session, batch)
                await uow.commit()
        if self.publish is not None and batch.log and result.status is not Outcome.REJECTED:
            await self.publish(who.tenant_id, batch.version)
        if self.ydocs is not None:
            for name, update in batch.ydoc_updates:
                await self.ydocs.notify(who.tenant_id, name, update)
        row = batch.rows.get((change.entity, change.id))
        return Applied(result, None if row is None else store.row_to_json(change.entity, row))

    async def _push_in(
        self,
        session: AsyncSession,
        who: Principal,
        request: PushRequest,
        user_agent: str | None,
        only_entity: str | None,
        keep_rejections: bool = True,
    ) -> tuple[dict[str, Any], Batch | None]:
        # The version lock comes first: it serialises this tenant's pushes, so two
        # sends of one batch, or two first pushes of one client id, cannot race.
        version = await ledger.lock_version(session)
        prior = await ledger.find_batch(session, request.client_id, request.batch_id)
        if prior is not None:
            if prior.user_id != who.user_id:
                raise ClientIdTaken(f"client id {request.client_id!r} belongs to another user")
            return dict(prior.response), None
        try:
            seen_at = await ledger.bind_device(session, request.client_id, who.user_id, user_agent)
        except ledger.ClientBound:
            raise ClientIdTaken(
                f"client id {request.client_id!r} belongs to another user"
            ) from None
        batch = Batch(who, request.client_id, version)
        changes = [self._parse(raw, only_entity) for raw in request.changes]
        await self._preload(session, batch, [c for c in changes if isinstance(c, Change)])
        results = [
            await self._apply_one(session, batch, change) if isinstance(change, Change) else change
            for change in changes
        ]
        await self._flush(session, batch)
        response = {
            "results": [r.as_json() for r in results],
            "cursor": Cursor.at(batch.version).encode(),
        }
        await ledger.save_batch(session, request.client_id, request.batch_id, who.user_id, response)
        for raw, result in zip(request.changes, results, strict=True):
            if keep_rejections and result.status is Outcome.REJECTED:
                session.add(
                    SyncRejection(
                        client_id=request.client_id,
                        batch_id=request.batch_id,
                        user_id=who.user_id,
                        change=_storable(raw),
                        problem=result.problem or {},
                    )
                )
        await ledger.note_push(session, request.client_id, seen_at, _count(results))
        return response, batch

    def _parse(self, raw: Any, only_entity: str | None) -> Change | ChangeOutcome:
        if not isinstance(raw, dict):
            rejection = Rejected(
                "validation_failed",
                "a change is a JSON object",
                [{"field": "change", "code": "dict_type", "message": "not a JSON object"}],
            )
            return ChangeOutcome(id="", status=Outcome.REJECTED, problem=rejection.problem())
        if only_entity is not None and raw.get("entity") != only_entity:
            rejection = Rejected(
                "wrong_entity", f"this endpoint takes {only_entity} changes only", status=422
            )
            return ChangeOutcome(
                id=_id_of(raw), status=Outcome.REJECTED, problem=rejection.problem()
            )
        try:
            bounds.check(raw)
        except bounds.BoundsError as exc:
            rejection = Rejected(
                "validation_failed",
                f"the change is outside the server's limits: {exc.message}",
                [{"field": exc.path or "change", "code": exc.code, "message": exc.message}],
            )
            return ChangeOutcome(
                id=_id_of(raw), status=Outcome.REJECTED, problem=rejection.problem()
            )
        try:
            return Change.model_validate(raw)
        except ValidationError as exc:
            errors = [
                {
                    "field": ".".join(str(p) for p in e["loc"]) or "change",
                    "code": e["type"],
                    "message": e["msg"],
                }
                for e in exc.errors(include_url=False, include_input=False)
            ]
            rejection = Rejected("validation_failed", "the change did not validate", errors)
            return ChangeOutcome(
                id=_id_of(raw), status=Outcome.REJECTED, problem=rejection.problem()
            )

    async def _preload(self, session: AsyncSession, batch: Batch, changes: list[Change]) -> None:
        wanted: dict[str, set[uuid.UUID]] = {}
        for change in changes:
            if change.entity not in ENTITIES:
                continue
            wanted.setdefault(change.entity, set()).add(change.id)
            for ref, entity in (("task_id", "task"), ("purchase_id", "purchase")):
                value = change.fields.get(ref)
                if isinstance(value, str):
                    with contextlib.suppress(ValueError):
                        wanted.setdefault(entity, set()).add(uuid.UUID(value))
        for entity, ids in wanted.items():
            found = await store.load_rows(session, entity, ids)
            for row_id in ids:
                batch.rows[(entity, row_id)] = found.get(row_id)
        # A receipt may leave out its task: it is its purchase's, loaded just now.
        tasks_of_purchases = {
            row["task_id"]
            for (entity, _), row in batch.rows.items()
            if entity == "purchase" and row is not None and row.get("task_id") is not None
        } - {row_id for (entity, row_id) in batch.rows if entity == "task"}
        if tasks_of_purchases:
            found = await store.load_rows(session, "task", tasks_of_purchases)
            for row_id in tasks_of_purchases:
                batch.rows[("task", row_id)] = found.get(row_id)
        if batch.who.role is Role.TECHNICIAN:
            batch.assigned = await store.assigned_task_ids(session, batch.who.user_id)

    async def _apply_one(
        self, session: AsyncSession, batch: Batch, change: Change
    ) -> ChangeOutcome:
        try:
            if change.base_version > batch.version:
                raise Rejected(
                    "validation_failed",
                    f"base_version {change.base_version} is ahead of the tenant's version",
                    [
                        {
                            "field": "base_version",
                            "code": "ahead_of_tenant",
                            "message": "a version this tenant has not reached",
                        }
                    ],
                )
            spec = ENTITIES.get(change.entity)
            if spec is None:
                raise Rejected(
                    "unknown_entity",
                    f"no entity {change.entity!r}; known: " + ", ".join(sorted(ENTITIES)),
                )
            if change.op is Op.YDOC:
                return await self._ydoc(session, batch, spec, change)
            if change.op is Op.ACTION:
                return await self._action(session, batch, spec, change)
            if not spec.device_writable:
                raise Rejected(
                    "not_writable", f"{spec.name} rows are not written by devices", status=403
                )
            if change.op is Op.DELETE:
                return self._delete(batch, spec, change)
            return self._upsert(batch, spec, change)
        except Rejected as rejection:
            return ChangeOutcome(
                id=str(change.id), status=Outcome.REJECTED, problem=rejection.problem()
            )

    # --- upsert and delete --------------------------------------------------------

    def _stamp(self, change: Change, name: str | None = None) -> Stamp:
        stamp = change.stamp_of(name) if name else Stamp.parse(change.hlc)
        clamped, was_clamped = clamp(stamp, self._now_ms(), self.max_skew_ms)
        if was_clamped:
            log.warning(
                "hlc stamp clamped",
                entity=change.entity,
                id=str(change.id),
                sent=str(stamp),
                kept=str(clamped),
            )
        return clamped

    def _task_of(
        self, batch: Batch, spec: EntitySpec, row_id: uuid.UUID, values: dict[str, Any]
    ) -> uuid.UUID | None:
        if spec.task_field == "id":
            return row_id
        if spec.task_field is None:
            return None
        value = values.get(spec.task_field)
        return uuid.UUID(str(value)) if value else None

    def _authorise_row(
        self, batch: Batch, spec: EntitySpec, task_id: uuid.UUID | None, creating: bool
    ) -> None:
        if batch.who.role is not Role.TECHNICIAN:
            return
        if spec.name == "task" and creating:
            raise Rejected("forbidden", "technicians do not create tasks", status=403)
        if task_id is None or batch.assigned is None or task_id not in batch.assigned:
            raise Rejected("forbidden", "the task is not assigned to you", status=403)

    def _check_references(self, batch: Batch, values: dict[str, Any]) -> None:
        for ref, entity in (("task_id", "task"), ("purchase_id", "purchase")):
            value = values.get(ref)
            if value is None:
                continue
            row = batch.rows.get((entity, uuid.UUID(str(value))))
            if row is None or row.get("deleted_at") is not None:
                raise Rejected(
                    "unknown_reference",
                    f"{ref} {value} names no live {entity}",
                    errors=[
                        {"field": ref, "code": "unknown_reference", "message": f"no such {entity}"}
                    ],
                )

    def _upsert(self, batch: Batch, spec: EntitySpec, change: Change) -> ChangeOutcome:
        key = (spec.name, change.id)
        current = batch.rows.get(key)
        creating = current is None
        try:
            clean = spec.validate(change.fields, creating=creating)
        except FieldErrors as exc:
            raise Rejected("validation_failed", str(exc), exc.errors) from None
        if spec.name == "receipt":
            clean = self._tie_to_purchase(batch, clean, current)
        merged_values = {**(current or {}), **clean}
        task_id = self._task_of(batch, spec, change.id, merged_values)
        # A reference to no live row is named as such, for every role (a technician
        # learns nothing new: the tenant's ids are theirs to name).
        self._check_references(batch, clean)
        self._authorise_row(batch, spec, task_id, creating)
        if spec.append_only and current is not None:
            return self._answer(batch, spec, change.id, Outcome.SUPERSEDED)
        state = None if current is None else _state_of(spec.name, current)
        whole = self._stamp(change)
        own = change.field_hlc or {}
        write = Write(
            batch.client_id,
            change.base_version,
            {
                name: (value, self._stamp(change, name) if name in own else whole)
                for name, value in clean.items()
            },
        )
        version = batch.version + 1
        result = merge_upsert(state, write, version, spec.guarded)
        return self._record(batch, spec, change, result, task_id)

    def _tie_to_purchase(
        self, batch: Batch, clean: dict[str, Any], current: dict[str, Any] | None
    ) -> dict[str, Any]:
        """A receipt belongs to its purchase's task (filled in when left out) and
        is in its purchase's currency."""
        ref = clean.get("purchase_id")
        purchase = batch.rows.get(("purchase", uuid.UUID(str(ref)))) if ref else None
        if purchase is None:  # no purchase named here, or an unknown one (reported later)
            return clean
        task_id = purchase.get("task_id")
        if current is None and clean.get("task_id") is None and task_id is not None:
            clean = {**clean, "task_id": str(task_id)}
        errors = []
        if clean.get("task_id") is not None and str(clean["task_id"]) != str(task_id):
            errors.append(
                {"field": "task_id", "code": "task_mismatch", "message": "not the purchase's task"}
            )
        currency = clean.get("currency", (current or {}).get("currency"))
        if currency is not None and currency != purchase.get("currency"):
            errors.append(
                {
                    "field": "currency",
                    "code": "currency_mismatch",
                    "message": f"the purchase is in {purchase.get('currency')}",
                }
            )
        if errors:
            raise Rejected("validation_failed", "the receipt does not match its purchase", errors)
        return clean

    def _delete(self, batch: Batch, spec: EntitySpec, change: Change) -> ChangeOutcome:
        current = batch.rows.get((spec.name, change.id))
        if current is None:
            raise Rejected("not_found", f"no {spec.name} {change.id}", status=404)
        if spec.append_only:
            raise Rejected("append_only", f"{spec.name} entries are never deleted", status=409)
        task_id = self._task_of(batch, spec, change.id, current)
        if batch.who.role is Role.TECHNICIAN and spec.name == "task":
            raise Rejected("forbidden", "technicians do not delete tasks", status=403)
        self._authorise_row(batch, spec, task_id, creating=False)
        state = _state_of(spec.name, current)
        result = merge_delete(
            state, self._stamp(change), batch.client_id, change.base_version, batch.version + 1
        )
        return self._record(batch, spec, change, result, task_id)

    def _record(
        self,
        batch: Batch,
        spec: EntitySpec,
        change: Change,
        result: MergeResult,
        task_id: uuid.UUID | None,
    ) -> ChangeOutcome:
        key = (spec.name, change.id)
        current = batch.rows.get(key)
        conflict_id = None
        if result.changed:
            visible = result.state.deleted is None or "_deleted" in result.applied
            version = batch.next_version() if visible else batch.version
            row = self._row_from_state(batch, spec, change.id, current, result.state, version)
            batch.rows[key] = row
            batch.dirty[key] = row
            if visible:
                op = "delete" if result.state.deleted is not None else "upsert"
                self._log(batch, spec.name, change.id, op, row, task_id, str(change.hlc))
            if current is None and task_id is not None and spec.name in CREATION_EVENT:
                self._event(
                    batch,
                    change,
                    CREATION_EVENT[spec.name],
                    refused=False,
                    payload=_creation_payload(spec.name, change.id, row),
                    task_id=task_id,
                )
        if result.conflicts or result.delete_conflict:
            conflict_id = self._conflict(batch, spec, change, current, result)
        outcome = result.outcome
        return self._answer(
            batch, spec, change.id, outcome, conflict_id=conflict_id, applied=result.changed
        )

    def _row_from_state(
        self,
        batch: Batch,
        spec: EntitySpec,
        row_id: uuid.UUID,
        current: dict[str, Any] | None,
        state: RowState,
        version: int,
    ) -> dict[str, Any]:
        now = batch.now
        row = dict(current) if current is not None else store.new_row(spec.name, now)
        row.update(store.json_to_row(spec.name, dict(state.values)))
        row.update(id=row_id, version=version, field_clocks=state.clocks_json(), updated_at=now)
        if current is None:
            row.update(created_at=now, created_by=batch.who.user_id)
            if spec.name == "task_event":
                row.update(actor_id=batch.who.user_id, client_id=batch.client_id, server_time=now)
        if state.deleted is not None:
            row["deleted_at"] = row.get("deleted_at") or now
        return row

    def _log(
        self,
        batch: Batch,
        entity: str,
        row_id: uuid.UUID,
        op: str,
        row: dict[str, Any],
        task_id: uuid.UUID | None,
        hlc: str | None,
    ) -> None:
        batch.log.append(
            {
                "version": row["version"],
                "entity": entity,
                "entity_id": row_id,
                "op": op,
                "data": store.row_to_json(entity, row),
                "task_id": task_id,
                "hlc": hlc,
                "client_id": batch.client_id,
                "user_id": batch.who.user_id,
            }
        )

    def _conflict(
        self,
        batch: Batch,
        spec: EntitySpec,
        change: Change,
        current: dict[str, Any] | None,
        result: MergeResult,
    ) -> uuid.UUID:
        conflict_id = uuid.uuid4()
        server_clock = result.conflicts[0].server_clock if result.conflicts else None
        deleted = (current or {}).get("field_clocks", {}).get("_deleted")
        batch.conflicts.append(
            ConflictRow(
                id=conflict_id,
                entity=spec.name,
                entity_id=change.id,
                kind="delete_update" if result.delete_conflict else "concurrent_edit",
                fields=[c.field for c in result.conflicts] or ["_deleted"],
                server={c.field: c.server_value for c in result.conflicts},
                client={c.field: c.client_value for c in result.conflicts}
                if result.conflicts
                else {"op": change.op.value, "fields": change.fields},
                base_version=change.base_version,
                server_version=server_clock.version if server_clock else (deleted or {}).get("v"),
                client_id=batch.client_id,
                user_id=batch.who.user_id,
                server_client_id=server_clock.client_id
                if server_clock
                else (deleted or {}).get("by"),
            )
        )
        return conflict_id

    def _answer(
        self,
        batch: Batch,
        spec: EntitySpec,
        row_id: uuid.UUID,
        outcome: Outcome,
        conflict_id: uuid.UUID | None = None,
        applied: bool = False,
    ) -> ChangeOutcome:
        row = batch.rows.get((spec.name, row_id))
        current = None
        if outcome in (Outcome.SUPERSEDED, Outcome.CONFLICT) and row is not None:
            current = store.row_to_json(spec.name, row)
        version = row["version"] if (row is not None and applied) else None
        return ChangeOutcome(
            id=str(row_id),
            status=outcome,
            version=version,
            conflict_id=conflict_id,
            current=current,
        )

    # --- collaborative text ----------------------------------------------------------

    async def _ydoc(
        self, session: AsyncSession, batch: Batch, spec: EntitySpec, change: Change
    ) -> ChangeOutcome:
        """A Yjs update made offline: merged by the CRDT, never in conflict."""
        if self.ydocs is None:
            raise Rejected("unsupported_op", "collaborative text is not enabled", status=501)
        field_name = str(change.fields.get("field", ""))
        if field_name not in YDOC_FIELDS.get(spec.name, frozenset()):
            raise Rejected(
                "validation_failed",
                f"{spec.name} has no collaborative field {field_name!r}",
                [
                    {
                        "field": "fields.field",
                        "code": "unknown_field",
                        "message": "one of: " + ", ".join(sorted(YDOC_FIELDS.get(spec.name, ()))),
                    }
                ],
            )
        row = batch.rows.get((spec.name, change.id))
        if row is None or row.get("deleted_at") is not None:
            raise Rejected("not_found", f"no {spec.name} {change.id}", status=404)
        self._authorise_row(batch, spec, change.id if spec.name == "task" else None, False)
        try:
            update = base64.b64decode(change.update or "", validate=True)
        except ValueError:
            raise Rejected(
                "validation_failed",
                "update is not base64",
                [{"field": "update", "code": "base64", "message": "not base64"}],
            ) from None
        name = ydoc_name(spec.name, change.id, field_name)
        try:
            await self.ydocs.append(session, name, update)
        except DocumentTooLarge as exc:
            raise Rejected("document_too_large", str(exc), status=413) from None
        except ValueError as exc:
            raise Rejected(
                "validation_failed",
                f"not a Yjs update: {exc}",
                [{"field": "update", "code": "yjs_update", "message": str(exc)}],
            ) from None
        batch.ydoc_updates.append((name, update))
        return ChangeOutcome(id=str(change.id), status=Outcome.APPLIED)

    # --- lifecycle actions ----------------------------------------------------------

    async def _action(
        self, session: AsyncSession, batch: Batch, spec: EntitySpec, change: Change
    ) -> ChangeOutcome:
        if spec.name != "task":
            raise Rejected("unsupported_op", "actions apply to tasks only")
        try:
            action = TaskAction(change.action or "")
        except ValueError:
            raise Rejected(
                "unknown_action",
                f"no action {change.action!r}; known: " + ", ".join(a.value for a in TaskAction),
            ) from None
        task = batch.rows.get(("task", change.id))
        if task is None or task.get("deleted_at") is not None:
            raise Rejected("not_found", f"no task {change.id}", status=404)
        role = batch.who.role
        if role is Role.TECHNICIAN:
            if action not in TECHNICIAN_ACTIONS:
                raise Rejected("forbidden", f"technicians cannot {action.value}", status=403)
            self._authorise_row(batch, spec, change.id, creating=False)
        if action is TaskAction.REOPEN and role is not Role.ADMIN:
            raise Rejected("forbidden", "only admins reopen tasks", status=403)
        if action is TaskAction.REJECT and not change.reason:
            raise Rejected(
                "validation_failed",
                "reject needs a reason",
                [{"field": "reason", "code": "missing", "message": "required"}],
            )
        assignee = await self._assignee(session, change, action)
        status = TaskStatus(task["status"])
        try:
            target = next_status(status, action)
        except InvalidTransition as exc:
            if _saw_status(task, change, batch.client_id):
                # The device knew the status and asked for what it does not allow:
                # its own mistake, not a race another device won.
                raise Rejected(
                    "invalid_transition",
                    str(exc),
                    [{"field": "action", "code": "invalid_transition", "message": str(exc)}],
                    status=409,
                ) from None
            return self._refuse(batch, change, task, action, exc)
        if action in (TaskAction.UNASSIGN, TaskAction.REOPEN):
            # A task at rest is `assigned` while a technician holds it, else `open`.
            leaving = assignee if action is TaskAction.UNASSIGN else None
            target = settle(target, await self._others_assigned(session, batch, change.id, leaving))
        stamp = self._stamp(change)
        clocks = dict(task["field_clocks"])
        status_clock = clocks.get("status")
        if status_clock is None or str(stamp) > status_clock["hlc"]:
            clocks["status"] = {"hlc": str(stamp), "v": 0, "by": batch.client_id}
        version = batch.next_version()
        clocks["status"]["v"] = version
        row = {**task, "status": target.value, "field_clocks": clocks, "version": version}
        row["updated_at"] = batch.now
        batch.rows[("task", change.id)] = row
        batch.dirty[("task", change.id)] = row
        self._log(batch, "task", change.id, "upsert", row, change.id, change.hlc)
        if assignee is not None:
            await self._set_assignment(
                session, batch, change, assignee, active=action is TaskAction.ASSIGN
            )
        self._event(
            batch,
            change,
            ACTION_EVENT[action],
            refused=False,
            payload={
                "action": action.value,
                "from": status.value,
                "to": target.value,
                **({"reason": change.reason} if change.reason else {}),
                **({"user_id": str(assignee)} if assignee else {}),
            },
        )
        return ChangeOutcome(id=str(change.id), status=Outcome.APPLIED, version=batch.version)

    async def _assignee(
        self, session: AsyncSession, change: Change, action: TaskAction
    ) -> uuid.UUID | None:
        if action not in (TaskAction.ASSIGN, TaskAction.UNASSIGN):
            return None
        raw = change.fields.get("user_id")
        try:
            user_id = uuid.UUID(str(raw))
        except ValueError:
            raise Rejected(
                "validation_failed",
                f"{action.value} needs fields.user_id",
                [
                    {
                        "field": "fields.user_id",
                        "code": "missing",
                        "message": "a technician's user id",
                    }
                ],
            ) from None
        user = await session.get(User, (session.info["tenant_id"], user_id))
        if action is TaskAction.ASSIGN and (
            user is None or user.role != Role.TECHNICIAN.value or user.status != "active"
        ):
            raise Rejected(
                "invalid_assignee",
                "only active technicians of the tenant are assigned",
                [
                    {
                        "field": "fields.user_id",
                        "code": "invalid_assignee",
                        "message": "not an active technician",
                    }
                ],
            )
        return user_id

    async def _others_assigned(
        self, session: AsyncSession, batch: Batch, task_id: uuid.UUID, leaving: uuid.UUID | None
    ) -> bool:
        """Whether a technician other than `leaving` is assigned (this batch's writes count)."""
        found = await session.execute(
            select(TaskAssignment.id, TaskAssignment.user_id).where(
                TaskAssignment.task_id == task_id,
                TaskAssignment.active.is_(True),
                TaskAssignment.deleted_at.is_(None),
            )
        )
        active = {row_id: user_id for row_id, user_id in found.all()}
        for (entity, row_id), row in batch.rows.items():
            if entity == "task_assignment" and row is not None and row["task_id"] == task_id:
                if row["active"]:
                    active[row_id] = row["user_id"]
                else:
                    active.pop(row_id, None)
        return any(user_id != leaving for user_id in active.values())

    async def _set_assignment(
        self,
        session: AsyncSession,
        batch: Batch,
        change: Change,
        user_id: uuid.UUID,
        *,
        active: bool,
    ) -> None:

        found = await session.execute(
            select(TaskAssignment.__table__).where(
                TaskAssignment.task_id == change.id, TaskAssignment.user_id == user_id
            )
        )
        existing = found.mappings().first()
        version = batch.next_version()
        now = batch.now
        row: dict[str, Any] = (
            dict(existing)
            if existing
            else {
                "id": uuid.uuid5(change.id, str(user_id)),
                "task_id": change.id,
                "user_id": user_id,
                "created_at": now,
                "field_clocks": {},
                "deleted_at": None,
            }
        )
        row.update(active=active, assigned_by=batch.who.user_id, version=version, updated_at=now)
        batch.rows[("task_assignment", row["id"])] = row
        batch.dirty[("task_assignment", row["id"])] = row
        self._log(batch, "task_assignment", row["id"], "upsert", row, change.id, change.hlc)
        if batch.assigned is not None and user_id == batch.who.user_id:
            (batch.assigned.add if active else batch.assigned.discard)(change.id)

    def _event(
        self,
        batch: Batch,
        change: Change,
        kind: str,
        *,
        refused: bool,
        payload: dict[str, Any],
        task_id: uuid.UUID | None = None,
    ) -> None:
        """Append a timeline entry of the change's task (actions: the change's own row)."""
        self._event_row(
            batch,
            source_id=change.id,
            hlc=change.hlc,
            kind=kind,
            task_id=task_id or change.id,
            client_time=change.client_time,
            geo=change.geo,
            refused=refused,
            payload=payload,
        )

    def _event_row(
        self,
        batch: Batch,
        *,
        source_id: uuid.UUID,
        hlc: str,
        kind: str,
        task_id: uuid.UUID,
        client_time: datetime | None,
        geo: Geo | None,
        refused: bool,
        payload: dict[str, Any],
    ) -> None:
        version = batch.next_version()
        # Derived from what caused it, so a replayed cause cannot add a second entry.
        event_id = uuid.uuid5(source_id, f"{batch.client_id}:{hlc}:{kind}")
        row = {
            "id": event_id,
            "task_id": task_id,
            "kind": kind,
            "actor_id": batch.who.user_id,
            "client_id": batch.client_id,
            "client_time": client_time,
            "server_time": batch.now,
            "lat": geo.lat if geo else None,
            "lng": geo.lng if geo else None,
            "accuracy_m": geo.accuracy_m if geo else None,
            "refused": refused,
            "payload": payload,
            "version": version,
        }
        batch.rows[("task_event", event_id)] = row
        batch.dirty[("task_event", event_id)] = row
        self._log(batch, "task_event", event_id, "upsert", row, task_id, hlc)

    def _refuse(
        self,
        batch: Batch,
        change: Change,
        task: dict[str, Any],
        action: TaskAction,
        exc: InvalidTransition,
    ) -> ChangeOutcome:
        """A stale action: kept in the timeline as refused, and opened as a conflict."""
        self._event(
            batch,
            change,
            "action_refused",
            refused=True,
            payload={
                "action": action.value,
                "status": exc.status.value,
                "allowed": [a.value for a in exc.allowed],
            },
        )
        conflict_id = uuid.uuid4()
        status_clock = task["field_clocks"].get("status") or {}
        batch.conflicts.append(
            ConflictRow(
                id=conflict_id,
                entity="task",
                entity_id=change.id,
                kind="stale_action",
                fields=["status"],
                server={"status": exc.status.value},
                client={
                    "action": action.value,
                    "client_time": change.client_time.isoformat() if change.client_time else None,
                },
                base_version=change.base_version,
                server_version=status_clock.get("v"),
                client_id=batch.client_id,
                user_id=batch.who.user_id,
                server_client_id=status_clock.get("by"),
            )
        )
        return ChangeOutcome(
            id=str(change.id),
            status=Outcome.CONFLICT,
            conflict_id=conflict_id,
            current=store.row_to_json("task", task),
        )

    # --- server-side writes -----------------------------------------------------------

    async def server_upsert(
        self,
        tenant_id: uuid.UUID,
        actor_id: uuid.UUID | None,
        entity: str,
        row_id: uuid.UUID,
        values: dict[str, Any],
        task_id: uuid.UUID | None = None,
        *,
        event: str | None = None,
    ) -> int:
        """Write fields of one row on the server's own behalf (a job, a REST feature).

        The same path as a device's change: version lock, LWW with a server
        stamp later than every stamp on the row, a change-log entry, publish.
        `values` are JSON values of the entity's columns (not only the fields
        devices may write: e.g. a media asset's `status`); `task_id` names the
        task the row hangs off when its entity does not say (media). Answers
        the version. `event` names a timeline entry to add to that task with
        the write (`media_added` when an upload completes).
        """
        if entity not in store.MODELS:
            raise ValueError(f"unknown entity {entity!r}")
        async with TenantUnitOfWork(self.sessions, tenant_id) as uow:
            session = uow.session
            who = Principal(
                actor_id or uuid.UUID(int=0), tenant_id, Role.ADMIN, uuid.UUID(int=0), "server"
            )
            batch = Batch(who, SERVER_NODE, await ledger.lock_version(session))
            current = (await store.load_rows(session, entity, [row_id])).get(row_id)
            clocks: dict[str, Any] = dict((current or {}).get("field_clocks") or {})
            latest = max(
                (Stamp.parse(c["hlc"]) for c in clocks.values()), default=Stamp(0, 0, SERVER_NODE)
            )
            stamp = self.server_clock.observe(latest)
            version = batch.next_version()
            now = batch.now
            row = dict(current) if current is not None else store.new_row(entity, now)
            row.update(store.json_to_row(entity, values))
            for name in values:
                clocks[name] = {"hlc": str(stamp), "v": version, "by": SERVER_NODE}
            row.update(id=row_id, version=version, updated_at=now)
            if "field_clocks" in row:
                row["field_clocks"] = clocks
            if current is None:
                row.setdefault("created_at", now)
            batch.rows[(entity, row_id)] = row
            batch.dirty[(entity, row_id)] = row
            spec = ENTITIES.get(entity)
            if task_id is None and spec is not None:
                task_id = self._task_of(batch, spec, row_id, row)
            op = "delete" if row.get("deleted_at") is not None else "upsert"
            self._log(batch, entity, row_id, op, row, task_id, str(stamp))
            if event is not None and task_id is not None:
                self._event_row(
                    batch,
                    source_id=row_id,
                    hlc=str(stamp),
                    kind=event,
                    task_id=task_id,
                    client_time=None,
                    geo=None,
                    refused=False,
                    payload=_creation_payload(entity, row_id, row)
                    if entity in CREATION_PAYLOAD_FIELDS
                    else {f"{entity}_id": str(row_id)},
                )
            await self._flush(session, batch)
            await uow.commit()
        if self.publish is not None:
            await self.publish(tenant_id, batch.version)
        return version

    # --- pull -----------------------------------------------------------------------

    async def pull(
        self, who: Principal, cursor_text: str | None, limit: int, client_id: str | None = None
    ) -> dict[str, Any]:
        cursor = Cursor.decode(cursor_text)
        async with TenantUnitOfWork(self.sessions, who.tenant_id) as uow:
            session = uow.session
            scope = None
            if who.role is Role.TECHNICIAN:
                scope = await store.assigned_task_ids(session, who.user_id)
            if cursor is None:
                cursor = Cursor.start_snapshot(await ledger.current_version(session))
            elif cursor.snapshot and cursor.ahead_of(await ledger.current_version(session)):
                raise InvalidSyncCursor("the cursor was not made by this server")
            if cursor.snapshot:
                changes, cursor, has_more = await self._snapshot(session, cursor, limit, scope)
            else:
                changes, cursor, has_more = await self._log_page(session, who, cursor, limit, scope)
            if client_id is not None:
                await ledger.note_pull(session, client_id, who.user_id, cursor.version)
                await uow.commit()
        return {"changes": changes, "cursor": cursor.encode(), "has_more": has_more}

    async def _snapshot(
        self, session: AsyncSession, cursor: Cursor, limit: int, scope: set[uuid.UUID] | None
    ) -> tuple[list[dict[str, Any]], Cursor, bool]:
        changes: list[dict[str, Any]] = []
        order = store.SNAPSHOT_ORDER
        if cursor.entity is not None and cursor.entity not in order:
            raise InvalidSyncCursor("the cursor was not made by this server")
        entity_index = 0 if cursor.entity is None else order.index(cursor.entity)
        last_id = cursor.last_id
        while entity_index < len(store.SNAPSHOT_ORDER) and len(changes) < limit:
            entity = store.SNAPSHOT_ORDER[entity_index]
            rows = await store.snapshot_page(
                session, entity, cursor.version, last_id, limit - len(changes), scope
            )
            changes.extend(_pulled(entity, row, "upsert") for row in rows)
            if len(changes) < limit:
                entity_index, last_id = entity_index + 1, None
            else:
                last_id = rows[-1]["id"]
        if entity_index < len(store.SNAPSHOT_ORDER):
            return changes, Cursor(cursor.version, True, order[entity_index], last_id), True
        latest = await ledger.current_version(session)
        return changes, Cursor.at(cursor.version), latest > cursor.version

    async def _log_page(
        self,
        session: AsyncSession,
        who: Principal,
        cursor: Cursor,
        limit: int,
        scope: set[uuid.UUID] | None,
    ) -> tuple[list[dict[str, Any]], Cursor, bool]:
        if scope is None:
            every, scanned_to, full = await store.read_log_changes(session, cursor.version, limit)
            if not every:
                await self._check_reached(session, cursor)
            return every, Cursor.at(scanned_to), full
        entries, scanned_to, full = await store.read_log(session, cursor.version, limit)
        if not entries:
            await self._check_reached(session, cursor)
        changes: list[Any] = []
        for entry in entries:
            changes.extend(await self._scoped(session, who, entry, scope))
        return changes, Cursor.at(scanned_to), full

    async def _check_reached(self, session: AsyncSession, cursor: Cursor) -> None:
        """An empty page: refuse a cursor past the tenant's version (one this server
        did not make), which would otherwise wait for ever for versions to come."""
        if cursor.ahead_of(await ledger.current_version(session)):
            raise InvalidSyncCursor("the cursor was not made by this server")

    async def _scoped(
        self, session: AsyncSession, who: Principal, entry: dict[str, Any], scope: set[uuid.UUID]
    ) -> list[dict[str, Any]]:
        """What a technician receives of one log entry (PROTOCOL.md guarantee 5)."""
        task_id = entry["task_id"]
        data = json.loads(entry["data_json"]) if entry["entity"] == "task_assignment" else {}
        if entry["entity"] == "task_assignment" and data.get("user_id") == str(who.user_id):
            version = entry["version"]
            if task_id in scope and data.get("active"):
                # A row changed after the assignment comes in its own later entry:
                # sending it here too would deliver the same state twice.
                return [
                    {**_pulled(entity, row, "upsert"), "version": version}
                    for entity, row in await store.rows_of_task(session, task_id)
                    if row["version"] <= version
                ]
            if task_id not in scope and not data.get("active"):
                # Deleted rows too: one deleted after the unassignment was never
                # sent its `delete` (out of scope by then), and must still go.
                rows = await store.rows_of_task(session, task_id, live_only=False)
                return [
                    {
                        "version": version,
                        "entity": entity,
                        "id": str(row["id"]),
                        "op": "remove",
                        "data": {},
                    }
                    for entity, row in rows
                ]
        if task_id is not None and task_id in scope:
            return [store.pulled_from_log(entry)]
        return []

    # --- writing --------------------------------------------------------------------

    async def _flush(self, session: AsyncSession, batch: Batch) -> None:
        by_entity: dict[str, list[dict[str, Any]]] = {}
        for (entity, _), row in batch.dirty.items():
            by_entity.setdefault(entity, []).append(row)
        for entity in store.SNAPSHOT_ORDER:  # parents before children
            await store.upsert_rows(session, entity, by_entity.get(entity, []))
        await store.append_log(session, batch.log)
        session.add_all(batch.conflicts)
        if batch.log:
            await ledger.set_version(session, batch.version)


def _state_of(entity: str, row: dict[str, Any]) -> RowState:
    """A stored row as the merge sees it: JSON values, the same form as a change's
    (a datetime compares with, and is recorded in a conflict as, its ISO text)."""
    return RowState.from_row(store.row_to_json(entity, row), row["field_clocks"])


def _pulled(entity: str, row: dict[str, Any], op: str) -> dict[str, Any]:
    return {
        "version": row["version"],
        "entity": entity,
        "id": str(row["id"]),
        "op": op,
        "data": store.row_to_json(entity, row),
    }


CREATION_PAYLOAD_FIELDS = {
    "task": ("title",),
    "purchase": ("vendor", "amount_minor", "currency"),
    "receipt": ("purchase_id", "total_minor", "currency"),
    "media_asset": ("content_type", "size"),
}


def _creation_payload(entity: str, row_id: uuid.UUID, row: dict[str, Any]) -> dict[str, Any]:
    """What a creation event says of its row: which row, and a few fields to read at a glance."""
    payload: dict[str, Any] = {f"{entity}_id": str(row_id)}
    for name in CREATION_PAYLOAD_FIELDS[entity]:
        value = row.get(name)
        payload[name] = str(value) if isinstance(value, uuid.UUID) else value
    return payload


def _count(results: list[ChangeOutcome]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status.value] = counts.get(result.status.value, 0) + 1
    return counts


def _id_of(raw: dict[str, Any]) -> str:
    """The id a refused change names, for its result: echoed only if it is a UUID."""
    value = raw.get("id")
    try:
        return str(uuid.UUID(value)) if isinstance(value, str) else ""
    except ValueError:
        return ""


def _storable(raw: Any) -> Any:
    """A refused change as it can be kept: whole when it is within the limits,
    else its well-formed top-level values and where the rest was outside them."""
    try:
        bounds.check(raw)
        return raw
    except bounds.BoundsError as exc:
        kept = {}
        if isinstance(raw, dict):
            for key, value in raw.items():
                with contextlib.suppress(bounds.BoundsError):
                    bounds.check({key: value})
                    kept[key] = value
        return {**kept, "_omitted": f"outside the server's limits at {exc.path or 'the change'}"}


def _saw_status(task: dict[str, Any], change: Change, client_id: str) -> bool:
    """Whether the device had seen the task's status when it sent `change`: its
    base_version reaches the status's last change, or that change was its own."""
    clock = (task.get("field_clocks") or {}).get("status") or {}
    return (
        change.base_version >= int(clock.get("v", task["version"])) or clock.get("by") == client_id
    )
