"""Sync health for admins: devices and their lag, rejected changes and their replay.

Nothing stalls a device's queue: a rejected change is answered at once and
kept here with its problem, worded in the reader's language when it is read
(syncd/sync/localize.py). Once the cause is fixed (a user reactivated, a
task created), an admin replays it through the one write path, on behalf of
the user who pushed it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from protocol import versions
from protocol.changes import PushRequest
from protocol.roles import Role
from storage import sync_ledger as ledger
from storage.models import Device, SyncRejection, User
from storage.types import utcnow
from storage.unit_of_work import TenantUnitOfWork
from syncd.admin import audit
from syncd.admin.audit import Origin
from syncd.auth.principal import Principal
from syncd.i18n import DEFAULT_LOCALE, Msg
from syncd.sync.localize import problem_in
from syncd.sync.push import push_batch
from syncd.sync.service import SyncService
from syncd.web.cursors import InvalidCursor, decode_cursor, encode_cursor
from syncd.web.problems import Conflict, NotFound


class RejectionNotFound(NotFound):
    code = "rejection_not_found"
    title = "No such rejected change"


class RejectionClosed(Conflict):
    code = "rejection_closed"
    title = "The rejected change was already replayed or dismissed"


class ReplayImpossible(Conflict):
    code = "replay_impossible"
    title = "The change cannot be replayed now"


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


class SyncAdmin:
    def __init__(self, sync: SyncService) -> None:
        self.sync = sync

    async def devices(self, who: Principal) -> dict[str, Any]:
        async with TenantUnitOfWork(self.sync.sessions, who.tenant_id) as uow:
            version = await ledger.current_version(uow.session)
            rows = await uow.session.execute(
                select(Device, User.email, User.role)
                .join(User, (User.id == Device.user_id) & (User.tenant_id == Device.tenant_id))
                .order_by(Device.last_seen_at.desc())
            )
            items = [
                {
                    "client_id": device.client_id,
                    "user_id": str(device.user_id),
                    "email": email,
                    "role": role,
                    "user_agent": device.user_agent,
                    "first_seen_at": _iso(device.first_seen_at),
                    "last_seen_at": _iso(device.last_seen_at),
                    "cursor_version": device.cursor,
                    "lag": max(0, version - device.cursor),
                    "last_push_at": _iso(device.last_push_at),
                    "last_push_counts": device.last_push_counts,
                    "schema": device.schema,
                    "upgrade_required": device.schema is not None
                    and device.schema < self.sync.min_schema,
                }
                for device, email, role in rows
            ]
        return {
            "tenant_version": version,
            "minimum_schema": self.sync.min_schema,
            "current_schema": versions.CURRENT,
            "items": items,
        }

    async def open_rejections_by_device(self, who: Principal) -> dict[str, tuple[int, datetime]]:
        """Per device with rejected changes still open: how many, and since when."""
        async with TenantUnitOfWork(self.sync.sessions, who.tenant_id) as uow:
            rows = await uow.session.execute(
                select(
                    SyncRejection.client_id,
                    func.count(),
                    func.min(SyncRejection.created_at),
                )
                .where(SyncRejection.status == "open")
                .group_by(SyncRejection.client_id)
            )
            return {client_id: (int(count), oldest) for client_id, count, oldest in rows}

    async def rejections(
        self,
        who: Principal,
        status: str | None,
        client_id: str | None,
        cursor: str | None,
        limit: int,
        locale: str = DEFAULT_LOCALE,
    ) -> dict[str, Any]:
        """A page of rejected changes, each problem in `locale` (the reader's)."""
        async with TenantUnitOfWork(self.sync.sessions, who.tenant_id) as uow:
            statement = (
                select(SyncRejection)
                .order_by(SyncRejection.created_at, SyncRejection.id)
                .limit(limit)
            )
            if status is not None:
                statement = statement.where(SyncRejection.status == status)
            if client_id is not None:
                statement = statement.where(SyncRejection.client_id == client_id)
            if cursor is not None:
                _created, last = decode_cursor(cursor, 2)
                try:
                    last_id = uuid.UUID(str(last))
                except ValueError:
                    raise InvalidCursor("the cursor was not made by this server") from None
                after = await uow.session.get(SyncRejection, (who.tenant_id, last_id))
                if after is None:
                    raise InvalidCursor(Msg("the cursor names no rejected change of yours"))
                statement = statement.where(
                    (SyncRejection.created_at > after.created_at)
                    | (
                        (SyncRejection.created_at == after.created_at)
                        & (SyncRejection.id > after.id)
                    )
                )
            rows = list((await uow.session.execute(statement)).scalars())
            items = [self._rejection(row, locale) for row in rows]
            next_cursor = (
                encode_cursor(rows[-1].created_at.isoformat(), rows[-1].id)
                if len(rows) == limit
                else None
            )
        return {"items": items, "next_cursor": next_cursor}

    @staticmethod
    def _rejection(row: SyncRejection, locale: str) -> dict[str, Any]:
        """The row as admins read it: its problem worded now, in `locale`."""
        result = row.result
        if isinstance(result, dict) and isinstance(result.get("problem"), dict):
            result = {**result, "problem": problem_in(result["problem"], locale)}
        return {
            "id": str(row.id),
            "client_id": row.client_id,
            "batch_id": row.batch_id,
            "user_id": str(row.user_id),
            "change": row.change,
            "problem": problem_in(row.problem, locale),
            "status": row.status,
            "result": result,
            "created_at": _iso(row.created_at),
            "replayed_at": _iso(row.replayed_at),
        }

    async def replay(
        self,
        origin: Origin,
        who: Principal,
        rejection_id: uuid.UUID,
        locale: str = DEFAULT_LOCALE,
    ) -> dict[str, Any]:
        """Run a rejected change again, on behalf of the user who pushed it, through a
        unit of change (so a replayed `ydoc` reaches open editors like any other)."""
        async with TenantUnitOfWork(self.sync.sessions, who.tenant_id) as uow:
            row = await uow.session.get(SyncRejection, (who.tenant_id, rejection_id))
            if row is None:
                raise RejectionNotFound(
                    Msg("no rejected change {rejection_id}", rejection_id=rejection_id)
                )
            if row.status != "open":
                raise RejectionClosed(Msg("the change is {status}", status=row.status))
            user = await uow.session.get(User, (who.tenant_id, row.user_id))
            if user is None or user.status != "active":
                raise ReplayImpossible(Msg("the user who pushed the change is not active"))
            original = Principal(user.id, who.tenant_id, Role(user.role), uuid.uuid4(), user.email)
            client_id, change = row.client_id, row.change
        push = PushRequest(
            client_id=client_id,
            batch_id=f"replay-{rejection_id}-{uuid.uuid4().hex[:8]}",
            changes=[change],
        )
        async with self.sync.unit(original, client_id) as unit:
            session = unit.session
            row = await session.get(SyncRejection, (who.tenant_id, rejection_id))
            if row is None or row.status != "open":  # replayed or dismissed meanwhile
                raise RejectionClosed(Msg("the change is {status}", status="closed"))
            response, _ = await push_batch(unit, push, None, keep_rejections=False)
            (result,) = response["results"]
            row.result = result
            row.replayed_at = utcnow()
            if result["status"] == "rejected":
                row.problem = result["problem"]
            else:
                row.status = "replayed"
            audit.record(
                session,
                "rejection_replayed",
                origin=origin,
                actor_id=who.user_id,
                target_type="sync_rejection",
                target_id=row.id,
                details={"status": result["status"]},
            )
            answer = self._rejection(row, locale)
            await unit.commit()
        return answer

    async def dismiss(
        self,
        origin: Origin,
        who: Principal,
        rejection_id: uuid.UUID,
        locale: str = DEFAULT_LOCALE,
    ) -> dict[str, Any]:
        async with TenantUnitOfWork(self.sync.sessions, who.tenant_id) as uow:
            row = await uow.session.get(SyncRejection, (who.tenant_id, rejection_id))
            if row is None:
                raise RejectionNotFound(
                    Msg("no rejected change {rejection_id}", rejection_id=rejection_id)
                )
            if row.status != "open":
                raise RejectionClosed(Msg("the change is {status}", status=row.status))
            row.status = "dismissed"
            audit.record(
                uow.session,
                "rejection_dismissed",
                origin=origin,
                actor_id=who.user_id,
                target_type="sync_rejection",
                target_id=row.id,
            )
            answer = self._rejection(row, locale)
            await uow.commit()
        return answer
