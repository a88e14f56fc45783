"""Who a live socket is and which language it speaks (`/sync/ws`).

The token comes with the upgrade or in an `auth` frame; the language from the
hello's `locale`, else the upgrade's Accept-Language, else the user's, else
the tenant's, else English.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from syncd import appkeys
from syncd.auth import tokens
from syncd.auth.errors import PermissionDenied
from syncd.auth.permissions import Permission, role_allows
from syncd.auth.principal import Principal
from syncd.i18n import choose_locale, negotiate
from syncd.web.tenant import named_tenant


async def authenticate(request: web.Request, token: str) -> tuple[Principal, str | None]:
    """The socket's principal and its tenant's locale; TokenError or a Problem
    (PermissionDenied for a role that may not sync) when refused."""
    settings = request.app[appkeys.SETTINGS]
    claims = tokens.decode_access(token, settings.jwt_access_secret, settings.jwt_issuer)
    tenant, who = await request.app[appkeys.AUTH].principal_for(claims, named_tenant(request))
    if not role_allows(who.role, Permission.SYNC):
        raise PermissionDenied("this role may not sync")
    return who, tenant.locale


def socket_locale(
    request: web.Request, who: Principal, tenant_locale: str | None, hello_locale: Any
) -> str:
    """The socket's language (see the module's docstring)."""
    chosen = negotiate(hello_locale) if isinstance(hello_locale, str) else None
    return chosen or choose_locale(
        request.headers.get("Accept-Language"), who.locale, tenant_locale
    )
