"""Both tenancy walls, and the resolver that picks a request's tenant."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import delete, exists, func, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from storage.models import Task, Tenant, User
from storage.tenancy import TenantScopeError
from storage.unit_of_work import PlatformUnitOfWork, TenantUnitOfWork
from syncd.auth.permissions import public
from syncd.web import keys
from syncd.web.tenant import current_tenant
from tests.support.factories import add_task, make_tenant

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def two_tenants(sessions: Sessions) -> tuple[uuid.UUID, uuid.UUID]:
    a = await make_tenant(sessions)
    b = await make_tenant(sessions)
    await add_task(sessions, a.id, "a-1")
    await add_task(sessions, a.id, "a-2")
    await add_task(sessions, b.id, "b-1")
    return a.id, b.id


async def test_scoped_queries_see_only_their_tenant(
    sessions: Sessions, two_tenants: tuple[uuid.UUID, uuid.UUID]
) -> None:
    a, b = two_tenants
    async with TenantUnitOfWork(sessions, a) as uow:
        titles = (await uow.session.execute(select(Task.title))).scalars().all()
        assert sorted(titles) == ["a-1", "a-2"]
        # Even a query that asks for the other tenant's rows by name gets none.
        other = await uow.session.execute(select(Task).where(Task.tenant_id == b))
        assert other.scalars().all() == []
        assert await uow.session.scalar(select(func.count()).select_from(Task)) == 2


async def test_inserts_are_stamped_and_cannot_name_another_tenant(
    sessions: Sessions, two_tenants: tuple[uuid.UUID, uuid.UUID]
) -> None:
    a, b = two_tenants
    task_id = await add_task(sessions, a, "stamped")
    async with PlatformUnitOfWork(sessions) as uow:
        row = await uow.session.get(Task, (a, task_id))
        assert row is not None
        assert row.tenant_id == a
    async with TenantUnitOfWork(sessions, a) as uow:
        uow.session.add(Task(id=uuid.uuid4(), tenant_id=b, title="smuggled"))
        with pytest.raises(TenantScopeError):
            await uow.flush()


async def test_bulk_update_and_delete_stay_in_tenant(
    sessions: Sessions, two_tenants: tuple[uuid.UUID, uuid.UUID]
) -> None:
    a, b = two_tenants
    async with TenantUnitOfWork(sessions, a) as uow:
        await uow.session.execute(update(Task).values(title="renamed"))
        await uow.session.execute(delete(Task).where(Task.title == "nothing"))
        await uow.commit()
    async with TenantUnitOfWork(sessions, b) as uow:
        titles = (await uow.session.execute(select(Task.title))).scalars().all()
        assert titles == ["b-1"]


async def test_queries_without_a_tenant_fail_closed(sessions: Sessions) -> None:
    async with sessions() as session:
        with pytest.raises(TenantScopeError):
            await session.execute(select(Task))
        session.add(Task(id=uuid.uuid4(), tenant_id=uuid.uuid4(), title="orphan"))
        with pytest.raises(TenantScopeError):
            await session.flush()


async def test_uncommitted_unit_of_work_rolls_back(sessions: Sessions) -> None:
    tenant = await make_tenant(sessions)
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        uow.session.add(Task(id=uuid.uuid4(), title="never committed"))
        await uow.flush()
    async with TenantUnitOfWork(sessions, tenant.id) as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Task)) == 0


async def test_unit_of_work_misuse_is_explained(sessions: Sessions) -> None:
    uow = TenantUnitOfWork(sessions, uuid.uuid4())
    with pytest.raises(RuntimeError, match="not open"):
        _ = uow.session
    async with uow:
        assert uow.session.in_transaction()
    with pytest.raises(RuntimeError, match="cannot reopen"):
        await uow.__aenter__()
    with pytest.raises(TypeError):
        TenantUnitOfWork(sessions, "not-a-uuid")  # type: ignore[arg-type]


# --- the resolver -------------------------------------------------------------


@public
async def whoami(request: web.Request) -> web.Response:
    tenant = await current_tenant(request)
    return web.json_response({"slug": tenant.slug})


@pytest.fixture
async def resolver(app: web.Application, aiohttp_client: Any) -> Any:
    app.router.add_get("/test/whoami", whoami)

    @web.middleware
    async def fake_token(request: web.Request, handler: Any) -> web.StreamResponse:
        claim = request.headers.get("X-Test-Token-Tenant")
        if claim:
            request[keys.TOKEN_TENANT] = uuid.UUID(claim)
        return await handler(request)

    app.middlewares.append(fake_token)
    return await aiohttp_client(app)


async def test_resolver_by_header_subdomain_and_token(resolver: Any, sessions: Sessions) -> None:
    a = await make_tenant(sessions)
    b = await make_tenant(sessions)
    by_header = await resolver.get("/test/whoami", headers={"X-Tenant": a.slug})
    assert (await by_header.json()) == {"slug": a.slug}
    by_id = await resolver.get("/test/whoami", headers={"X-Tenant": str(a.id)})
    assert (await by_id.json()) == {"slug": a.slug}
    by_host = await resolver.get("/test/whoami", headers={"Host": f"{b.slug}.localhost:8080"})
    assert (await by_host.json()) == {"slug": b.slug}
    by_token = await resolver.get("/test/whoami", headers={"X-Test-Token-Tenant": str(b.id)})
    assert (await by_token.json()) == {"slug": b.slug}
    agreeing = await resolver.get(
        "/test/whoami", headers={"X-Test-Token-Tenant": str(b.id), "X-Tenant": b.slug}
    )
    assert agreeing.status == 200


async def test_resolver_refusals(resolver: Any, sessions: Sessions) -> None:
    a = await make_tenant(sessions)
    b = await make_tenant(sessions)
    none = await resolver.get("/test/whoami")
    assert none.status == 400
    assert (await none.json(content_type=None))["code"] == "tenant_required"
    unknown = await resolver.get("/test/whoami", headers={"X-Tenant": "no-such-tenant"})
    assert unknown.status == 404
    assert (await unknown.json(content_type=None))["code"] == "tenant_not_found"
    mismatch = await resolver.get(
        "/test/whoami", headers={"X-Test-Token-Tenant": str(a.id), "X-Tenant": b.slug}
    )
    assert mismatch.status == 403
    assert (await mismatch.json(content_type=None))["code"] == "tenant_mismatch"
    inactive = await make_tenant(sessions, is_active=False)
    gone = await resolver.get("/test/whoami", headers={"X-Tenant": inactive.slug})
    assert gone.status == 404


async def test_users_are_unique_per_tenant_not_globally(sessions: Sessions) -> None:
    a = await make_tenant(sessions)
    b = await make_tenant(sessions)
    for tenant in (a, b):
        async with TenantUnitOfWork(sessions, tenant.id) as uow:
            uow.session.add(User(email="same@example.com", role="admin"))
            await uow.commit()
    for tenant in (a, b):
        async with TenantUnitOfWork(sessions, tenant.id) as uow:
            emails = (await uow.session.execute(select(User.email))).scalars().all()
            assert emails == ["same@example.com"]


async def test_wall_one_covers_core_shapes(
    sessions: Sessions, two_tenants: tuple[uuid.UUID, uuid.UUID]
) -> None:
    """Subqueries, EXISTS, UNION, aliases and the tenants table are all filtered."""
    a, _b = two_tenants
    async with TenantUnitOfWork(sessions, a) as uow:
        session = uow.session
        nested = select(func.count()).select_from(select(Task.id).subquery())
        assert await session.scalar(nested) == 2
        assert not await session.scalar(select(exists().where(Task.title == "b-1")))
        titles = await session.execute(union_all(select(Task.title), select(Task.title)))
        assert sorted(set(titles.scalars().all())) == ["a-1", "a-2"]
        other = aliased(Task)
        pairs = await session.execute(
            select(Task.title, other.title).join(other, other.title != Task.title)
        )
        assert {pair for row in pairs for pair in row} == {"a-1", "a-2"}
        assert await session.scalar(select(func.count()).select_from(Tenant)) == 1
        counted = await session.scalar(
            select(func.count()).where(Task.id.in_(select(Task.id).where(Task.title == "b-1")))
        )
        assert counted == 0
