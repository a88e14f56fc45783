"""Which tenant a request is for: token claim, `X-Tenant` header or subdomain.

Resolved once per request (`current_tenant`) under the rule of
`syncd.tenancy.usable_tenant`. Without a token the lookup is a platform read
(it happens before a tenant is known).
"""

from __future__ import annotations

import uuid

from aiohttp import web
from sqlalchemy import select

from storage.models import Tenant
from storage.unit_of_work import PlatformUnitOfWork, TenantUnitOfWork
from syncd import appkeys
from syncd.i18n import Msg
from syncd.tenancy import TENANT_HEADER, TenantRef, active_tenant, usable_tenant
from syncd.web import keys
from syncd.web.problems import TenantRequired

RESOLVED_TENANT = web.RequestKey("tenant", TenantRef)


def named_tenant(request: web.Request) -> str | None:
    """The tenant slug or id the request names by header or subdomain, if any."""
    header = request.headers.get(TENANT_HEADER, "").strip()
    if header:
        return header
    host = (request.host or "").split(":", 1)[0].lower()
    base = request.app[appkeys.SETTINGS].base_domain.lower()
    if host.endswith("." + base):
        sub = host[: -len(base) - 1]
        if sub and "." not in sub:
            return sub
    return None


async def find_tenant(request: web.Request, key: str | uuid.UUID) -> TenantRef | None:
    try:
        condition = Tenant.id == (key if isinstance(key, uuid.UUID) else uuid.UUID(key))
    except ValueError:
        condition = Tenant.slug == str(key).lower()
    async with PlatformUnitOfWork(request.app[appkeys.SESSIONS]) as uow:
        row = (await uow.session.execute(select(Tenant).where(condition))).scalar_one_or_none()
        return active_tenant(row)


async def current_tenant(request: web.Request) -> TenantRef:
    """The request's tenant, resolved once per request."""
    cached: TenantRef | None = request.get(RESOLVED_TENANT)
    if cached is not None:
        return cached
    token_tenant = request.get(keys.TOKEN_TENANT)
    named = named_tenant(request)
    if token_tenant is None and named is None:
        raise TenantRequired(
            Msg(
                "name the tenant with the {header} header or a subdomain of the base domain",
                header=TENANT_HEADER,
            )
        )
    found = await find_tenant(request, token_tenant or named or "")
    tenant = usable_tenant(found, named, token_tenant)
    request[RESOLVED_TENANT] = tenant
    return tenant


async def tenant_uow(request: web.Request) -> TenantUnitOfWork:
    """A unit of work bound to the request's tenant (enter it with `async with`)."""
    tenant = await current_tenant(request)
    return TenantUnitOfWork(request.app[appkeys.SESSIONS], tenant.id)
