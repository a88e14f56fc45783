"""Who is making a request: the authenticated user, as the policy layer sees them.

A plain value that services take; the request keeps it under
`syncd.web.keys.PRINCIPAL` (read with `principal(request)`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from protocol.roles import Role


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    role: Role
    session_id: uuid.UUID
    email: str
    is_platform_operator: bool = False
    token_expires_at: int = 0
    locale: str | None = None
