"""Users: list (filters, pages), read one, and who may list and manage."""

from __future__ import annotations

import uuid
from typing import Any

from protocol.roles import Role
from tests.support.factories import make_tenant, make_user, signed_in
from tests.support.users import Sessions, invite, invited, list_ids, problem_code


async def test_list_filters(client: Any, sessions: Sessions) -> None:
    tenant = await make_tenant(sessions)
    admin = await signed_in(client, sessions, tenant=tenant)
    tech = await make_user(
        sessions, tenant, Role.TECHNICIAN, email="field.tech@example.com", display_name="Omar"
    )
    staff = await make_user(sessions, tenant, Role.STAFF, display_name="Dana 100%_sure")
    gone = await make_user(sessions, tenant, Role.STAFF, status="inactive")
    pending = (await invited(client, admin, "new@example.com", role="technician"))["user"]["id"]
    assert set(await list_ids(client, admin, "?role=technician")) == {str(tech.user_id), pending}
    assert await list_ids(client, admin, "?status=inactive") == [str(gone.user_id)]
    assert await list_ids(client, admin, "?status=pending&role=technician") == [pending]
    assert await list_ids(client, admin, "?q=FIELD.T") == [str(tech.user_id)]
    assert await list_ids(client, admin, "?q=omar") == [str(tech.user_id)]
    assert await list_ids(client, admin, "?q=100%25_") == [str(staff.user_id)]  # literal % _
    assert await list_ids(client, admin, "?q=0%25") == [str(staff.user_id)]
    assert await list_ids(client, admin, "?q=nobody-like-this") == []
    everyone = await client.get("/users", headers=admin.headers)
    items = (await everyone.json())["items"]
    assert len(items) == 5
    assert (await everyone.json())["next_cursor"] is None
    assert {"password_hash", "tenant_id"}.isdisjoint(items[0])
    for query, field in [("?role=boss", "role"), ("?status=gone", "status"), ("?limit=0", "limit")]:
        response = await client.get(f"/users{query}", headers=admin.headers)
        assert response.status == 422, query
        body = await response.json(content_type=None)
        assert body["errors"][0]["field"] == field
    bad_cursor = await client.get("/users?cursor=bm9wZQ", headers=admin.headers)
    assert await problem_code(bad_cursor) == "invalid_cursor"


async def test_list_pages_through_everyone_once(client: Any, sessions: Sessions) -> None:
    tenant = await make_tenant(sessions)
    admin = await signed_in(client, sessions, tenant=tenant)
    made = [str(admin.user_id)]
    for index in range(6):
        made.append(
            str((await make_user(sessions, tenant, Role.STAFF, display_name=f"u{index}")).user_id)
        )
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        response = await client.get(f"/users{query}", headers=admin.headers)
        body = await response.json()
        seen += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert len(body["items"]) == 2
    assert seen == made  # creation order, no duplicate, nobody missing
    assert pages == 4
    filtered = await client.get("/users?limit=2&role=staff", headers=admin.headers)
    second = await client.get(
        f"/users?limit=10&role=staff&cursor={(await filtered.json())['next_cursor']}",
        headers=admin.headers,
    )
    assert [i["id"] for i in (await second.json())["items"]] == made[3:]


async def test_read_one_user(client: Any, sessions: Sessions) -> None:
    admin = await signed_in(client, sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant=admin.tenant)
    response = await client.get(f"/users/{admin.user_id}", headers=staff.headers)
    assert response.status == 200
    body = await response.json()
    assert body["email"] == admin.email
    assert body["role"] == "admin"
    assert body["status"] == "active"
    assert body["last_login_at"] is not None
    for missing in (uuid.uuid4(), "not-a-uuid"):
        response = await client.get(f"/users/{missing}", headers=staff.headers)
        assert response.status == 404
        assert await problem_code(response) == "user_not_found"


async def test_technicians_cannot_list_and_staff_cannot_manage(
    client: Any, sessions: Sessions
) -> None:
    admin = await signed_in(client, sessions)
    tech = await signed_in(client, sessions, Role.TECHNICIAN, tenant=admin.tenant)
    staff = await signed_in(client, sessions, Role.STAFF, tenant=admin.tenant)
    assert (await client.get("/users", headers=tech.headers)).status == 403
    assert (await client.get("/users", headers=staff.headers)).status == 200
    refused = await invite(client, staff, "x@example.com")
    assert refused.status == 403
    assert await problem_code(refused) == "permission_denied"
    demote = await client.patch(
        f"/users/{admin.user_id}/role", json={"role": "staff"}, headers=staff.headers
    )
    assert demote.status == 403
