"""GET /admin/audit: newest first, filters, cursor pages, admins only, one tenant only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from storage.models import AuditEntry
from storage.unit_of_work import TenantUnitOfWork
from tests.support.factories import Account, make_user, signed_in

Sessions = async_sessionmaker[AsyncSession]


async def audit(client: Any, account: Account, query: str = "") -> dict[str, Any]:
    response = await client.get(f"/admin/audit{query}", headers=account.headers)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def add_entries(sessions: Sessions, account: Account, *rows: dict[str, Any]) -> None:
    async with TenantUnitOfWork(sessions, account.tenant.id) as uow:
        uow.session.add_all(AuditEntry(**row) for row in rows)
        await uow.commit()


async def test_newest_first_with_the_actions_of_the_users_feature(
    client: Any, sessions: Sessions
) -> None:
    admin = await signed_in(client, sessions)
    staff = await make_user(sessions, admin.tenant, Role.STAFF)
    await client.patch(
        f"/users/{staff.user_id}/role", json={"role": "technician"}, headers=admin.headers
    )
    await client.post(f"/users/{staff.user_id}/deactivate", headers=admin.headers)
    body = await audit(client, admin)
    assert [item["action"] for item in body["items"]] == [
        "user_deactivated",
        "role_changed",
        "login",
    ]
    assert body["next_cursor"] is None
    newest = body["items"][0]
    assert newest["actor_id"] == str(admin.user_id)
    assert newest["target_type"] == "user"
    assert newest["target_id"] == str(staff.user_id)
    assert newest["details"] == {"previous_status": "active"}
    assert newest["request_id"]
    assert newest["ip"]
    stamps = [datetime.fromisoformat(item["created_at"]) for item in body["items"]]
    assert stamps == sorted(stamps, reverse=True)
    assert all(stamp.tzinfo is not None for stamp in stamps)


async def test_filters(client: Any, sessions: Sessions) -> None:
    admin = await signed_in(client, sessions)
    other = uuid.uuid4()
    now = datetime.now(UTC)
    await add_entries(
        sessions,
        admin,
        {"action": "old_thing", "actor_id": other, "created_at": now - timedelta(days=10)},
        {"action": "role_changed", "actor_id": other, "target_type": "user", "target_id": "u1"},
        {"action": "role_changed", "actor_id": admin.user_id, "target_type": "task"},
    )

    def actions(body: dict[str, Any]) -> list[str]:
        return [item["action"] for item in body["items"]]

    assert actions(await audit(client, admin, "?action=role_changed")) == ["role_changed"] * 2
    assert actions(await audit(client, admin, f"?actor_id={other}")) == [
        "role_changed",
        "old_thing",
    ]
    assert actions(await audit(client, admin, "?target_type=task")) == ["role_changed"]
    assert actions(await audit(client, admin, "?target_id=u1&target_type=user")) == ["role_changed"]
    since = quote((now - timedelta(days=1)).isoformat())
    assert "old_thing" not in actions(await audit(client, admin, f"?since={since}"))
    until = quote((now - timedelta(days=1)).isoformat())
    assert actions(await audit(client, admin, f"?until={until}")) == ["old_thing"]
    naive_until = (now - timedelta(days=1)).replace(tzinfo=None).isoformat()  # read as UTC
    assert actions(await audit(client, admin, f"?until={naive_until}")) == ["old_thing"]
    zulu = (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert actions(await audit(client, admin, f"?since={zulu}")) == []
    window = f"?since={quote((now - timedelta(days=11)).isoformat())}&until={until}"
    assert actions(await audit(client, admin, window)) == ["old_thing"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?since=yesterday", "since"),
        ("?until=2026-13-01T00:00:00", "until"),
        ("?actor_id=not-a-uuid", "actor_id"),
        ("?action=", "action"),
        ("?limit=1000", "limit"),
    ],
)
async def test_bad_filters_are_422(client: Any, sessions: Sessions, query: str, field: str) -> None:
    admin = await signed_in(client, sessions)
    response = await client.get(f"/admin/audit{query}", headers=admin.headers)
    assert response.status == 422
    body = await response.json(content_type=None)
    assert body["code"] == "validation_failed"
    assert body["errors"][0]["field"] == field


async def test_pages_hold_every_entry_once(client: Any, sessions: Sessions) -> None:
    admin = await signed_in(client, sessions)
    same_moment = datetime.now(UTC) - timedelta(minutes=1)
    # Entries sharing a timestamp are ordered by id, so none is lost between pages.
    await add_entries(
        sessions,
        admin,
        *({"action": f"step_{n}", "created_at": same_moment} for n in range(5)),
    )
    seen: list[int] = []
    cursor = ""
    while True:
        body = await audit(client, admin, f"?limit=2{cursor}")
        seen += [item["id"] for item in body["items"]]
        if body["next_cursor"] is None:
            break
        cursor = f"&cursor={body['next_cursor']}"
    assert len(seen) == 6  # five steps and the login
    assert len(set(seen)) == 6
    everything = await audit(client, admin)
    assert [item["id"] for item in everything["items"]] == seen
    bad = await client.get("/admin/audit?cursor=WyJ4IiwgMV0", headers=admin.headers)
    assert (await bad.json(content_type=None))["code"] == "invalid_cursor"


async def test_only_admins_read_the_audit(client: Any, sessions: Sessions) -> None:
    admin = await signed_in(client, sessions)
    for role in (Role.STAFF, Role.TECHNICIAN):
        account = await signed_in(client, sessions, role, tenant=admin.tenant)
        response = await client.get("/admin/audit", headers=account.headers)
        assert response.status == 403
        assert (await response.json(content_type=None))["code"] == "permission_denied"


async def test_another_tenant_reads_nothing(client: Any, sessions: Sessions) -> None:
    admin_a = await signed_in(client, sessions)
    admin_b = await signed_in(client, sessions)
    await add_entries(sessions, admin_a, {"action": "secret_of_a", "target_id": "a-only"})
    body_b = await audit(client, admin_b)
    assert [item["action"] for item in body_b["items"]] == ["login"]
    assert body_b["items"][0]["actor_id"] == str(admin_b.user_id)
    for query in ("?action=secret_of_a", "?target_id=a-only", f"?actor_id={admin_a.user_id}"):
        assert (await audit(client, admin_b, query))["items"] == []
    crossed = {"Authorization": f"Bearer {admin_b.access_token}", "X-Tenant": admin_a.tenant.slug}
    response = await client.get("/admin/audit", headers=crossed)
    assert response.status == 403
    assert (await response.json(content_type=None))["code"] == "tenant_mismatch"
