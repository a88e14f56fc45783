"""`syncd seed`: creates the demo tenant and admin once; a second run changes nothing."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import Tenant, User
from storage.unit_of_work import PlatformUnitOfWork
from syncd.passwords import verify_password
from syncd.seed import DEMO_SLUG, seed


async def demo_state(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, list[str]]:
    async with PlatformUnitOfWork(sessions) as uow:
        tenant = (
            await uow.session.execute(select(Tenant).where(Tenant.slug == DEMO_SLUG))
        ).scalar_one()
        users = await uow.session.execute(
            select(User.email).where(User.tenant_id == tenant.id).order_by(User.email)
        )
        count = await uow.session.scalar(
            select(func.count()).select_from(Tenant).where(Tenant.slug == DEMO_SLUG)
        )
        return int(count or 0), list(users.scalars())


async def test_seed_is_idempotent(sessions: async_sessionmaker[AsyncSession]) -> None:
    first = await seed(sessions, "Boss@Demo.example", "a-strong-password-1")
    second = await seed(sessions, "boss@demo.example", "another-password-2")
    assert first.admin_created
    assert first.generated_password is None
    assert not second.tenant_created
    assert not second.admin_created
    count, emails = await demo_state(sessions)
    assert count == 1
    assert "boss@demo.example" in emails
    async with PlatformUnitOfWork(sessions) as uow:
        admin = (
            await uow.session.execute(select(User).where(User.email == "boss@demo.example"))
        ).scalar_one()
        assert admin.role == "admin"
        assert admin.password_hash is not None
        assert verify_password("a-strong-password-1", admin.password_hash)


async def test_seed_generates_a_password_when_none_given(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    result = await seed(sessions, "generated@demo.example", None)
    assert result.generated_password is not None
    assert len(result.generated_password) >= 16
