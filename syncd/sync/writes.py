"""REST writes through the one write path: a person's edit becomes one change.

A dashboard edit (create, patch, delete, a lifecycle action) is built into the
same `Change` a device would push and applied by `SyncService.apply`, so
devices receive it like any other change and the same rules hold. REST writes
carry the client id `web-<user id>`: the timeline and the conflict inbox name
that as their device. A change the write path refuses is a problem of the one
tree (syncd/sync/refusals.py): the write raises it as it stands, and it is
the request's problem, in the request's language.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy.ext.asyncio import AsyncSession

from protocol.changes import Change, Op
from protocol.entities import Geo
from protocol.hlc import Stamp
from protocol.merge import Outcome
from syncd.auth.principal import Principal
from syncd.i18n import Msg
from syncd.sync.service import SERVER_NODE, SyncService
from syncd.web.problems import InternalError, NotFound

Check = Callable[[AsyncSession, dict[str, Any] | None], Awaitable[None]]


def client_id_of(who: Principal) -> str:
    """The client id of a person's REST writes."""
    return f"web-{who.user_id}"


class RestWrites:
    """Builds one change from a REST request and applies it."""

    PLACEHOLDER_HLC: ClassVar[str] = str(Stamp(0, 0, SERVER_NODE))  # the service restamps it

    def __init__(self, sync: SyncService) -> None:
        self.sync = sync

    async def write(
        self,
        who: Principal,
        entity: str,
        row_id: uuid.UUID,
        op: Op,
        *,
        fields: dict[str, Any] | None = None,
        action: str | None = None,
        client_time: datetime | None = None,
        geo: Geo | None = None,
        reason: str | None = None,
        check: Check | None = None,
    ) -> dict[str, Any]:
        """Apply the change; answer the row after it (JSON), or raise its problem."""
        change = Change(
            entity=entity,
            id=row_id,
            op=op,
            hlc=self.PLACEHOLDER_HLC,
            fields=fields or {},
            action=action,
            client_time=client_time,
            geo=geo,
            reason=reason,
        )
        applied = await self.sync.apply(who, change, client_id=client_id_of(who), check=check)
        result = applied.result
        if result.status is Outcome.REJECTED:
            raise result.refusal or InternalError()  # apply_change keeps what refused it
        if applied.row is None:  # pragma: no cover - an accepted change always leaves its row
            raise NotFound(Msg("no {entity} {row_id}", entity=entity, row_id=row_id))
        return applied.row
