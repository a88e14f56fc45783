"""Shared fixtures: databases (SQLite and PostgreSQL), Redis, the app, factories.

The plain helpers these fixtures use (make_settings, service_missing, ...) live
in tests/support/services.py, make_tenant in tests/support/factories.py: test
modules import them from there, never from a conftest.

Every DB-touching test takes `database_url` (or a fixture built on it) and so
runs once per backend. PostgreSQL tests get a fresh database for the run,
migrated once and dropped at the end; tests isolate themselves by tenant.
A missing PostgreSQL or Redis skips with the reason, unless
SYNCD_REQUIRE_SERVICES=1 (set by .ci/run), where it fails.
"""

from __future__ import annotations

import asyncio
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
from syncd.app import create_app
from syncd.settings import Settings
from tests.support.services import (
    BACKENDS,
    PG_ADMIN_DSN,
    PG_TEST_PREFIX,
    REDIS_TEST_PREFIX,
    REDIS_TEST_URL,
    RUN_ID,
    asyncpg_url,
    create_pg_database,
    drop_pg_database,
    make_settings,
    migrated,
    service_missing,
    wipe_redis,
)

# Hypothesis's per-example deadline is a timing assertion: on a loaded machine it
# fails sound code. Properties here are judged by what they hold, never by time.
hypothesis_settings.register_profile("syncd", deadline=None)
hypothesis_settings.load_profile("syncd")


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
        name = f"{PG_TEST_PREFIX}{uuid.uuid4().hex[:12]}"
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


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


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


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A REDIS_PREFIX of this test alone; every key under it, and every rq job and
    registry of its queues, is deleted when the test ends."""
    prefix = f"{REDIS_TEST_PREFIX}{RUN_ID}-{uuid.uuid4().hex[:8]}:"
    yield prefix
    left = wipe_redis(redis_url, prefix)
    assert left == [], f"keys under {prefix} survived the clean-up: {left}"


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
