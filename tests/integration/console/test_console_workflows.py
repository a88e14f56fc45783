"""What the console's pages show and what their forms do: the device alerts, the
tasks board's assignments reaching a technician's phone, bulk resolution and the
special conflict kinds, a custom value that does not fit, the audit log's filters
in the tenant's time zone.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import Device, SyncRejection
from storage.types import utcnow
from storage.unit_of_work import TenantUnitOfWork
from syncd.app import create_app
from tests.support.console import Console
from tests.support.console_world import receipt_change, team, two_phone_conflict
from tests.support.services import make_settings
from tests.support.sync import Replica, action, hlc, push, upsert

Sessions = async_sessionmaker[AsyncSession]


async def test_devices_silent_or_failing_too_long_are_highlighted(
    database_url: str, tmp_path: Path, aiohttp_client: Any, sessions: Sessions
) -> None:
    app: web.Application = create_app(
        make_settings(tmp_path, DATABASE_URL=database_url, CONSOLE_DEVICE_ALERT_SECONDS="3600")
    )
    client = await aiohttp_client(app)
    world = await team(client, sessions)
    for device in ("phone-quiet", "phone-stuck", "phone-fine"):
        await push(client, world.staff, device, [upsert("task", uuid.uuid4(), device, title="t")])
    await push(client, world.staff, "phone-stuck", [receipt_change(uuid.uuid4(), "phone-stuck")])
    await push(client, world.staff, "phone-fine", [receipt_change(uuid.uuid4(), "phone-fine")])
    long_ago = utcnow() - timedelta(hours=2)
    async with TenantUnitOfWork(sessions, world.tenant.id) as uow:  # bookkeeping rows, aged
        await uow.session.execute(
            update(Device).where(Device.client_id == "phone-quiet").values(last_seen_at=long_ago)
        )
        await uow.session.execute(
            update(SyncRejection)
            .where(SyncRejection.client_id == "phone-stuck")
            .values(created_at=long_ago)
        )
        await uow.commit()
    console = Console(client)
    await console.sign_in(world.admin)
    _, text = await console.get("/console/devices")
    rows = {
        name: re.search(rf'<tr data-device="{name}"([^>]*)>(.*?)</tr>', text, re.S)
        for name in ("phone-quiet", "phone-stuck", "phone-fine")
    }
    assert all(rows.values()), text
    quiet, stuck, fine = (rows[n] for n in ("phone-quiet", "phone-stuck", "phone-fine"))
    assert quiet
    assert 'class="attention"' in quiet.group(1)
    assert ">silent<" in quiet.group(2)
    assert stuck
    assert 'class="attention"' in stuck.group(1)
    assert ">failing<" in stuck.group(2)
    assert fine
    assert "attention" not in fine.group(1)
    assert ">ok<" in fine.group(2)
    assert "1 rejected change open" in fine.group(2)
    assert "2 devices need attention." in text


async def test_the_tasks_board_assigns_and_unassigns_through_the_sync_path(
    client: Any, sessions: Sessions
) -> None:
    world = await team(client, sessions)
    task_id = uuid.uuid4()
    await push(client, world.staff, "desk", [upsert("task", task_id, "desk", title="Fit a valve")])
    console = Console(client)
    await console.sign_in(world.staff)
    _, board = await console.get("/console/tasks")
    assert re.search(r'data-status="open".*Fit a valve.*data-status="assigned"', board, re.S)
    assigned, _ = await console.post(
        f"/console/tasks/{task_id}/assign", {"user_id": str(world.tech_a.user_id)}
    )
    assert assigned.headers["Location"] == "/console/tasks?notice=assigned"
    phone = Replica()
    await phone.sync(client, world.tech_a)
    assert phone.rows[("task", str(task_id))]["status"] == "assigned"
    _, board = await console.get("/console/tasks?notice=assigned")
    assert "The technician was assigned." in board
    assert re.search(r'data-status="assigned".*Fit a valve.*data-status="in_progress"', board, re.S)
    await console.post(f"/console/tasks/{task_id}/unassign", {"user_id": str(world.tech_a.user_id)})
    await phone.sync(client, world.tech_a)
    assert ("task", str(task_id)) not in phone.rows
    twice, text = await console.post(
        f"/console/tasks/{task_id}/unassign", {"user_id": str(world.tech_a.user_id)}
    )
    assert twice.status == 409
    assert "not_assigned" in text


async def test_bulk_resolution_and_the_special_conflict_kinds(
    client: Any, sessions: Sessions
) -> None:
    world = await team(client, sessions)
    first = await two_phone_conflict(client, world)
    second = await two_phone_conflict(client, world)
    console = Console(client)
    await console.sign_in(world.admin)
    _, inbox = await console.get("/console/inbox?entity=task&age=1h")
    assert first.conflict_id in inbox
    assert second.conflict_id in inbox
    done, _ = await console.post(
        "/console/conflicts/resolve",
        [
            ("ids", first.conflict_id),
            ("ids", second.conflict_id),
            ("resolution", "take_client"),
            ("back", "/console/inbox?entity=task"),
        ],
    )
    assert done.headers["Location"] == "/console/inbox?entity=task&notice=resolved_many"
    for made in (first, second):
        await made.phone_b.sync(client, world.tech_b)
        assert made.phone_b.rows[("task", str(made.task_id))]["priority"] == "low"
    _, inbox = await console.get("/console/inbox")
    assert "No conflicts match these filters." in inbox
    _, resolved = await console.get(f"/console/inbox?status=resolved&user={world.tech_a.user_id}")
    assert first.conflict_id in resolved

    task_id = uuid.uuid4()
    await push(
        client,
        world.staff,
        "desk",
        [
            upsert("task", task_id, "desk", title="t"),
            action(task_id, "assign", "desk", fields={"user_id": str(world.tech_a.user_id)}),
        ],
    )
    await push(client, world.tech_a, "p1", [action(task_id, "start", "p1")])
    await push(client, world.tech_a, "p1", [action(task_id, "complete", "p1")])
    stale = await push(client, world.tech_a, "p2", [action(task_id, "pause", "p2")])
    stale_id = stale["results"][0]["conflict_id"]
    _, page = await console.get(f"/console/conflicts/{stale_id}")
    assert "stale_action" in page
    assert 'value="take_client"' not in page
    assert 'id="value-status"' in page
    reopened, _ = await console.post(
        f"/console/conflicts/{stale_id}/resolve", {"resolution": "custom", "value.status": "paused"}
    )
    assert reopened.status == 303
    bad_bulk, text = await console.post("/console/conflicts/resolve", {"resolution": "custom"})
    assert bad_bulk.status == 422
    assert "validation_failed" in text

    deleted_id = uuid.uuid4()
    await push(client, world.staff, "a", [upsert("task", deleted_id, "a", title="t")])
    await push(client, world.staff, "b", [upsert("task", deleted_id, "b", base=1, title="e")])
    gone = await push(
        client,
        world.staff,
        "a",
        [
            {
                "entity": "task",
                "id": str(deleted_id),
                "op": "delete",
                "hlc": hlc("a"),
                "base_version": 1,
            }
        ],
    )
    _, page = await console.get(f"/console/conflicts/{gone['results'][0]['conflict_id']}")
    assert "delete_update" in page
    assert 'value="custom"' not in page


async def test_a_custom_value_that_does_not_fit_shows_why(client: Any, sessions: Sessions) -> None:
    world = await team(client, sessions)
    made = await two_phone_conflict(client, world)
    console = Console(client)
    await console.sign_in(world.admin)
    await console.get(f"/console/conflicts/{made.conflict_id}")
    refused, text = await console.post(
        f"/console/conflicts/{made.conflict_id}/resolve",
        {"resolution": "custom", "value.priority": "whenever"},
    )
    assert refused.status == 422
    assert "validation_failed" in text
    assert 'value="whenever"' in text  # what was typed is kept in the field
    unknown, _ = await console.get(f"/console/conflicts/{uuid.uuid4()}")
    assert unknown.status == 404
    not_an_id, _ = await console.get("/console/conflicts/not-a-uuid")
    assert not_an_id.status == 404


async def test_the_audit_log_filters_in_the_tenants_time_zone(
    client: Any, sessions: Sessions
) -> None:
    world = await team(client, sessions, time_zone="Asia/Riyadh")
    console = Console(client)
    await console.sign_in(world.admin)
    local_now = utcnow() + timedelta(hours=3)  # Riyadh is UTC+3, all year
    since = (local_now - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M")
    later = (local_now + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M")
    _, recent = await console.get(f"/console/audit?action=login&since={since}")
    assert recent.count('data-action="login"') >= 2
    assert re.search(r'<time datetime="[^"]+\+03:00">', recent)
    _, none = await console.get(f"/console/audit?action=login&since={later}")
    assert 'data-action="login"' not in none
    _, before = await console.get(f"/console/audit?until={since}")
    assert "No entries match these filters." in before
    _, mine = await console.get(f"/console/audit?actor={world.admin.user_id}&action=login")
    assert 'data-action="login"' in mine
