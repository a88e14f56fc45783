"""Media across tenants and roles: another tenant sees and touches nothing, and
technicians reach only media of tasks assigned to them.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from tests.support.factories import make_tenant, signed_in
from tests.support.media import (
    declare,
    declared,
    follow,
    jobs_done,
    new_task,
    photo,
    problem,
    uploaded,
)
from tests.support.sync import Replica, action, push, upsert

Sessions = async_sessionmaker[AsyncSession]


async def test_another_tenant_sees_and_touches_nothing(
    client: Any, app: web.Application, sessions: Sessions
) -> None:
    alice = await signed_in(client, sessions)
    bob = await signed_in(client, sessions)
    task = str(await new_task(client, alice))
    data = photo()
    media = await uploaded(client, alice, data, owner_id=task)
    await jobs_done(app)
    path = f"/media/{media['id']}"
    for method, suffix in [
        ("GET", ""),
        ("GET", "/content"),
        ("GET", "/thumbnail"),
        ("POST", "/complete"),
    ]:
        response = await client.request(method, path + suffix, headers=bob.headers)
        await problem(response, 404, "media_not_found")
        crossing = {**bob.headers, "X-Tenant": alice.tenant.slug}
        response = await client.request(method, path + suffix, headers=crossing)
        await problem(response, 403, "tenant_mismatch")
    # Bob cannot attach to Alice's task, and his own media of the same id is his alone.
    await problem(await declare(client, bob, data, owner_id=task), 422, "unknown_owner")
    own = await declared(
        client, bob, data, media_id=media["id"], owner_type="tenant", content_type="image/jpeg"
    )
    assert own["media_id"] == media["id"]
    mine = await (await client.get(path, headers=alice.headers)).json()
    assert (mine["status"], mine["owner_id"]) == ("uploaded", task)
    theirs = await (await client.get(path, headers=bob.headers)).json()
    assert (theirs["status"], theirs["owner_id"]) == ("pending", str(bob.tenant.id))
    phone = Replica()
    await phone.sync(client, bob)
    assert phone.rows[("media_asset", media["id"])]["owner_id"] == str(bob.tenant.id)


async def test_technicians_reach_only_media_of_their_assigned_tasks(
    client: Any, sessions: Sessions
) -> None:
    tenant = await make_tenant(sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    technician = await signed_in(client, sessions, Role.TECHNICIAN, tenant)
    mine = await new_task(client, staff, technician)
    other = await new_task(client, staff)
    purchase_id = uuid.uuid4()
    await push(
        client,
        technician,
        "phone",
        [
            upsert(
                "purchase",
                purchase_id,
                "phone",
                task_id=str(mine),
                vendor="Hardware store",
                amount_minor=1250,
                currency="SAR",
                purchased_at="2026-01-01T00:00:00Z",
            )
        ],
    )
    data = photo()
    await declared(client, technician, data, owner_id=str(mine))
    await declared(client, technician, data, owner_type="purchase", owner_id=str(purchase_id))
    await problem(
        await declare(client, technician, data, owner_id=str(other)), 403, "owner_out_of_scope"
    )
    await problem(
        await declare(client, technician, data, owner_type="tenant"), 403, "owner_out_of_scope"
    )
    theirs = await uploaded(client, staff, data, owner_id=str(other))
    await problem(
        await client.get(f"/media/{theirs['id']}", headers=technician.headers),
        404,
        "media_not_found",
    )
    await problem(
        await client.post(f"/media/{theirs['id']}/complete", headers=technician.headers),
        404,
        "media_not_found",
    )
    ours = await uploaded(client, staff, data, owner_id=str(mine))
    seen = await client.get(f"/media/{ours['id']}", headers=technician.headers)
    assert (await seen.json())["id"] == ours["id"]
    await follow(client, technician, f"/media/{ours['id']}/content")
    # Unassigned, the technician loses the task's media.
    await push(
        client,
        staff,
        "dash",
        [action(mine, "unassign", "dash", fields={"user_id": str(technician.user_id)})],
    )
    await problem(
        await client.get(f"/media/{ours['id']}", headers=technician.headers),
        404,
        "media_not_found",
    )
