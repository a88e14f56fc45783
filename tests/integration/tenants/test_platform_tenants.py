"""Tenants: the operator's /platform/tenants (list, create, read, update), who may
reach it, and the operator bootstrap (seed and create-operator).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from protocol.roles import Role
from storage.models import Tenant
from storage.unit_of_work import PlatformUnitOfWork
from syncd.seed import SYSTEM_SLUG, create_operator, seed
from tests.support.factories import Account, login, make_tenant, signed_in
from tests.support.tenants import Sessions, audit_entries, operator, problem, stored_tenant

PLATFORM_ROUTES = [
    ("GET", "/platform/tenants"),
    ("POST", "/platform/tenants"),
    ("GET", "/platform/tenants/{id}"),
    ("PATCH", "/platform/tenants/{id}"),
]


async def test_platform_lists_filters_and_pages(client: Any, sessions: Sessions) -> None:
    ops = await operator(client, sessions)
    prefix = f"p{uuid.uuid4().hex[:8]}"
    for suffix, active in (("a", True), ("b", False), ("c", True)):
        await make_tenant(sessions, f"{prefix}-{suffix}", name=f"Shop {suffix}", is_active=active)
    response = await client.get(f"/platform/tenants?q={prefix}&limit=2", headers=ops.headers)
    assert response.status == 200
    first = await response.json()
    assert [t["slug"] for t in first["items"]] == [f"{prefix}-a", f"{prefix}-b"]
    assert first["items"][1]["is_active"] is False
    assert first["next_cursor"]
    second = await (
        await client.get(
            f"/platform/tenants?q={prefix}&limit=2&cursor={first['next_cursor']}",
            headers=ops.headers,
        )
    ).json()
    assert ([t["slug"] for t in second["items"]], second["next_cursor"]) == ([f"{prefix}-c"], None)
    active = await (
        await client.get(f"/platform/tenants?q={prefix.upper()}&active=true", headers=ops.headers)
    ).json()
    assert [t["slug"] for t in active["items"]] == [f"{prefix}-a", f"{prefix}-c"]
    inactive = await (
        await client.get(f"/platform/tenants?q={prefix}&active=false", headers=ops.headers)
    ).json()
    assert [t["slug"] for t in inactive["items"]] == [f"{prefix}-b"]
    wildcard = await (await client.get("/platform/tenants?q=%25_%25", headers=ops.headers)).json()
    assert wildcard["items"] == []  # LIKE wildcards in q are literal


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("active=yes", "validation_failed"),
        ("cursor=bm9wZQ", "invalid_cursor"),
        ("cursor=WzVd", "invalid_cursor"),
        ("limit=0", "validation_failed"),
    ],
)
async def test_platform_list_bad_query_is_422(
    client: Any, sessions: Sessions, query: str, code: str
) -> None:
    ops = await operator(client, sessions)
    await problem(await client.get(f"/platform/tenants?{query}", headers=ops.headers), 422, code)


async def test_platform_creates_a_tenant_with_its_first_admin(
    client: Any, sessions: Sessions
) -> None:
    ops = await operator(client, sessions)
    slug = f"new-{uuid.uuid4().hex[:8]}"
    body = {
        "slug": slug,
        "name": "New Co",
        "locale": "ar",
        "time_zone": "Asia/Dubai",
        "admin": {"email": "Boss@New.example", "password": "a-long-first-password"},
    }
    response = await client.post("/platform/tenants", json=body, headers=ops.headers)
    assert response.status == 201, await response.text()
    created = await response.json()
    assert (created["slug"], created["locale"], created["is_active"]) == (slug, "ar", True)
    assert created["admin"]["email"] == "boss@new.example"
    assert response.headers["Location"] == f"/platform/tenants/{created['id']}"
    tenant_id = uuid.UUID(created["id"])
    entry = (await audit_entries(sessions, tenant_id))[-1]
    assert (entry.action, entry.actor_id) == ("tenant_created", ops.user_id)
    assert entry.details["admin_email"] == "boss@new.example"
    # The new admin signs in to the new tenant and sees it.
    tenant = await stored_tenant(sessions, tenant_id)
    account = Account(tenant, uuid.UUID(created["admin"]["id"]), "boss@new.example", Role.ADMIN)
    await login(client, account, "a-long-first-password")
    own = await (await client.get("/tenant", headers=account.headers)).json()
    assert (own["id"], own["time_zone"]) == (created["id"], "Asia/Dubai")
    # Without an admin, and the slug can't be taken twice.
    bare = await client.post(
        "/platform/tenants", json={"slug": slug + "-2", "name": "Bare"}, headers=ops.headers
    )
    assert (await bare.json())["admin"] is None
    assert (await bare.json())["time_zone"] == "UTC"
    again = await client.post("/platform/tenants", json=body, headers=ops.headers)
    await problem(again, 409, "slug_taken")


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"slug": "system"}, 409, "slug_taken"),
        ({"slug": "www"}, 409, "slug_taken"),
        ({"slug": "Has Caps"}, 422, "validation_failed"),
        ({"slug": "-dash"}, 422, "validation_failed"),
        ({"time_zone": "Nowhere/Land"}, 422, "validation_failed"),
        ({"locale": "de"}, 422, "validation_failed"),
        (
            {"admin": {"email": "not-an-email", "password": "a-long-password-1"}},
            422,
            "validation_failed",
        ),
        ({"admin": {"email": "a@b.example", "password": "short"}}, 422, "password_policy"),
        ({"is_system": True}, 422, "validation_failed"),
    ],
)
async def test_platform_create_bad_input(
    client: Any, sessions: Sessions, change: dict[str, Any], status: int, code: str
) -> None:
    ops = await operator(client, sessions)
    body = {"slug": f"ok-{uuid.uuid4().hex[:8]}", "name": "Fine", **change}
    response = await client.post("/platform/tenants", json=body, headers=ops.headers)
    await problem(response, status, code)


async def test_platform_reads_and_updates_one_tenant(client: Any, sessions: Sessions) -> None:
    ops = await operator(client, sessions)
    admin = await signed_in(client, sessions)
    path = f"/platform/tenants/{admin.tenant.id}"
    got = await client.get(path, headers=ops.headers)
    assert (await got.json())["slug"] == admin.tenant.slug
    change = {"name": "Suspended Co", "is_active": False}
    stale = await client.patch(path, json=change, headers={**ops.headers, "If-Match": '"1"'})
    assert (await problem(stale, 412, "precondition_failed"))["current"]["is_active"] is True
    response = await client.patch(
        path, json=change, headers={**ops.headers, "If-Match": got.headers["ETag"]}
    )
    assert response.status == 200
    assert (await response.json())["is_active"] is False
    # A deactivated tenant answers nothing to its own users.
    await problem(await client.get("/tenant", headers=admin.headers), 404, "tenant_not_found")
    entry = (await audit_entries(sessions, admin.tenant.id))[-1]
    assert (entry.action, entry.actor_id, entry.details["via"]) == (
        "tenant_updated",
        ops.user_id,
        "platform",
    )
    assert entry.details["changes"]["is_active"] == {"from": True, "to": False}
    back = await client.patch(path, json={"is_active": True}, headers=ops.headers)
    assert back.status == 200
    assert (await client.get("/tenant", headers=admin.headers)).status == 200
    bad = await client.patch(path, json={"branding": {}}, headers=ops.headers)
    await problem(bad, 422, "validation_failed")


async def test_platform_unknown_tenant_is_404(client: Any, sessions: Sessions) -> None:
    ops = await operator(client, sessions)
    for path in (f"/platform/tenants/{uuid.uuid4()}", "/platform/tenants/not-a-uuid"):
        await problem(await client.get(path, headers=ops.headers), 404, "tenant_not_found")
        response = await client.patch(path, json={"name": "x"}, headers=ops.headers)
        await problem(response, 404, "tenant_not_found")


async def test_the_system_tenant_cannot_be_deactivated(client: Any, sessions: Sessions) -> None:
    ops = await operator(client, sessions)
    path = f"/platform/tenants/{ops.tenant.id}"
    response = await client.patch(path, json={"is_active": False}, headers=ops.headers)
    await problem(response, 409, "system_tenant_locked")
    assert (await stored_tenant(sessions, ops.tenant.id)).is_active
    renamed = await client.patch(path, json={"name": "Platform HQ"}, headers=ops.headers)
    assert renamed.status == 200


async def test_platform_routes_refuse_everyone_but_operators(
    client: Any, sessions: Sessions
) -> None:
    admin = await signed_in(client, sessions)
    # The flag only counts on a user of a system tenant.
    flagged = await signed_in(client, sessions, Role.ADMIN, is_platform_operator=True)
    system = await make_tenant(sessions, is_system=True)
    plain_system_admin = await signed_in(client, sessions, Role.ADMIN, system)
    for account in (admin, flagged, plain_system_admin):
        for method, template in PLATFORM_ROUTES:
            path = template.format(id=admin.tenant.id)
            kwargs: dict[str, Any] = {"headers": account.headers}
            if method in ("POST", "PATCH"):
                kwargs["json"] = {"slug": f"x-{uuid.uuid4().hex[:6]}", "name": "X"}
                if method == "PATCH":
                    kwargs["json"] = {"name": "Taken over"}
            response = await client.request(method, path, **kwargs)
            await problem(response, 403, "permission_denied")
    assert (await stored_tenant(sessions, admin.tenant.id)).name == admin.tenant.name
    me = await (await client.get("/auth/me", headers=flagged.headers)).json()
    assert me["is_platform_operator"] is False


async def test_an_operator_reaches_other_tenants_only_through_platform(
    client: Any, sessions: Sessions
) -> None:
    ops = await operator(client, sessions)
    other = await signed_in(client, sessions)
    crossing = {**ops.headers, "X-Tenant": other.tenant.slug}
    await problem(await client.get("/tenant", headers=crossing), 403, "tenant_mismatch")
    own = await (await client.get("/tenant", headers=ops.headers)).json()
    assert own["id"] == str(ops.tenant.id)


async def test_seed_and_create_operator_make_a_working_operator(
    client: Any, sessions: Sessions
) -> None:
    await seed(sessions, "admin@demo.example", "a-strong-password-1")
    email = f"ops-{uuid.uuid4().hex[:8]}@example.com"
    created = await create_operator(sessions, email, "an-operator-password", rounds=4)
    assert (created.created, created.generated_password) == (True, None)
    promoted = await create_operator(sessions, email, None, rounds=4)
    assert (promoted.created, promoted.password_set) == (False, False)
    async with PlatformUnitOfWork(sessions) as uow:
        system = (
            await uow.session.execute(select(Tenant).where(Tenant.slug == SYSTEM_SLUG))
        ).scalar_one()
        uow.session.expunge_all()
    assert system.is_system
    account = await login(
        client, Account(system, uuid.uuid4(), email, Role.ADMIN), "an-operator-password"
    )
    response = await client.get(f"/platform/tenants?q={SYSTEM_SLUG}", headers=account.headers)
    assert response.status == 200
    assert SYSTEM_SLUG in [t["slug"] for t in (await response.json())["items"]]
