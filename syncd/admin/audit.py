"""The audit trail: one call records who did what sensitive thing, from where.

Every feature writes it (`record`, in its own transaction); admins read it
through syncd.admin.service (`read_audit`).

"From where" is an `Origin`, a plain value: the handler builds it from its
request (`syncd.web.origin.origin_of`) and the use case passes it on, so no
service needs the web request. A command line or a job records `NOWHERE`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEntry


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request came from: the client's address, the request's id, its user agent."""

    ip: str | None = None
    request_id: str | None = None
    user_agent: str | None = None


NOWHERE = Origin()


def record(
    session: AsyncSession,
    action: str,
    *,
    origin: Origin = NOWHERE,
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
        ip=origin.ip,
        request_id=origin.request_id,
        details=details or {},
    )
    if tenant_id is not None:
        entry.tenant_id = tenant_id
    session.add(entry)
    return entry
