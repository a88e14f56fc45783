"""Tenants: the operator's /platform/tenants, a tenant's own /tenant and its logo.

Every endpoint has a cross-tenant case: another tenant's token reads, changes
and deletes nothing of a tenant it does not belong to.
"""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from storage.models import AuditEntry, Tenant
from storage.unit_of_work import PlatformUnitOfWork, TenantUnitOfWork
from syncd.app import create_app
from syncd.seed import SYSTEM_SLUG, create_operator, seed
from syncd.settings import Settings
from tests.support.factories import Account, login, make_tenant, signed_in
from tests.support.services import make_settings

Sessions = async_sessionmaker[AsyncSession]
PLATFORM_ROUTES = [
    ("GET", "/platform/tenants"),
    ("POST", "/platform/tenants"),
    ("GET", "/platform/tenants/{id}"),
    ("PATCH", "/platform/tenants/{id}"),
]


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (24, 12), noise: bool = False) -> bytes:
    if noise:
        image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    else:
        image = Image.new("RGB", size, (15, 118, 110))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


async def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body: dict[str, Any] = await response.json(content_type=None)
    assert body["code"] == code, body
    return body


async def audit_entries(sessions: Sessions, tenant_id: uuid.UUID) -> list[AuditEntry]:
    async with TenantUnitOfWork(sessions, tenant_id) as uow:
        rows = await uow.session.execute(select(AuditEntry).order_by(AuditEntry.id))
        entries = list(rows.scalars())
        uow.session.expunge_all()
    return entries


async def stored_tenant(sessions: Sessions, tenant_id: uuid.UUID) -> Tenant:
    async with PlatformUnitOfWork(sessions) as uow:
        tenant = await uow.session.get(Tenant, tenant_id)
        uow.session.expunge_all()
    assert tenant is not None
    return tenant


def logo_files(settings: Settings, tenant_id: uuid.UUID) -> list[str]:
    folder = settings.blob_root / "tenants" / str(tenant_id) / "branding"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


async def operator(client: Any, sessions: Sessions) -> Account:
    system = await make_tenant(sessions, is_system=True)
    return await signed_in(client, sessions, Role.ADMIN, system, is_platform_operator=True)


async def put_logo(client: Any, account: Account, data: Any, content_type: str) -> Any:
    headers = {**account.headers, "Content-Type": content_type}
    return await client.put("/tenant/logo", data=data, headers=headers)


# --- GET /tenant ---------------------------------------------------------------


async def test_get_own_tenant(client: Any, sessions: Sessions) -> None:
    tenant = await make_tenant(sessions, name="Acme Field", locale="ar", time_zone="Asia/Riyadh")
    technician = await signed_in(client, sessions, Role.TECHNICIAN, tenant)
    response = await client.get("/tenant", headers=technician.headers)
    assert response.status == 200
    body = await response.json()
    assert body["id"] == str(tenant.id)
    assert (body["slug"], body["name"], body["locale"], body["time_zone"]) == (
        tenant.slug,
        "Acme Field",
        "ar",
        "Asia/Riyadh",
    )
    assert body["branding"] == {
        "primary_color": "#0f766e",
        "secondary_color": "#334155",
        "logo_url": None,
    }
    assert response.headers["ETag"].startswith('"')


async def test_get_tenant_sees_only_the_callers_tenant(client: Any, sessions: Sessions) -> None:
    alice = await signed_in(client, sessions)
    bob = await signed_in(client, sessions)
    mine = await (await client.get("/tenant", headers=bob.headers)).json()
    assert mine["id"] == str(bob.tenant.id)
    assert str(alice.tenant.id) not in str(mine)
    crossing = {**bob.headers, "X-Tenant": alice.tenant.slug}
    await problem(await client.get("/tenant", headers=crossing), 403, "tenant_mismatch")


# --- PATCH /tenant -------------------------------------------------------------


async def test_patch_own_tenant_changes_it_and_audits(client: Any, sessions: Sessions) -> None:
    admin = await signed_in(client, sessions)
    before = await client.get("/tenant", headers=admin.headers)
    change = {
        "name": "  Renamed Co  ",
        "locale": "ar",
        "time_zone": "Africa/Cairo",
        "branding": {"primary_color": "#AA00FF", "secondary_color": "#000000"},
    }
    response = await client.patch("/tenant", json=change, headers=admin.headers)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert (body["name"], body["locale"], body["time_zone"]) == ("Renamed Co", "ar", "Africa/Cairo")
    assert body["branding"]["primary_color"] == "#aa00ff"
    assert response.headers["ETag"] != before.headers["ETag"]
    again = await client.get("/tenant", headers=admin.headers)
    assert await again.json() == body
    assert again.headers["ETag"] == response.headers["ETag"]
    entry = (await audit_entries(sessions, admin.tenant.id))[-1]
    assert (entry.action, entry.actor_id, entry.target_id) == (
        "tenant_updated",
        admin.user_id,
        str(admin.tenant.id),
    )
    assert entry.details["changes"]["name"] == {"from": admin.tenant.name, "to": "Renamed Co"}
    assert entry.details["changes"]["branding.primary_color"] == {"from": None, "to": "#aa00ff"}
    # null restores a default colour; an empty patch changes (and audits) nothing
    reset = await client.patch(
        "/tenant", json={"branding": {"primary_color": None}}, headers=admin.headers
    )
    assert (await reset.json())["branding"]["primary_color"] == "#0f766e"
    count = len(await audit_entries(sessions, admin.tenant.id))
    same = await client.patch("/tenant", json={}, headers=admin.headers)
    assert same.headers["ETag"] == reset.headers["ETag"]
    assert len(await audit_entries(sessions, admin.tenant.id)) == count


async def test_patch_with_a_stale_if_match_is_412_with_the_current_tenant(
    client: Any, sessions: Sessions
) -> None:
    admin = await signed_in(client, sessions)
    tag = (await client.get("/tenant", headers=admin.headers)).headers["ETag"]
    first = await client.patch(
        "/tenant", json={"name": "First"}, headers={**admin.headers, "If-Match": tag}
    )
    assert first.status == 200
    stale = await client.patch(
        "/tenant", json={"name": "Second"}, headers={**admin.headers, "If-Match": tag}
    )
    body = await problem(stale, 412, "precondition_failed")
    assert body["current"]["name"] == "First"
    assert stale.headers["ETag"] == first.headers["ETag"]
    assert (await stored_tenant(sessions, admin.tenant.id)).name == "First"
    tag = first.headers["ETag"]
    for number, given in enumerate(("W/{}", '"0", {}', "*")):
        ok = await client.patch(
            "/tenant",
            json={"name": f"Name {number}"},
            headers={**admin.headers, "If-Match": given.format(tag)},
        )
        assert ok.status == 200, given
        tag = ok.headers["ETag"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"time_zone": "../../etc/passwd"}, "time_zone"),
        ({"locale": "fr"}, "locale"),
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"branding": {"primary_color": "red"}}, "branding.primary_color"),
        ({"branding": {"secondary_color": "#12345"}}, "branding.secondary_color"),
        ({"branding": {"logo_url": "http://evil.example/x.png"}}, "branding.logo_url"),
        ({"is_active": False}, "is_active"),
        ({"slug": "new-slug"}, "slug"),
    ],
)
async def test_patch_bad_input_is_422_naming_the_field(
    client: Any, sessions: Sessions, change: dict[str, Any], field: str
) -> None:
    admin = await signed_in(client, sessions)
    response = await client.patch("/tenant", json=change, headers=admin.headers)
    body = await problem(response, 422, "validation_failed")
    assert [error["field"] for error in body["errors"]] == [field]


async def test_patch_wants_json_and_the_manage_permission(client: Any, sessions: Sessions) -> None:
    tenant = await make_tenant(sessions)
    admin = await signed_in(client, sessions, Role.ADMIN, tenant)
    response = await client.patch(
        "/tenant", data="name=x", headers={**admin.headers, "Content-Type": "text/plain"}
    )
    await problem(response, 415, "unsupported_media_type")
    for role in (Role.STAFF, Role.TECHNICIAN):
        account = await signed_in(client, sessions, role, tenant)
        response = await client.patch("/tenant", json={"name": "x"}, headers=account.headers)
        await problem(response, 403, "permission_denied")
    assert (await stored_tenant(sessions, tenant.id)).name == tenant.name


async def test_patch_cannot_touch_another_tenant(client: Any, sessions: Sessions) -> None:
    alice = await signed_in(client, sessions)
    bob = await signed_in(client, sessions)
    crossing = {**bob.headers, "X-Tenant": alice.tenant.slug}
    response = await client.patch("/tenant", json={"name": "Pwned"}, headers=crossing)
    await problem(response, 403, "tenant_mismatch")
    mine = await client.patch("/tenant", json={"name": "Bob's"}, headers=bob.headers)
    assert (await mine.json())["id"] == str(bob.tenant.id)
    assert (await stored_tenant(sessions, alice.tenant.id)).name == alice.tenant.name
    assert [e.action for e in await audit_entries(sessions, alice.tenant.id)] == ["login"]


# --- the logo ------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "content_type"), [("PNG", "image/png"), ("WEBP", "image/webp")])
async def test_logo_upload_read_replace_delete(
    client: Any, sessions: Sessions, settings: Settings, fmt: str, content_type: str
) -> None:
    admin = await signed_in(client, sessions)
    tag = (await client.get("/tenant", headers=admin.headers)).headers["ETag"]
    data = image_bytes(fmt)
    response = await put_logo(client, admin, data, content_type)
    assert response.status == 200, await response.text()
    logo_url = (await response.json())["branding"]["logo_url"]
    assert logo_url.startswith("/tenant/logo?v=")
    assert response.headers["ETag"] != tag
    technician = await signed_in(client, sessions, Role.TECHNICIAN, admin.tenant)
    got = await client.get(logo_url, headers=technician.headers)
    assert got.status == 200
    assert got.headers["Content-Type"] == content_type
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert got.headers["X-Request-ID"]
    assert await got.read() == data
    head = await client.head(logo_url, headers=technician.headers)
    assert (head.status, head.headers["Content-Length"]) == (200, str(len(data)))
    assert await head.read() == b""
    [first_file] = logo_files(settings, admin.tenant.id)

    jpeg = image_bytes("JPEG", (40, 40))
    replaced = await put_logo(client, admin, jpeg, "image/jpeg")
    assert replaced.status == 200
    got = await client.get("/tenant/logo", headers=admin.headers)
    assert (got.headers["Content-Type"], await got.read()) == ("image/jpeg", jpeg)
    assert first_file not in logo_files(settings, admin.tenant.id)  # the old one is gone
    assert len(logo_files(settings, admin.tenant.id)) == 1

    deleted = await client.delete("/tenant/logo", headers=admin.headers)
    assert deleted.status == 204
    assert logo_files(settings, admin.tenant.id) == []
    await problem(await client.get("/tenant/logo", headers=admin.headers), 404, "logo_not_found")
    await problem(await client.delete("/tenant/logo", headers=admin.headers), 404, "logo_not_found")
    assert (await (await client.get("/tenant", headers=admin.headers)).json())["branding"][
        "logo_url"
    ] is None
    entries = await audit_entries(sessions, admin.tenant.id)
    logo_entries = [e for e in entries if e.action.startswith("tenant_logo")]
    assert [e.action for e in logo_entries] == [
        "tenant_logo_updated",
        "tenant_logo_updated",
        "tenant_logo_deleted",
    ]
    assert logo_entries[0].details == {
        "content_type": content_type,
        "size": len(data),
        "width": 24,
        "height": 12,
    }


@pytest.mark.parametrize(
    ("content_type", "data", "status", "code"),
    [
        ("text/plain", b"hello", 415, "unsupported_media_type"),
        ("image/gif", b"GIF89a", 415, "unsupported_media_type"),
        ("application/octet-stream", b"\x89PNG", 415, "unsupported_media_type"),
        ("image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, 422, "invalid_image"),
        ("image/png", b"", 422, "invalid_image"),
        ("image/png", image_bytes("PNG")[:-30], 422, "invalid_image"),
        ("image/jpeg", image_bytes("PNG"), 422, "invalid_image"),
        ("image/webp", b"RIFF\x10\x00\x00\x00WEBPVP8 garbage", 422, "invalid_image"),
    ],
)
async def test_logo_refuses_what_is_not_the_declared_image(
    client: Any,
    sessions: Sessions,
    settings: Settings,
    content_type: str,
    data: bytes,
    status: int,
    code: str,
) -> None:
    admin = await signed_in(client, sessions)
    good = image_bytes("PNG")
    assert (await put_logo(client, admin, good, "image/png")).status == 200
    await problem(await put_logo(client, admin, data, content_type), status, code)
    got = await client.get("/tenant/logo", headers=admin.headers)
    assert await got.read() == good  # the current logo is untouched
    assert len(logo_files(settings, admin.tenant.id)) == 1
    actions = [e.action for e in await audit_entries(sessions, admin.tenant.id)]
    assert actions.count("tenant_logo_updated") == 1


async def test_logo_with_too_many_pixels_is_refused(client: Any, sessions: Sessions) -> None:
    admin = await signed_in(client, sessions)
    buffer = io.BytesIO()
    Image.new("L", (5000, 4000), 0).save(buffer, format="PNG")  # small file, 20 Mpx
    response = await put_logo(client, admin, buffer.getvalue(), "image/png")
    body = await problem(response, 422, "invalid_image")
    assert "pixels" in body["detail"]


async def test_a_logo_whose_file_vanished_is_404(
    client: Any, sessions: Sessions, settings: Settings
) -> None:
    admin = await signed_in(client, sessions)
    assert (await put_logo(client, admin, image_bytes(), "image/png")).status == 200
    folder = settings.blob_root / "tenants" / str(admin.tenant.id) / "branding"
    for file in folder.iterdir():
        file.unlink()
    await problem(await client.get("/tenant/logo", headers=admin.headers), 404, "logo_not_found")
    assert (await client.delete("/tenant/logo", headers=admin.headers)).status == 204


async def test_logo_larger_than_the_limit_is_413(
    database_url: str, tmp_path: Path, aiohttp_client: Any, sessions: Sessions
) -> None:
    settings = make_settings(tmp_path, DATABASE_URL=database_url, MAX_LOGO_BYTES="4096")
    client = await aiohttp_client(create_app(settings))
    admin = await signed_in(client, sessions)
    big = image_bytes("PNG", (64, 64), noise=True)
    assert len(big) > 4096
    await problem(await put_logo(client, admin, big, "image/png"), 413, "logo_too_large")

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: caught while streaming
        for start in range(0, len(big), 1000):
            yield big[start : start + 1000]

    await problem(await put_logo(client, admin, chunked(), "image/png"), 413, "logo_too_large")
    assert logo_files(settings, admin.tenant.id) == []
    small = image_bytes("PNG")
    assert (await put_logo(client, admin, small, "image/png")).status == 200


async def test_logo_needs_manage_to_change_and_read_to_see(client: Any, sessions: Sessions) -> None:
    tenant = await make_tenant(sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    await problem(
        await put_logo(client, staff, image_bytes(), "image/png"), 403, "permission_denied"
    )
    await problem(
        await client.delete("/tenant/logo", headers=staff.headers), 403, "permission_denied"
    )
    await problem(await client.get("/tenant/logo", headers=staff.headers), 404, "logo_not_found")
    await problem(
        await client.get("/tenant/logo", headers={"X-Tenant": tenant.slug}), 401, "token_missing"
    )


async def test_a_tenants_logo_is_invisible_to_another_tenant(
    client: Any, sessions: Sessions, settings: Settings
) -> None:
    alice = await signed_in(client, sessions)
    bob = await signed_in(client, sessions)
    data = image_bytes()
    assert (await put_logo(client, alice, data, "image/png")).status == 200
    await problem(await client.get("/tenant/logo", headers=bob.headers), 404, "logo_not_found")
    crossing = {**bob.headers, "X-Tenant": alice.tenant.slug}
    await problem(await client.get("/tenant/logo", headers=crossing), 403, "tenant_mismatch")
    await problem(await client.delete("/tenant/logo", headers=crossing), 403, "tenant_mismatch")
    await problem(await client.delete("/tenant/logo", headers=bob.headers), 404, "logo_not_found")
    other = image_bytes("PNG", (8, 8))
    response = await client.put(
        "/tenant/logo", data=other, headers={**crossing, "Content-Type": "image/png"}
    )
    await problem(response, 403, "tenant_mismatch")
    # Bob's own upload lands in Bob's tenant only.
    assert (await put_logo(client, bob, other, "image/png")).status == 200
    got = await client.get("/tenant/logo", headers=alice.headers)
    assert await got.read() == data
    assert len(logo_files(settings, alice.tenant.id)) == 1
    actions = [e.action for e in await audit_entries(sessions, alice.tenant.id)]
    assert actions.count("tenant_logo_updated") == 1


# --- /platform/tenants ---------------------------------------------------------


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


# --- operator bootstrap (seed and create-operator, on both databases) -----------


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
