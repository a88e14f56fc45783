"""Who may edit a collaborative document: the use case behind `/sync/yjs`.

Plain values in (the sessions, the principal, the task), a `Refused` close out:
a task deleted or of another tenant is "no such document" (4404: the caller
learns nothing), one outside a technician's scope is forbidden (4403).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import Task
from storage.unit_of_work import TenantUnitOfWork
from syncd.auth.principal import Principal
from syncd.sockets.close import Close, Refused
from syncd.sync.scope import Scope


async def authorise(
    sessions: async_sessionmaker[AsyncSession], who: Principal, task_id: uuid.UUID
) -> None:
    """The task exists in the principal's tenant and they may edit it."""
    async with TenantUnitOfWork(sessions, who.tenant_id) as uow:
        exists = await uow.session.scalar(
            select(Task.id).where(Task.id == task_id, Task.deleted_at.is_(None))
        )
        if exists is None:
            raise Refused(Close.NOT_FOUND, "no such document")
        if not (await Scope.load(uow.session, who)).sees_task(task_id):
            raise Refused(Close.FORBIDDEN, "the task is not assigned to you")
