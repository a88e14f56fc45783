"""Users: changing one's own password keeps this session and ends the others;
refusals and throttling.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from protocol.roles import Role
from syncd.app import create_app
from tests.support.factories import PASSWORD, login, signed_in
from tests.support.services import make_settings
from tests.support.users import NEW_PASSWORD, Sessions, audit_entries, change_password, problem_code


async def test_password_change_keeps_this_session_and_ends_the_others(
    client: Any, sessions: Sessions
) -> None:
    me = await signed_in(client, sessions, Role.TECHNICIAN)
    other_headers, other_refresh = dict(me.headers), me.refresh_token
    await login(client, me)  # this session
    response = await change_password(client, me, PASSWORD, NEW_PASSWORD)
    assert response.status == 204
    assert (await client.get("/auth/me", headers=me.headers)).status == 200
    refreshed = await client.post("/auth/refresh", json={"refresh_token": me.refresh_token})
    assert refreshed.status == 200
    stale = await client.get("/auth/me", headers=other_headers)
    assert await problem_code(stale) == "session_revoked"
    dead = await client.post("/auth/refresh", json={"refresh_token": other_refresh})
    assert dead.status == 401
    old = await client.post(
        "/auth/login",
        json={"email": me.email, "password": PASSWORD},
        headers={"X-Tenant": me.tenant.slug},
    )
    assert old.status == 401
    await login(client, me, NEW_PASSWORD)
    actions = [e.action for e in await audit_entries(sessions, me.tenant)]
    assert actions.count("password_changed") == 1


async def test_password_change_refusals(client: Any, sessions: Sessions) -> None:
    me = await signed_in(client, sessions, Role.STAFF)
    wrong = await change_password(client, me, "not-my-password", NEW_PASSWORD)
    assert wrong.status == 401
    assert await problem_code(wrong) == "invalid_credentials"
    for new in ("short", "ش" * 40, PASSWORD):
        response = await change_password(client, me, PASSWORD, new)
        assert response.status == 422, new
        body = await response.json(content_type=None)
        assert body["code"] == "password_policy"
        assert body["errors"][0]["field"] == "new_password"
    missing = await client.post("/users/me/password", json={}, headers=me.headers)
    assert await problem_code(missing) == "validation_failed"
    await login(client, me)  # still the old password


async def test_password_guessing_is_throttled(
    database_url: str, tmp_path: Path, aiohttp_client: Any, sessions: Sessions
) -> None:
    settings = make_settings(tmp_path, DATABASE_URL=database_url, LOGIN_RATE_LIMIT="2")
    client = await aiohttp_client(create_app(settings))
    me = await signed_in(client, sessions, Role.STAFF)
    for _ in range(2):
        assert (await change_password(client, me, "guess-guess-1", NEW_PASSWORD)).status == 401
    throttled = await change_password(client, me, PASSWORD, NEW_PASSWORD)
    assert throttled.status == 429
    assert "Retry-After" in throttled.headers
