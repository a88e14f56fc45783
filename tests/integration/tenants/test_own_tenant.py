"""Tenants: a tenant's own GET and PATCH /tenant (If-Match, validation, permission),
and another tenant's token reads and changes nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from protocol.roles import Role
from tests.support.factories import make_tenant, signed_in
from tests.support.tenants import Sessions, audit_entries, problem, stored_tenant


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
