"""Liveness and readiness: /health/live always answers; /health/ready checks deps."""

from __future__ import annotations

import asyncio
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, Field
from sqlalchemy import text

from syncd import appkeys
from syncd.auth.permissions import public
from syncd.i18n import Msg
from syncd.openapi import describe
from syncd.web.problems import ServiceUnavailable

CHECK_TIMEOUT_S = 2.0


class LiveRead(BaseModel):
    """The process is up."""

    status: Literal["ok"]


class ReadyRead(BaseModel):
    """Every dependency answered."""

    status: Literal["ok"]
    checks: dict[str, Literal["ok"]] = Field(description="`database`, and `redis` if used")


@public
@describe(summary="Liveness: the process answers", responses={200: LiveRead})
async def live(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@public
@describe(
    summary="Readiness: the database (and Redis, if used) answer",
    responses={200: ReadyRead},
    problems=[ServiceUnavailable],
    description="503 `not_ready` names the failing checks in `checks`.",
)
async def ready(request: web.Request) -> web.Response:
    checks = {"database": await _check_database(request.app)}
    if appkeys.REDIS in request.app:
        checks["redis"] = await _check_redis(request.app)
    if any(status != "ok" for status in checks.values()):
        failing = ", ".join(name for name, status in checks.items() if status != "ok")
        raise ServiceUnavailable(
            Msg("not ready: {failing} unavailable", failing=failing), extra={"checks": checks}
        )
    return web.json_response({"status": "ok", "checks": checks})


async def _check_database(app: web.Application) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            async with app[appkeys.ENGINE].connect() as connection:
                await connection.execute(text("SELECT 1"))
    except Exception:  # any failure means "not ready"; the reason is logged by the driver
        return "unavailable"
    return "ok"


async def _check_redis(app: web.Application) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await app[appkeys.REDIS].ping()
    except Exception:
        return "unavailable"
    return "ok"


def setup(app: web.Application) -> None:
    app.router.add_get("/health/live", live, name="health_live")
    app.router.add_get("/health/ready", ready, name="health_ready")
