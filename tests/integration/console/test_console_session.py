"""The console's session and forms: the cookie, its token family, CSRF, the throttle.

The cookie is bound to a refresh-token family of the API's own login, so
whatever ends that family (the console's logout, deactivation, a password
change elsewhere) ends the console session at its next request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from storage.models import AuditEntry
from storage.unit_of_work import TenantUnitOfWork
from syncd.app import create_app
from syncd.console.session import SESSION_COOKIE
from tests.support.console import Console
from tests.support.console_world import team, two_phone_conflict
from tests.support.factories import PASSWORD, login, signed_in
from tests.support.services import make_settings

Sessions = async_sessionmaker[AsyncSession]


def to_sign_in(response: Any) -> bool:
    return response.status == 303 and response.headers["Location"].startswith("/console/login")


async def test_sign_in_sets_a_strict_session_cookie(client: Any, sessions: Sessions) -> None:
    admin = await signed_in(client, sessions, Role.ADMIN)
    console = Console(client)
    landed = await console.sign_in(admin)
    assert landed.headers["Location"] == "/console/"
    header = next(h for h in console.set_cookies if h.startswith(SESSION_COOKIE + "="))
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")}
    assert {"httponly", "secure", "path", "max-age"} <= attributes
    assert "SameSite=Strict" in header
    assert "Path=/console" in header
    home, _ = await console.get("/console/")
    assert home.headers["Location"] == "/console/inbox"
    page, text = await console.get("/console/inbox")
    assert page.status == 200
    assert admin.email in text
    async with TenantUnitOfWork(sessions, admin.tenant.id) as uow:
        actions = (await uow.session.execute(select(AuditEntry.action))).scalars().all()
    assert actions.count("login") == 2  # the API's and the console's: the same login


async def test_logout_ends_the_family_so_the_old_cookie_is_dead(
    client: Any, sessions: Sessions
) -> None:
    admin = await signed_in(client, sessions, Role.ADMIN)
    console = Console(client)
    await console.sign_in(admin)
    await console.get("/console/inbox")
    kept = dict(console.cookies)
    out, _ = await console.post("/console/logout", {})
    assert out.headers["Location"] == "/console/login?notice=signed_out"
    assert SESSION_COOKIE not in console.cookies
    replay = Console(client)
    replay.cookies = kept
    fragment, body = await replay.get("/console/inbox/rows", {"X-Console-Fragment": "1"})
    assert fragment.status == 401  # a script's request: the problem, for the page to reload
    assert fragment.content_type == "application/problem+json"
    assert '"code": "session_revoked"' in body
    replay.cookies = kept
    assert to_sign_in((await replay.get("/console/inbox"))[0])
    assert SESSION_COOKIE not in replay.cookies  # the dead cookie is cleared
    # The API sign-in of the same person is another family: untouched.
    me = await client.get("/auth/me", headers=admin.headers)
    assert me.status == 200


async def test_deactivation_and_a_password_change_end_console_sessions(
    client: Any, sessions: Sessions
) -> None:
    world = await team(client, sessions)
    other_admin = await signed_in(client, sessions, Role.ADMIN, world.tenant)
    console = Console(client)
    await console.sign_in(world.admin)
    assert (await console.get("/console/inbox"))[0].status == 200
    changed = await client.post(
        "/users/me/password",
        json={"current_password": PASSWORD, "new_password": "another-good-passphrase"},
        headers=world.admin.headers,
    )
    assert changed.status == 204, await changed.text()
    assert to_sign_in((await console.get("/console/inbox"))[0])

    staff_console = Console(client)
    await staff_console.sign_in(world.staff)
    assert (await staff_console.get("/console/tasks"))[0].status == 200
    gone = await client.post(
        f"/users/{world.staff.user_id}/deactivate", headers=other_admin.headers
    )
    assert gone.status == 200, await gone.text()
    assert to_sign_in((await staff_console.get("/console/tasks"))[0])


async def test_the_login_throttle_applies(
    database_url: str, tmp_path: Path, aiohttp_client: Any, sessions: Sessions
) -> None:
    app: web.Application = create_app(
        make_settings(tmp_path, DATABASE_URL=database_url, LOGIN_RATE_LIMIT="2")
    )
    client = await aiohttp_client(app)
    admin = await signed_in(client, sessions, Role.ADMIN)
    console = Console(client)
    await console.get("/console/login")
    fields = {"tenant": admin.tenant.slug, "email": admin.email}
    for _ in range(2):
        wrong, text = await console.post("/console/login", {**fields, "password": "nope-nope-nope"})
        assert wrong.status == 401
        assert "invalid_credentials" in text
    throttled, text = await console.post("/console/login", {**fields, "password": PASSWORD})
    assert throttled.status == 429, text
    assert "login_throttled" in text
    assert int(throttled.headers["Retry-After"]) > 0
    assert SESSION_COOKIE not in console.cookies


async def test_forms_without_the_right_csrf_token_are_refused(
    client: Any, sessions: Sessions
) -> None:
    world = await team(client, sessions)
    made = await two_phone_conflict(client, world)
    console = Console(client)
    await console.get("/console/login")
    before_sign_in = console.token
    bare, text = await console.post(
        "/console/login",
        {"tenant": world.tenant.slug, "email": world.admin.email, "password": PASSWORD},
        token=False,
    )
    assert bare.status == 403
    assert "csrf_failed" in text
    await console.sign_in(world.admin)
    await console.get(f"/console/conflicts/{made.conflict_id}")
    resolve = f"/console/conflicts/{made.conflict_id}/resolve"
    missing, text = await console.post(resolve, {"resolution": "keep_server"}, token=False)
    assert missing.status == 403
    assert "csrf_failed" in text
    console.token, current = before_sign_in, console.token  # a token of before the sign-in
    stale, _ = await console.post(resolve, {"resolution": "keep_server"})
    assert stale.status == 403
    elsewhere = Console(client)  # another browser's token, with this browser's cookies
    await elsewhere.get("/console/login")
    console.token = elsewhere.token
    foreign, _ = await console.post(resolve, {"resolution": "keep_server"})
    assert foreign.status == 403
    still = await client.get(f"/conflicts/{made.conflict_id}", headers=world.admin.headers)
    assert (await still.json())["status"] == "open"
    console.token = current
    done, _ = await console.post(resolve, {"resolution": "keep_server"})
    assert done.status == 303


async def test_next_leads_only_within_the_console(client: Any, sessions: Sessions) -> None:
    admin = await signed_in(client, sessions, Role.ADMIN)
    for given, lands in (
        ("/console/devices", "/console/devices"),
        ("//evil.example/console/", "/console/"),
        ("https://evil.example/console/", "/console/"),
        ("/console\\@evil.example", "/console/"),
        ("/tasks", "/console/"),
    ):
        console = Console(client)
        await console.get("/console/login")
        response, _ = await console.post(
            "/console/login",
            {
                "tenant": admin.tenant.slug,
                "email": admin.email,
                "password": PASSWORD,
                "next": given,
            },
        )
        assert response.headers["Location"] == lands, given
    signed_out = Console(client)
    response, _ = await signed_out.get("/console/rejections?status=all")
    assert (
        response.headers["Location"] == "/console/login?next=%2Fconsole%2Frejections%3Fstatus%3Dall"
    )
    front, _ = await signed_out.get("/")
    assert front.status == 303
    assert front.headers["Location"] == "/console/"


async def test_an_unknown_tenant_or_a_wrong_password_shows_the_form_again(
    client: Any, sessions: Sessions
) -> None:
    admin = await signed_in(client, sessions, Role.ADMIN)
    console = Console(client)
    await console.get("/console/login")
    unknown, text = await console.post(
        "/console/login", {"tenant": "no-such-org", "email": admin.email, "password": PASSWORD}
    )
    assert unknown.status == 404
    assert "tenant_not_found" in text
    assert 'id="email"' in text
    await login(client, admin)
    wrong, text = await console.post(
        "/console/login", {"tenant": admin.tenant.slug, "email": admin.email, "password": "x" * 80}
    )
    assert wrong.status == 401
    assert "invalid_credentials" in text
