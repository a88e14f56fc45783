"""The `YDocWriter` handed to SyncService: offline `ydoc` pushes join live rooms.

`append` stores the update inside the push's own transaction (so it commits or
rolls back with the batch); `notify`, after the commit, gives it to this
process's room (applied and relayed, not stored again) and to the other
processes over the rooms' Redis channel.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from storage import ydoc_store
from syncd.yjs.rooms import Rooms


class RoomsWriter:
    def __init__(self, rooms: Rooms) -> None:
        self.rooms = rooms

    async def append(self, session: AsyncSession, name: str, update: bytes) -> None:
        await ydoc_store.append(session, name, update, max_bytes=self.rooms.max_document_bytes)

    async def notify(self, tenant_id: uuid.UUID, name: str, update: bytes) -> None:
        await self.rooms.notify(tenant_id, name, update)
