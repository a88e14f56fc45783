"""Users across tenants: another tenant's admin sees and changes nothing of this
tenant's users, and invites stay in their tenant.
"""

from __future__ import annotations

from typing import Any

from tests.support.factories import PASSWORD
from tests.support.users import (
    Sessions,
    accept,
    audit_entries,
    invited,
    list_ids,
    outbox,
    problem_code,
    stored_user,
    two_tenants,
)


async def test_another_tenant_lists_and_reads_nothing(client: Any, sessions: Sessions) -> None:
    admin_a, staff_a, admin_b = await two_tenants(client, sessions)
    assert await list_ids(client, admin_b) == [str(admin_b.user_id)]
    assert await list_ids(client, admin_b, f"?q={staff_a.email}") == []
    read = await client.get(f"/users/{staff_a.user_id}", headers=admin_b.headers)
    assert read.status == 404
    assert await problem_code(read) == "user_not_found"
    # B's token naming tenant A is refused outright.
    crossed = {"Authorization": f"Bearer {admin_b.access_token}", "X-Tenant": admin_a.tenant.slug}
    for path in ("/users", f"/users/{staff_a.user_id}"):
        response = await client.get(path, headers=crossed)
        assert response.status == 403
        assert await problem_code(response) == "tenant_mismatch"


async def test_another_tenant_changes_nothing(client: Any, sessions: Sessions) -> None:
    admin_a, staff_a, admin_b = await two_tenants(client, sessions)
    role = await client.patch(
        f"/users/{staff_a.user_id}/role", json={"role": "admin"}, headers=admin_b.headers
    )
    deactivated = await client.post(f"/users/{staff_a.user_id}/deactivate", headers=admin_b.headers)
    activated = await client.post(f"/users/{staff_a.user_id}/activate", headers=admin_b.headers)
    for response in (role, deactivated, activated):
        assert response.status == 404
        assert await problem_code(response) == "user_not_found"
    user = await stored_user(sessions, admin_a.tenant, staff_a.user_id)
    assert (user.role, user.status) == ("staff", "active")
    assert (await client.get("/auth/me", headers=staff_a.headers)).status == 200
    crossed = {"Authorization": f"Bearer {admin_b.access_token}", "X-Tenant": admin_a.tenant.slug}
    for method, path, body in [
        ("PATCH", f"/users/{staff_a.user_id}/role", {"role": "admin"}),
        ("POST", f"/users/{staff_a.user_id}/deactivate", None),
        ("POST", "/users/invite", {"email": "x@example.com", "role": "admin"}),
        ("POST", "/users/me/password", {"current_password": PASSWORD, "new_password": "x" * 12}),
    ]:
        response = await client.request(method, path, json=body, headers=crossed)
        assert response.status == 403, path
    assert {e.action for e in await audit_entries(sessions, admin_a.tenant)} == {"login"}


async def test_invites_stay_in_their_tenant(client: Any, sessions: Sessions) -> None:
    admin_a, staff_a, admin_b = await two_tenants(client, sessions)
    # The same email may be a user of both tenants: B's invite is B's alone.
    answer = await invited(client, admin_b, staff_a.email)
    assert [m.to_address for m in await outbox(sessions, admin_b.tenant)] == [staff_a.email]
    assert await outbox(sessions, admin_a.tenant) == []
    a_token = (await invited(client, admin_a, "only-a@example.com"))["invite_token"]
    # A's token presented to tenant B (and B's to A) is unknown there.
    for tenant, token in ((admin_b.tenant, a_token), (admin_a.tenant, answer["invite_token"])):
        response = await accept(client, tenant, token)
        assert await problem_code(response) == "invite_invalid"
    assert (await accept(client, admin_a.tenant, a_token)).status == 200
    assert (await accept(client, admin_b.tenant, answer["invite_token"])).status == 200
    a_user = await stored_user(sessions, admin_a.tenant, staff_a.user_id)
    assert a_user.role == "staff"  # B's invite touched nothing of A's user
