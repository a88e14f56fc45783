"""Liveness and readiness against the real databases and Redis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from syncd.app import create_app
from tests.support.services import make_settings


async def test_live_and_ready(client: Any) -> None:
    live = await client.get("/health/live")
    assert live.status == 200
    assert await live.json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    assert ready.status == 200
    assert (await ready.json())["checks"] == {"database": "ok"}


async def test_ready_checks_redis_when_configured(
    database_url: str, redis_url: str, redis_prefix: str, tmp_path: Path, aiohttp_client: Any
) -> None:
    app = create_app(
        make_settings(
            tmp_path, DATABASE_URL=database_url, REDIS_URL=redis_url, REDIS_PREFIX=redis_prefix
        )
    )
    client = await aiohttp_client(app)
    response = await client.get("/health/ready")
    assert response.status == 200
    assert (await response.json())["checks"] == {"database": "ok", "redis": "ok"}


async def test_ready_is_503_problem_when_redis_is_down(
    database_url: str, tmp_path: Path, aiohttp_client: Any
) -> None:
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    app = create_app(
        make_settings(tmp_path, DATABASE_URL=database_url, REDIS_URL="redis://127.0.0.1:1/0")
    )
    client = await aiohttp_client(app)
    response = await client.get("/health/ready")
    assert response.status == 503
    assert response.content_type == "application/problem+json"
    body = await response.json(content_type=None)
    assert body["code"] == "not_ready"
    assert body["checks"] == {"database": "ok", "redis": "unavailable"}


async def test_ready_is_503_when_the_database_is_unreachable(
    tmp_path: Path, aiohttp_client: Any
) -> None:
    app = create_app(
        make_settings(tmp_path, DATABASE_URL="postgresql+asyncpg://nobody@127.0.0.1:1/none")
    )
    client = await aiohttp_client(app)
    response = await client.get("/health/ready")
    assert response.status == 503
    assert (await response.json(content_type=None))["checks"]["database"] == "unavailable"
