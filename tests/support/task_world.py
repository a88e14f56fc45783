"""A tenant's team for the tasks-over-REST tests (staff, technician, admin), a
device's clock, and a place on the map.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from tests.support.factories import Account, make_tenant, signed_in

Sessions = async_sessionmaker[AsyncSession]
GEO = {"lat": 24.7136, "lng": 46.6753, "accuracy_m": 12.5}


def clock() -> Callable[[int], str]:
    """A device's clock: `at(minutes)` reads it `minutes` after now."""
    start = datetime.now(UTC).replace(microsecond=0)

    def at(minutes: int) -> str:
        return (start + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")

    return at


async def team(client: Any, sessions: Sessions) -> tuple[Account, Account, Account]:
    tenant = await make_tenant(sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    tech = await signed_in(client, sessions, Role.TECHNICIAN, tenant)
    admin = await signed_in(client, sessions, Role.ADMIN, tenant)
    return staff, tech, admin
