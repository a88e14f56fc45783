"""The field-service story, end to end over HTTP, on both databases.

Staff create a task on the dashboard and assign it; the technician's phone
pulls it; offline, the phone starts the task with a geo stamp, records a
purchase and its receipt, and completes the task; back online it pushes one
batch. The dashboard's timeline and totals show all of it with the phone's
times and places. The technician's tablet, which synced before all that,
starts the task too late: its action is refused into the timeline and opens a
conflict in the admins' inbox.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from tests.support.factories import make_tenant, signed_in
from tests.support.sync import action, pull_all, push, upsert

Sessions = async_sessionmaker[AsyncSession]
SITE = {"lat": 24.7136, "lng": 46.6753, "accuracy_m": 8.0}
SHOP = {"lat": 24.6995, "lng": 46.6848, "accuracy_m": 15.0}


async def test_a_day_in_the_field(client: Any, sessions: Sessions) -> None:
    morning = datetime.now(UTC).replace(microsecond=0)

    def at(minutes: int) -> str:
        """The phone's clock, `minutes` into the job."""
        return (morning + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")

    tenant = await make_tenant(sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    admin = await signed_in(client, sessions, Role.ADMIN, tenant)
    tech = await signed_in(client, sessions, Role.TECHNICIAN, tenant)

    # The dashboard creates and assigns the task.
    created = await client.post(
        "/tasks",
        json={"title": "Replace pump seal", "priority": "high", "location": {"address": "Site 4"}},
        headers=staff.headers,
    )
    task = await created.json()
    task_id = uuid.UUID(task["id"])
    assigned = await client.post(
        f"/tasks/{task_id}/assign", json={"user_id": str(tech.user_id)}, headers=staff.headers
    )
    assert (await assigned.json())["status"] == "assigned"

    # Both of the technician's devices sync while online.
    phone_rows, _ = await pull_all(client, tech, client_id="phone")
    tablet_rows, _ = await pull_all(client, tech, client_id="tablet")
    seen = {c["id"]: c for c in phone_rows if c["entity"] == "task"}
    assert seen[str(task_id)]["data"]["title"] == "Replace pump seal"
    base = seen[str(task_id)]["version"]
    assert tablet_rows == phone_rows

    # Offline on the phone: start on site, buy the part, keep the receipt, finish.
    purchase_id, receipt_id = uuid.uuid4(), uuid.uuid4()
    outbox = [
        action(task_id, "start", "phone", base=base, client_time=at(5), geo=SITE),
        {
            **upsert(
                "purchase",
                purchase_id,
                "phone",
                task_id=str(task_id),
                vendor="Riyadh Pumps",
                line_items=[{"description": "seal kit", "quantity": 1, "unit_price_minor": 4500}],
                amount_minor=4500,
                currency="SAR",
                purchased_at=at(20),
            ),
            "client_time": at(20),
            "geo": SHOP,
        },
        {
            **upsert(
                "receipt",
                receipt_id,
                "phone",
                purchase_id=str(purchase_id),
                total_minor=4500,
                currency="SAR",
                issued_at=at(21),
            ),
            "client_time": at(21),
            "geo": SHOP,
        },
        action(task_id, "complete", "phone", base=base, client_time=at(60), geo=SITE),
    ]
    pushed = await push(client, tech, "phone", outbox, batch_id="offline-1")
    assert [r["status"] for r in pushed["results"]] == ["applied"] * 4

    # The dashboard sees it all, with the phone's times and places.
    timeline = await (await client.get(f"/tasks/{task_id}/timeline", headers=staff.headers)).json()
    items = {item["kind"]: item for item in timeline["items"]}
    assert [item["kind"] for item in timeline["items"]] == [
        "created",
        "assigned",
        "started",
        "purchase_added",
        "receipt_added",
        "completed",
    ]
    for kind, minutes, place in (
        ("started", 5, SITE),
        ("purchase_added", 20, SHOP),
        ("receipt_added", 21, SHOP),
        ("completed", 60, SITE),
    ):
        assert items[kind]["client_time"] == at(minutes)
        assert items[kind]["geo"] == place
        assert items[kind]["device"] == "phone"
        assert items[kind]["actor"]["id"] == str(tech.user_id)
    assert items["created"]["device"] == f"web-{staff.user_id}"
    assert items["purchase_added"]["payload"]["amount_minor"] == 4500
    totals = await (await client.get(f"/tasks/{task_id}/totals", headers=staff.headers)).json()
    assert totals["totals"] == [
        {
            "currency": "SAR",
            "exponent": 2,
            "purchases_minor": 4500,
            "purchase_count": 1,
            "receipts_minor": 4500,
            "receipt_count": 1,
            "unreceipted_minor": 0,
        }
    ]
    read = await (await client.get(f"/tasks/{task_id}", headers=staff.headers)).json()
    assert read["status"] == "completed"

    # The tablet, still at its old cursor, starts the task: too late.
    late = await push(
        client, tech, "tablet", [action(task_id, "start", "tablet", base=base, client_time=at(70))]
    )
    (result,) = late["results"]
    assert result["status"] == "conflict"
    assert result["current"]["status"] == "completed"
    timeline = await (await client.get(f"/tasks/{task_id}/timeline", headers=staff.headers)).json()
    refused = timeline["items"][-1]
    assert (refused["kind"], refused["refused"], refused["device"]) == (
        "action_refused",
        True,
        "tablet",
    )
    assert refused["payload"]["action"] == "start"
    inbox = await (await client.get("/conflicts", headers=admin.headers)).json()
    (conflict,) = inbox["items"]
    assert conflict["id"] == result["conflict_id"]
    assert (conflict["entity"], conflict["entity_id"], conflict["kind"]) == (
        "task",
        str(task_id),
        "stale_action",
    )

    # The tablet catches up and holds what the server holds.
    caught_up, _ = await pull_all(client, tech, client_id="tablet")
    latest = [c for c in caught_up if c["entity"] == "task"][-1]
    assert latest["data"]["status"] == "completed"

    # Another tenant's dashboard sees none of it.
    other = await signed_in(client, sessions, Role.ADMIN)
    for path in (f"/tasks/{task_id}/timeline", f"/tasks/{task_id}/totals"):
        assert (await client.get(path, headers=other.headers)).status == 404
    assert (await (await client.get("/conflicts", headers=other.headers)).json())["items"] == []
