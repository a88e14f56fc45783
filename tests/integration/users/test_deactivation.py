"""Users: deactivation ends every session and live connection; reactivation; refusals."""

from __future__ import annotations

import uuid
from typing import Any

from protocol.roles import Role
from syncd.admin.audit import NOWHERE
from syncd.auth.principal import Principal
from syncd.auth.ratelimit import MemoryLimiter
from syncd.auth.service import AuthService
from syncd.users.service import UserService
from tests.support.factories import PASSWORD, login, make_tenant, make_user, signed_in
from tests.support.users import Sessions, audit_entries, problem_code, stored_user


async def test_deactivation_ends_every_session_at_once(client: Any, sessions: Sessions) -> None:
    admin = await signed_in(client, sessions)
    worker = await signed_in(client, sessions, Role.TECHNICIAN, tenant=admin.tenant)
    first_refresh, first_headers = worker.refresh_token, dict(worker.headers)
    await login(client, worker)  # a second device
    response = await client.post(f"/users/{worker.user_id}/deactivate", headers=admin.headers)
    assert response.status == 200
    assert (await response.json())["status"] == "inactive"
    for headers in (first_headers, worker.headers):
        me = await client.get("/auth/me", headers=headers)
        assert me.status == 401
        assert await problem_code(me) == "session_revoked"
    for token in (first_refresh, worker.refresh_token):
        refreshed = await client.post("/auth/refresh", json={"refresh_token": token})
        assert refreshed.status == 401
        assert await problem_code(refreshed) == "refresh_invalid"
    relogin = await client.post(
        "/auth/login",
        json={"email": worker.email, "password": PASSWORD},
        headers={"X-Tenant": admin.tenant.slug},
    )
    assert relogin.status == 401
    assert (await stored_user(sessions, admin.tenant, worker.user_id)).status == "inactive"

    back = await client.post(f"/users/{worker.user_id}/activate", headers=admin.headers)
    assert (await back.json())["status"] == "active"
    await login(client, worker)
    assert (await client.get("/auth/me", headers=worker.headers)).status == 200
    actions = [e.action for e in await audit_entries(sessions, admin.tenant)]
    assert actions.count("user_deactivated") == 1
    assert actions.count("user_activated") == 1


async def test_deactivation_refusals(client: Any, sessions: Sessions) -> None:
    admin = await signed_in(client, sessions)
    myself = await client.post(f"/users/{admin.user_id}/deactivate", headers=admin.headers)
    assert myself.status == 409
    assert await problem_code(myself) == "self_deactivation"
    assert (await client.get("/auth/me", headers=admin.headers)).status == 200
    for action in ("deactivate", "activate"):
        missing = await client.post(f"/users/{uuid.uuid4()}/{action}", headers=admin.headers)
        assert missing.status == 404
        assert await problem_code(missing) == "user_not_found"


class RecordingCloser:
    """A SessionCloser that remembers whom it was asked to disconnect."""

    def __init__(self) -> None:
        self.closed: list[tuple[uuid.UUID, uuid.UUID]] = []

    async def close_user(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> int:
        self.closed.append((tenant_id, user_id))
        return 1


async def test_deactivation_closes_live_connections_through_the_hook(
    sessions: Sessions, settings: Any
) -> None:
    tenant = await make_tenant(sessions)
    admin = await make_user(sessions, tenant, Role.ADMIN)
    staff = await make_user(sessions, tenant, Role.STAFF)
    closer = RecordingCloser()
    auth = AuthService(settings, sessions, MemoryLimiter(60))
    service = UserService(settings, sessions, auth, closer=closer)
    who = Principal(admin.user_id, tenant.id, Role.ADMIN, uuid.uuid4(), admin.email)
    await service.deactivate(NOWHERE, who, staff.user_id)
    await service.deactivate(NOWHERE, who, staff.user_id)  # already inactive: nothing to close
    assert closer.closed == [(tenant.id, staff.user_id)]
