"""Shared fixtures: databases (SQLite and PostgreSQL), Redis, the app, factories.

Every DB-touching test takes `database_url` (or a fixture built on it) and so
runs once per backend. PostgreSQL tests get a fresh database for the run,
migrated once and dropped at the end; tests isolate themselves by tenant.
A missing PostgreSQL or Redis skips with the reason, unless
SYNCD_REQUIRE_SERVICES=1 (set by .ci/run), where it fails.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from hypothesis import settings as hypothesis_settings
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.database import create_engine, session_factory
from storage.models import Tenant, TenantVersion
from storage.unit_of_work import PlatformUnitOfWork
from syncd.app import create_app
from syncd.migrate import upgrade
from syncd.settings import Settings, load_settings

# Hypothesis's per-example deadline is a timing assertion: on a loaded machine it
# fails sound code. Properties here are judged by what they hold, never by time.
hypothesis_settings.register_profile("syncd", deadline=None)
hypothesis_settings.load_profile("syncd")

REQUIRE_SERVICES = os.environ.get("SYNCD_REQUIRE_SERVICES") == "1"
PG_ADMIN_DSN = os.environ.get("SYNCD_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_TEST_URL = os.environ.get("SYNCD_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
BACKENDS = ("sqlite", "postgresql")


def service_missing(what: str, reason: object) -> None:
    message = f"{what} is not available ({reason})"
    if REQUIRE_SERVICES:
        pytest.fail(message + "; SYNCD_REQUIRE_SERVICES=1 forbids skipping", pytrace=False)
    pytest.skip(message)


def asyncpg_url(dsn: str, database: str) -> str:
    base = dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{database}"


async def create_pg_database(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_pg_database(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def migrate_url(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def pg_available() -> None:
    async def probe() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
        await conn.close()

    try:
        asyncio.run(probe())
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        service_missing("PostgreSQL at " + PG_ADMIN_DSN, exc)


@pytest.fixture(scope="session")
def fresh_pg_database(pg_available: None) -> Iterator[Any]:
    """A factory of fresh, empty PostgreSQL databases, all dropped at the end."""
    made: list[str] = []

    def make() -> str:
        name = f"syncd_test_{uuid.uuid4().hex[:12]}"
        asyncio.run(create_pg_database(name))
        made.append(name)
        return asyncpg_url(PG_ADMIN_DSN, name)

    yield make
    for name in made:
        asyncio.run(drop_pg_database(name))


@pytest.fixture(scope="session")
def migrated_urls() -> dict[str, str]:
    """One migrated database per backend for the whole run (made on first use)."""
    return {}


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, migrated_urls: dict[str, str]) -> str:
    return migrated(request, migrated_urls, request.param)


@pytest.fixture
def pg_database_url(request: pytest.FixtureRequest, migrated_urls: dict[str, str]) -> str:
    """The migrated PostgreSQL database, for tests of PostgreSQL-only guarantees."""
    return migrated(request, migrated_urls, "postgresql")


def migrated(request: pytest.FixtureRequest, migrated_urls: dict[str, str], backend: str) -> str:
    if backend not in migrated_urls:
        if backend == "sqlite":
            path = request.getfixturevalue("tmp_path_factory").mktemp("sqlite") / "syncd.db"
            url = f"sqlite+aiosqlite:///{path}"
        else:
            url = request.getfixturevalue("fresh_pg_database")()
        asyncio.run(migrate_url(url))
        migrated_urls[backend] = url
    return migrated_urls[backend]


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


def make_settings(tmp_path: Path, **overrides: str) -> Settings:
    environ = {
        "SYNCD_ENV": "test",
        "SYNCD_VAR_DIR": str(tmp_path / "var"),
        "JWT_ACCESS_SECRET": "test-access-secret-" + "a" * 32,
        "JWT_REFRESH_SECRET": "test-refresh-secret-" + "b" * 32,
        "LOG_LEVEL": "warning",
        "BCRYPT_ROUNDS": "4",
    }
    environ.update(overrides)
    return load_settings(environ)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(tmp_path, DATABASE_URL=database_url)


@pytest.fixture
def app(settings: Settings) -> web.Application:
    return create_app(settings)


@pytest.fixture
async def client(app: web.Application, aiohttp_client: Any) -> TestClient[Any, Any]:
    test_client: TestClient[Any, Any] = await aiohttp_client(app)
    return test_client


async def make_tenant(
    sessions: async_sessionmaker[AsyncSession], slug: str | None = None, **fields: Any
) -> Tenant:
    """A new tenant (with its version counter) under a unique slug."""
    slug = slug or f"t-{uuid.uuid4().hex[:10]}"
    async with PlatformUnitOfWork(sessions) as uow:
        tenant = Tenant(slug=slug, name=fields.pop("name", slug.title()), **fields)
        uow.session.add(tenant)
        await uow.flush()
        uow.session.add(TenantVersion(tenant_id=tenant.id, version=0))
        await uow.commit()
    return tenant


@pytest.fixture
def redis_url() -> str:
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_missing("Redis at " + REDIS_TEST_URL, exc)
    finally:
        client.close()
    return REDIS_TEST_URL


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 HTTP endpoint on a free loopback port: moto's server mode, for the run.

    moto checks neither signatures nor signed lengths (see FIELD-NOTES.md): tests
    of refusals that S3 itself would make go through `complete` re-checking.
    """
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_settings(tmp_path: Path, endpoint: str, **overrides: str) -> Settings:
    """Settings whose blob store is a fresh bucket on `endpoint` (create it first)."""
    return make_settings(
        tmp_path,
        S3_ENDPOINT_URL=endpoint,
        S3_BUCKET=f"syncd-{uuid.uuid4().hex[:16]}",
        S3_ACCESS_KEY_ID="test",
        S3_SECRET_ACCESS_KEY="test-secret",
        **overrides,
    )
