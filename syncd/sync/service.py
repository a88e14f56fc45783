"""The sync service: the entry points of the one write path, and the pull stream.

Every write to synced data enters through a unit of change (syncd/sync/unit.py):

- `push`: a device's batch (HTTP or WebSocket), syncd/sync/push.py;
- `apply`: a person's REST write, and `server_upsert`: a job's or a REST
  feature's write of one row, syncd/sync/server_writes.py;
- `unit`: a unit of change for the inbox's resolutions and the admins'
  replays of rejected changes, which write their own rows beside.

`pull` reads a page of changes in the reader's scope (syncd/sync/pull.py).
The service holds what the units share: the session factory, the limits,
the hub to tell after a commit, the Yjs writer and the server's clock.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol import versions
from protocol.changes import Change, PushRequest
from protocol.hlc import HybridClock
from protocol.merge import Outcome
from storage import log_reads
from storage import sync_ledger as ledger
from storage.unit_of_work import TenantUnitOfWork
from syncd.auth.principal import Principal
from syncd.i18n import Msg
from syncd.sync import client_schema, server_writes
from syncd.sync import pull as pulling
from syncd.sync.cursor import Cursor
from syncd.sync.errors import BatchTooLarge
from syncd.sync.push import push_batch
from syncd.sync.scope import Scope
from syncd.sync.server_writes import SERVER_NODE, Applied, Check
from syncd.sync.unit import UnitOfChange, YDocWriter

__all__ = ["SERVER_NODE", "Applied", "SyncService"]


log = structlog.get_logger("syncd.sync")


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
        min_schema: int = versions.OLDEST,
    ) -> None:
        self.sessions = sessions
        self.min_schema = min_schema
        self.ydocs = ydocs
        self.max_batch = max_batch
        self.max_skew_ms = max_skew_ms
        self.publish = publish
        self._now_ms = now_ms or (lambda: time.time_ns() // 1_000_000)
        self.server_clock = HybridClock(SERVER_NODE)

    def now_ms(self) -> int:
        """The server's wall clock, in milliseconds."""
        return self._now_ms()

    def accept_schema(self, raw: object) -> int:
        """The app schema a client names (None: the oldest), or the problem refusing
        it: `unknown_schema`, or `client_upgrade_required` below the minimum."""
        return client_schema.accept(raw, self.min_schema)

    def unit(self, who: Principal, client_id: str, scope: Scope | None = None) -> UnitOfChange:
        """A unit of change writing for `who` as the device `client_id`."""
        return UnitOfChange(self, who, client_id, scope=scope)

    async def push(
        self,
        who: Principal,
        request: PushRequest,
        user_agent: str | None = None,
        only_entity: str | None = None,
    ) -> dict[str, Any]:
        """Apply one batch written in the request's app schema (refused below the
        minimum); `only_entity` restricts it (POST /sync/tasks)."""
        schema = self.accept_schema(request.app_schema)
        if len(request.changes) > self.max_batch:
            raise BatchTooLarge(
                Msg(
                    "{count} changes; at most {most} per batch",
                    count=len(request.changes),
                    most=self.max_batch,
                )
            )
        async with self.unit(who, request.client_id) as unit:
            response, resent = await push_batch(
                unit, request, user_agent, only_entity=only_entity, schema=schema
            )
            if not resent:
                await unit.commit()
        found = {status.value: 0 for status in Outcome}
        for result in response["results"]:
            found[result["status"]] = found.get(result["status"], 0) + 1
        log.info(
            "push",
            client_id=request.client_id,
            batch_id=request.batch_id,
            changes=len(request.changes),
            resent=resent,
            **found,
        )
        return response

    async def apply(
        self, who: Principal, change: Change, *, client_id: str, check: Check | None = None
    ) -> Applied:
        """One change made on the server by a person (syncd/sync/server_writes.py)."""
        return await server_writes.apply(self, who, change, client_id=client_id, check=check)

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
        """A write of one row on the server's behalf (syncd/sync/server_writes.py)."""
        return await server_writes.server_upsert(
            self, tenant_id, actor_id, entity, row_id, values, task_id, event=event
        )

    async def pull(
        self,
        who: Principal,
        cursor_text: str | None,
        limit: int,
        client_id: str | None = None,
        schema: object = None,
    ) -> dict[str, Any]:
        """A page of changes after the cursor, in `who`'s scope, shaped to the app
        `schema` (None: the oldest; refused below the minimum); `client_id`
        records how far the device has pulled."""
        page, _ = await self.pull_in_scope(
            who, cursor_text, limit, client_id, self.accept_schema(schema)
        )
        return page

    async def pull_in_scope(
        self,
        who: Principal,
        cursor_text: str | None,
        limit: int,
        client_id: str | None = None,
        schema: int = versions.CURRENT,
    ) -> tuple[dict[str, Any], Scope]:
        """A pull in an accepted app schema, and the scope it was read in (a live
        socket keeps it to follow the tenant's feed)."""
        cursor = Cursor.decode(cursor_text)
        async with TenantUnitOfWork(self.sessions, who.tenant_id) as uow:
            session = uow.session
            scope = await Scope.load(session, who)
            changes, cursor, has_more = await pulling.page(session, scope, cursor, limit)
            if client_id is not None:
                await ledger.note_pull(session, client_id, who.user_id, cursor.version, schema)
                await uow.commit()
        changes = client_schema.shape_changes(changes, schema)
        return {"changes": changes, "cursor": cursor.encode(), "has_more": has_more}, scope

    async def feed_page(
        self, tenant_id: uuid.UUID, after: int, limit: int
    ) -> tuple[list[log_reads.FeedItem], int, bool]:
        """The whole tenant's changes after a version, for its live feed: (items, the
        version read up to, whether more may follow)."""
        async with TenantUnitOfWork(self.sessions, tenant_id) as uow:
            return await log_reads.read_feed(uow.session, after, limit)
