"""The audit trail: one call records who did what sensitive thing, from where."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEntry
from syncd.appkeys import REQUEST_ID
from syncd.web.client_ip import request_ip


def record(
    session: AsyncSession,
    action: str,
    *,
    request: web.Request | None = None,
    actor_id: uuid.UUID | None = None,
    target_type: str | None = None,
    target_id: object | None = None,
    details: dict[str, Any] | None = None,
    tenant_id: uuid.UUID | None = None,
) -> AuditEntry:
    """Add an audit entry to the session's transaction (committed with it).

    In a tenant unit of work the tenant is stamped; a platform unit of work
    must pass `tenant_id`.
    """
    entry = AuditEntry(
        action=action,
        actor_id=actor_id,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        ip=request_ip(request) if request is not None else None,
        request_id=request.get(REQUEST_ID) if request is not None else None,
        details=details or {},
    )
    if tenant_id is not None:
        entry.tenant_id = tenant_id
    session.add(entry)
    return entry
