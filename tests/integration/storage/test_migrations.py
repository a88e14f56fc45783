"""Migrations run up, down and up again on both backends, and match the models."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from storage.database import create_engine
from storage.models import Base
from syncd.migrate import downgrade, upgrade


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    make: Any = request.getfixturevalue("fresh_pg_database")
    url: str = make()
    return url


async def table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def test_upgrade_downgrade_upgrade(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    try:
        await upgrade(engine)
        assert set(Base.metadata.tables) <= await table_names(empty_database_url)
        await downgrade(engine, "base")
        assert await table_names(empty_database_url) <= {"alembic_version"}
        await upgrade(engine)
        assert set(Base.metadata.tables) <= await table_names(empty_database_url)
        async with engine.connect() as conn:
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        assert version is not None
    finally:
        await engine.dispose()


async def test_models_and_migrations_do_not_drift(database_url: str) -> None:
    engine = create_engine(database_url)

    def diff(sync_conn: Any) -> list[Any]:
        context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(diff)
    finally:
        await engine.dispose()
    assert differences == []


def test_revision_files_are_date_prefixed() -> None:
    import migrations

    versions = Path(migrations.__file__).parent / "versions"
    names = [p.name for p in versions.glob("*.py")]
    assert names
    for name in names:
        assert name[:11].replace("_", "").isdigit(), name


def test_migrate_is_idempotent(database_url: str) -> None:
    engine = create_engine(database_url)

    async def twice() -> None:
        try:
            await upgrade(engine)
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(twice())
