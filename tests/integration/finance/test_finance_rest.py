"""Purchases and receipts over REST: CRUD with validation, idempotent creation,
optimistic concurrency, technician scope, per-task totals per currency, and
another tenant seeing nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from tests.support.factories import Account, make_tenant, signed_in
from tests.support.tasks import create, problem

Sessions = async_sessionmaker[AsyncSession]
LINES = [
    {"description": "valve", "quantity": 2, "unit_price_minor": 1250},
    {"description": "seal", "quantity": 1, "unit_price_minor": 300},
]


def purchase_body(**fields: Any) -> dict[str, Any]:
    return {
        "vendor": "Pipes & Co",
        "line_items": LINES,
        "amount_minor": 2800,
        "currency": "EUR",
        "purchased_at": "2026-11-24T09:30:00Z",
        **fields,
    }


async def buy(client: Any, who: Account, task_id: str, **fields: Any) -> dict[str, Any]:
    response = await client.post(
        f"/tasks/{task_id}/purchases", json=purchase_body(**fields), headers=who.headers
    )
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def team(client: Any, sessions: Sessions) -> tuple[Account, Account, dict[str, Any]]:
    tenant = await make_tenant(sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    tech = await signed_in(client, sessions, Role.TECHNICIAN, tenant)
    task = await create(client, staff)
    await client.post(
        f"/tasks/{task['id']}/assign", json={"user_id": str(tech.user_id)}, headers=staff.headers
    )
    return staff, tech, task


async def test_purchase_crud_and_idempotent_creation(client: Any, sessions: Sessions) -> None:
    staff, _, task = await team(client, sessions)
    purchase_id = str(uuid.uuid4())
    body = purchase_body(id=purchase_id, task_id=task["id"], notes="urgent")
    first = await client.post("/purchases", json=body, headers=staff.headers)
    assert first.status == 201, await first.text()
    made = await first.json()
    assert (made["id"], made["task_id"], made["amount_minor"]) == (purchase_id, task["id"], 2800)
    assert first.headers["Location"] == f"/purchases/{purchase_id}"
    again = await client.post("/purchases", json=body, headers=staff.headers)
    assert again.status == 200
    assert await again.json() == made
    clash = await client.post("/purchases", json={**body, "vendor": "Other"}, headers=staff.headers)
    assert (await problem(clash, 409, "record_exists"))["current"]["vendor"] == "Pipes & Co"
    url = f"/purchases/{purchase_id}"
    read = await client.get(url, headers=staff.headers)
    assert read.headers["ETag"] == f'"{made["version"]}"'
    changed = await client.patch(
        url, json={"notes": "done"}, headers={**staff.headers, "If-Match": read.headers["ETag"]}
    )
    assert (await changed.json())["notes"] == "done"
    stale = await client.patch(
        url, json={"notes": "lost"}, headers={**staff.headers, "If-Match": read.headers["ETag"]}
    )
    assert (await problem(stale, 412, "stale_record"))["current"]["notes"] == "done"
    old = await client.patch(
        url, json={"notes": "lost", "updated_at": made["updated_at"]}, headers=staff.headers
    )
    await problem(old, 409, "stale_record")
    await problem(await client.patch(url, json={}, headers=staff.headers), 422, "nothing_to_change")
    listed = await (
        await client.get(f"/purchases?task_id={task['id']}", headers=staff.headers)
    ).json()
    assert [p["id"] for p in listed["items"]] == [purchase_id]
    assert (await client.delete(url, headers=staff.headers)).status == 204
    await problem(await client.get(url, headers=staff.headers), 404, "purchase_not_found")
    await problem(await client.delete(url, headers=staff.headers), 404, "purchase_not_found")


async def test_bad_purchases_and_receipts_are_problems(client: Any, sessions: Sessions) -> None:
    staff, _, task = await team(client, sessions)
    for body, field in (
        (purchase_body(currency="EURO"), "currency"),
        (purchase_body(currency="XYZ"), "currency"),
        (purchase_body(currency="DEM"), "currency"),  # historic: not in use
        (purchase_body(amount_minor=-1), "amount_minor"),
        (purchase_body(vendor=""), "vendor"),
        (purchase_body(purchased_at="2026-11-24T09:30:00"), "purchased_at"),
        (
            purchase_body(line_items=[{"description": "x", "quantity": 0, "unit_price_minor": 1}]),
            "line_items.0.quantity",
        ),
        (purchase_body(media_ids=["nope"]), "media_ids.0"),
        (purchase_body(surprise=1), "surprise"),
    ):
        response = await client.post("/purchases", json=body, headers=staff.headers)
        found = await problem(response, 422, "validation_failed")
        assert field in [e["field"] for e in found["errors"]], (field, found)
    off_total = await client.post(
        "/purchases", json=purchase_body(amount_minor=2799), headers=staff.headers
    )
    assert "total" in (await problem(off_total, 422, "validation_failed"))["detail"]
    ghost_task = await client.post(
        "/purchases", json=purchase_body(task_id=str(uuid.uuid4())), headers=staff.headers
    )
    await problem(ghost_task, 422, "unknown_reference")
    ghost_media = await client.post(
        "/purchases", json=purchase_body(media_ids=[str(uuid.uuid4())]), headers=staff.headers
    )
    await problem(ghost_media, 422, "unknown_media")
    purchase = await buy(client, staff, task["id"])
    receipt = {
        "purchase_id": purchase["id"],
        "total_minor": 2800,
        "issued_at": "2026-11-24T10:00:00Z",
    }
    wrong_currency = await client.post(
        "/receipts", json={**receipt, "currency": "USD"}, headers=staff.headers
    )
    errors = (await problem(wrong_currency, 422, "validation_failed"))["errors"]
    assert [e["code"] for e in errors] == ["currency_mismatch"]
    other_task = await create(client, staff, title="other")
    wrong_task = await client.post(
        "/receipts",
        json={**receipt, "currency": "EUR", "task_id": other_task["id"]},
        headers=staff.headers,
    )
    assert [e["code"] for e in (await problem(wrong_task, 422, "validation_failed"))["errors"]] == [
        "task_mismatch"
    ]
    no_purchase = await client.post(
        "/receipts",
        json={**receipt, "currency": "EUR", "purchase_id": str(uuid.uuid4())},
        headers=staff.headers,
    )
    await problem(no_purchase, 422, "unknown_reference")
    for query in ("currency=eur", "task_id=x", "since=today", "cursor=zz", "limit=500"):
        assert (await client.get(f"/purchases?{query}", headers=staff.headers)).status == 422, query
    await problem(
        await client.get("/purchases/x", headers=staff.headers), 404, "purchase_not_found"
    )
    await problem(await client.get("/receipts/x", headers=staff.headers), 404, "receipt_not_found")
    await problem(
        await client.get(f"/tasks/{uuid.uuid4()}/totals", headers=staff.headers),
        404,
        "task_not_found",
    )


async def test_receipts_and_totals_per_currency(client: Any, sessions: Sessions) -> None:
    staff, tech, task = await team(client, sessions)
    euros = await buy(client, tech, task["id"])
    await buy(client, tech, task["id"], line_items=[], amount_minor=500)
    riyals = await buy(client, staff, task["id"], line_items=[], amount_minor=9950, currency="SAR")
    answer = await client.post(
        "/receipts",
        json={
            "purchase_id": euros["id"],
            "total_minor": 2800,
            "currency": "EUR",
            "issued_at": "2026-11-24T10:00:00Z",
        },
        headers=tech.headers,
    )
    assert answer.status == 201, await answer.text()
    receipt = await answer.json()
    assert receipt["task_id"] == task["id"]  # taken from the purchase
    totals = await (await client.get(f"/tasks/{task['id']}/totals", headers=staff.headers)).json()
    assert totals["totals"] == [
        {
            "currency": "EUR",
            "exponent": 2,
            "purchases_minor": 3300,
            "purchase_count": 2,
            "receipts_minor": 2800,
            "receipt_count": 1,
            "unreceipted_minor": 500,
        },
        {
            "currency": "SAR",
            "exponent": 2,
            "purchases_minor": 9950,
            "purchase_count": 1,
            "receipts_minor": 0,
            "receipt_count": 0,
            "unreceipted_minor": 9950,
        },
    ]
    whole = await (await client.get(f"/tasks/{task['id']}/purchases", headers=tech.headers)).json()
    assert len(whole["purchases"]) == 3
    assert [r["id"] for r in whole["receipts"]] == [receipt["id"]]
    by_purchase = await (
        await client.get(f"/receipts?purchase_id={euros['id']}", headers=tech.headers)
    ).json()
    assert [r["id"] for r in by_purchase["items"]] == [receipt["id"]]
    sar = await (await client.get("/purchases?currency=SAR", headers=staff.headers)).json()
    assert [p["id"] for p in sar["items"]] == [riyals["id"]]
    receipt_url = f"/receipts/{receipt['id']}"
    fixed = await client.patch(receipt_url, json={"total_minor": 2700}, headers=tech.headers)
    assert (await fixed.json())["total_minor"] == 2700
    timeline = await (
        await client.get(f"/tasks/{task['id']}/timeline", headers=staff.headers)
    ).json()
    kinds = [item["kind"] for item in timeline["items"]]
    assert kinds.count("purchase_added") == 3
    assert kinds.count("receipt_added") == 1
    assert (await client.delete(receipt_url, headers=tech.headers)).status == 204


async def test_technicians_reach_only_their_tasks_records(client: Any, sessions: Sessions) -> None:
    staff, tech, task = await team(client, sessions)
    mine = await buy(client, tech, task["id"])
    elsewhere = await create(client, staff, title="not yours")
    theirs = await buy(client, staff, elsewhere["id"])
    alone = await client.post("/purchases", json=purchase_body(), headers=staff.headers)
    assert alone.status == 201
    listed = await (await client.get("/purchases", headers=tech.headers)).json()
    assert [p["id"] for p in listed["items"]] == [mine["id"]]
    await problem(
        await client.get(f"/purchases/{theirs['id']}", headers=tech.headers),
        404,
        "purchase_not_found",
    )
    await problem(
        await client.patch(f"/purchases/{theirs['id']}", json={"notes": "x"}, headers=tech.headers),
        404,
        "purchase_not_found",
    )
    sneaky = await client.post(
        "/purchases", json=purchase_body(task_id=elsewhere["id"]), headers=tech.headers
    )
    await problem(sneaky, 422, "unknown_reference")
    await problem(
        await client.post(
            f"/tasks/{elsewhere['id']}/purchases", json=purchase_body(), headers=tech.headers
        ),
        404,
        "task_not_found",
    )
    await problem(
        await client.get(f"/tasks/{elsewhere['id']}/totals", headers=tech.headers),
        404,
        "task_not_found",
    )
    untied = await client.post("/purchases", json=purchase_body(), headers=tech.headers)
    await problem(untied, 403, "forbidden")  # a technician's purchase belongs to a task of theirs


async def test_another_tenant_sees_and_changes_nothing(client: Any, sessions: Sessions) -> None:
    staff, _, task = await team(client, sessions)
    purchase = await buy(client, staff, task["id"])
    receipt = await (
        await client.post(
            "/receipts",
            json={
                "purchase_id": purchase["id"],
                "total_minor": 2800,
                "currency": "EUR",
                "issued_at": "2026-11-24T10:00:00Z",
            },
            headers=staff.headers,
        )
    ).json()
    other = await signed_in(client, sessions, Role.ADMIN)
    for path in ("/purchases", "/receipts"):
        assert (await (await client.get(path, headers=other.headers)).json())["items"] == []
    for method, path, body, code in (
        ("GET", f"/purchases/{purchase['id']}", None, "purchase_not_found"),
        ("PATCH", f"/purchases/{purchase['id']}", {"notes": "x"}, "purchase_not_found"),
        ("DELETE", f"/purchases/{purchase['id']}", None, "purchase_not_found"),
        ("GET", f"/receipts/{receipt['id']}", None, "receipt_not_found"),
        ("PATCH", f"/receipts/{receipt['id']}", {"total_minor": 1}, "receipt_not_found"),
        ("DELETE", f"/receipts/{receipt['id']}", None, "receipt_not_found"),
        ("GET", f"/tasks/{task['id']}/purchases", None, "task_not_found"),
        ("POST", f"/tasks/{task['id']}/purchases", purchase_body(), "task_not_found"),
        ("GET", f"/tasks/{task['id']}/totals", None, "task_not_found"),
    ):
        response = await client.request(method, path, json=body, headers=other.headers)
        await problem(response, 404, code)
    cross = await client.post(
        "/receipts",
        json={
            "purchase_id": purchase["id"],
            "total_minor": 1,
            "currency": "EUR",
            "issued_at": "2026-11-24T10:00:00Z",
        },
        headers=other.headers,
    )
    await problem(cross, 422, "unknown_reference")
