"""A tenant as the daemon passes it around (`TenantRef`), and the rule for which one is usable.

For an authenticated request the token's tenant is the authority; a header or
subdomain naming another tenant is refused (403 tenant_mismatch). An unknown
or inactive tenant is a 404 problem. The request side (which tenant a request
names, resolved once per request) is `syncd.web.tenant`; the token side reads
the tenant row in the same tenant-bound transaction that checks the user and
the session (syncd.auth.service.AuthService.principal_for).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from storage.models import Tenant
from syncd.i18n import Msg
from syncd.web.problems import TenantMismatch, TenantNotFound

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
