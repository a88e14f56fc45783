"""Helpers for the tenants tests: images, a strict problem answer, the audit log,
a stored tenant, the logo's files, a platform operator, a logo upload.
"""

from __future__ import annotations

import io
import os
import uuid
from typing import Any

from PIL import Image
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from storage.models import AuditEntry, Tenant
from storage.unit_of_work import PlatformUnitOfWork, TenantUnitOfWork
from syncd.settings import Settings
from tests.support.factories import Account, make_tenant, signed_in

Sessions = async_sessionmaker[AsyncSession]


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (24, 12), noise: bool = False) -> bytes:
    if noise:
        image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    else:
        image = Image.new("RGB", size, (15, 118, 110))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


async def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body: dict[str, Any] = await response.json(content_type=None)
    assert body["code"] == code, body
    return body


async def audit_entries(sessions: Sessions, tenant_id: uuid.UUID) -> list[AuditEntry]:
    async with TenantUnitOfWork(sessions, tenant_id) as uow:
        rows = await uow.session.execute(select(AuditEntry).order_by(AuditEntry.id))
        entries = list(rows.scalars())
        uow.session.expunge_all()
    return entries


async def stored_tenant(sessions: Sessions, tenant_id: uuid.UUID) -> Tenant:
    async with PlatformUnitOfWork(sessions) as uow:
        tenant = await uow.session.get(Tenant, tenant_id)
        uow.session.expunge_all()
    assert tenant is not None
    return tenant


def logo_files(settings: Settings, tenant_id: uuid.UUID) -> list[str]:
    folder = settings.blob_root / "tenants" / str(tenant_id) / "branding"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


async def operator(client: Any, sessions: Sessions) -> Account:
    system = await make_tenant(sessions, is_system=True)
    return await signed_in(client, sessions, Role.ADMIN, system, is_platform_operator=True)


async def put_logo(client: Any, account: Account, data: Any, content_type: str) -> Any:
    headers = {**account.headers, "Content-Type": content_type}
    return await client.put("/tenant/logo", data=data, headers=headers)
