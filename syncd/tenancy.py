"""Which tenant a request is for: token claim, `X-Tenant` header or subdomain.

For an authenticated request the token's tenant is the authority; a header or
subdomain naming another tenant is refused (403 tenant_mismatch). An unknown
tenant is a 404 problem. Without a token the lookup is a platform read (it
happens before a tenant is known); with one, the tenant row is read in the
same tenant-bound transaction that checks the user and the session
(syncd.auth.service.AuthService.principal_for).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from aiohttp import web
from sqlalchemy import select

from storage.models import Tenant
from storage.unit_of_work import PlatformUnitOfWork, TenantUnitOfWork
from syncd import appkeys
from syncd.i18n import Msg
from syncd.web import keys
from syncd.web.problems import TenantMismatch, TenantNotFound, TenantRequired

TENANT_HEADER = "X-Tenant"


@dataclass(frozen=True, slots=True)
class TenantRef:
    id: uuid.UUID
    slug: str
    name: str
    locale: str
    time_zone: str
    is_system: bool = False

    @classmethod
    def of(cls, row: Tenant) -> TenantRef:
        return cls(row.id, row.slug, row.name, row.locale, row.time_zone, row.is_system)


RESOLVED_TENANT = web.RequestKey("tenant", TenantRef)


def usable_tenant(
    tenant: TenantRef | None, named: str | None, token_tenant: uuid.UUID | None = None
) -> TenantRef:
    """`tenant` (an active one, or None) if it is the one a header or subdomain
    names, when a token decides; else TenantNotFound (404) or TenantMismatch (403)."""
    if tenant is None:
        raise TenantNotFound(Msg("no active tenant {tenant}", tenant=str(named or token_tenant)))
    if (
        token_tenant is not None
        and named is not None
        and named not in (tenant.slug, str(tenant.id))
    ):
        raise TenantMismatch("the token belongs to another tenant than the one named")
    return tenant


def active_tenant(row: Tenant | None) -> TenantRef | None:
    return TenantRef.of(row) if row is not None and row.is_active else None


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
