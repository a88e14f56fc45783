"""The services a test runs against, and how it reaches them: PostgreSQL
databases made (and dropped) per run, Redis under a per-test prefix, settings.

The fixtures built on these live in tests/conftest.py. A missing PostgreSQL or
Redis skips with the reason, unless SYNCD_REQUIRE_SERVICES=1 (set by .ci/run),
where it fails.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from pathlib import Path

import asyncpg
import pytest

from storage.database import create_engine
from syncd.migrate import upgrade
from syncd.settings import Settings, load_settings

REQUIRE_SERVICES = os.environ.get("SYNCD_REQUIRE_SERVICES") == "1"
PG_ADMIN_DSN = os.environ.get("SYNCD_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_TEST_URL = os.environ.get("SYNCD_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# Every PostgreSQL database a run creates is named <prefix><random>, and dropped at its end.
PG_TEST_PREFIX = os.environ.get("SYNCD_TEST_DB_PREFIX", "syncd_test_")
if not re.fullmatch(r"[a-z_][a-z0-9_]{0,40}", PG_TEST_PREFIX):
    raise SystemExit(f"SYNCD_TEST_DB_PREFIX={PG_TEST_PREFIX!r}: lower-case letters, digits, _")
# Every Redis key a run writes (REDIS_PREFIX of its apps) starts with this, plus the run's id.
REDIS_TEST_PREFIX = os.environ.get("SYNCD_TEST_REDIS_PREFIX", "test-")
RUN_ID = uuid.uuid4().hex[:8]
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


def wipe_redis(url: str, prefix: str) -> list[str]:
    """Delete the keys syncd wrote under `prefix`: its own (`<prefix>…`), and rq's
    for the queues named `<prefix>…` with their jobs. Answer what is left."""
    import redis

    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        job_ids: set[str] = set()
        for key in list(client.scan_iter(f"rq:*{prefix}*")):
            kind = client.type(key)
            if kind == "list":
                job_ids.update(client.lrange(key, 0, -1))
            elif kind == "zset":
                job_ids.update(member.split(":", 1)[0] for member in client.zrange(key, 0, -1))
            client.delete(key)
        for job_id in job_ids:
            client.delete(f"rq:job:{job_id}", f"rq:results:{job_id}")
            if dependents := list(client.scan_iter(f"rq:job:{job_id}:*")):
                client.delete(*dependents)
        queues = [q for q in client.smembers("rq:queues") if prefix in q]
        if queues:
            client.srem("rq:queues", *queues)
        for key in list(client.scan_iter(f"{prefix}*")):
            client.delete(key)
        left = list(client.scan_iter(f"*{prefix}*"))
        left += [f"rq:job:{j}" for j in job_ids if client.exists(f"rq:job:{j}")]
        return left
    finally:
        client.close()


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
