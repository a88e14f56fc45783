"""One error tree: a change the write path refuses is the same problem whether a
REST write raised it (the request's problem) or a push answers it (the change's
`rejected` result): the same type, code, status, title and detail, in English
and in Arabic (#22)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from tests.support.factories import Account, signed_in
from tests.support.sync import action, upsert

Sessions = async_sessionmaker[AsyncSession]
AR = {"Accept-Language": "ar"}
SAME = ("type", "code", "status", "title", "detail")
PURCHASE = {
    "vendor": "Riyadh Pumps",
    "amount_minor": 100,
    "currency": "SAR",
    "purchased_at": "2026-12-01T09:00:00Z",
}


async def rest_problem(response: Any, locale: str) -> dict[str, Any]:
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.headers["Content-Language"] == locale
    body: dict[str, Any] = await response.json(content_type=None)
    return body


async def pushed_problem(
    client: Any, who: Account, change: dict[str, Any], headers: dict[str, str]
) -> dict[str, Any]:
    body = {"client_id": "dev-a", "batch_id": uuid.uuid4().hex, "changes": [change]}
    response = await client.post("/sync/push", json=body, headers={**who.headers, **headers})
    assert response.status == 200, await response.text()
    (result,) = (await response.json())["results"]
    assert result["status"] == "rejected", result
    problem: dict[str, Any] = result["problem"]
    assert "_text" not in problem
    return problem


def alike(rest: dict[str, Any], pushed: dict[str, Any]) -> None:
    assert {k: rest[k] for k in SAME} == {k: pushed[k] for k in SAME}
    assert rest["errors"] == pushed["errors"]
    assert "instance" not in pushed  # a change's problem answers no request of its own


async def test_a_refused_assignment_is_one_problem_over_rest_and_push(
    client: Any, sessions: Sessions
) -> None:
    admin = await signed_in(client, sessions, Role.ADMIN)
    task_id = uuid.uuid4()
    created = await client.post(
        "/tasks", json={"id": str(task_id), "title": "Fix pump"}, headers=admin.headers
    )
    assert created.status == 201, await created.text()
    nobody = {"user_id": str(uuid.uuid4())}  # no technician of the tenant
    for headers, locale in (({}, "en"), (AR, "ar")):
        response = await client.post(
            f"/tasks/{task_id}/assign", json=nobody, headers={**admin.headers, **headers}
        )
        assert response.status == 422
        rest = await rest_problem(response, locale)
        change = action(task_id, "assign", "dev-a", base=1, fields=nobody)
        pushed = await pushed_problem(client, admin, change, headers)
        alike(rest, pushed)
        assert rest["code"] == "invalid_assignee"
        if locale == "en":
            assert rest["title"] == "Only active technicians of the tenant are assigned"
        else:
            assert rest["title"] == "لا يُسند العمل إلا إلى الفنيين النشطين لدى الجهة"
            assert rest["detail"] != "only active technicians of the tenant are assigned"


async def test_a_missing_reference_is_one_problem_over_rest_and_push(
    client: Any, sessions: Sessions
) -> None:
    """The push path and the REST write raise the same class (`UnknownReference`):
    one code, status and title, in the request's language."""
    admin = await signed_in(client, sessions, Role.ADMIN)
    missing = str(uuid.uuid4())
    for headers, locale in (({}, "en"), (AR, "ar")):
        purchase_id = uuid.uuid4()
        response = await client.post(
            "/purchases",
            json={"id": str(purchase_id), "task_id": missing, **PURCHASE},
            headers={**admin.headers, **headers},
        )
        assert response.status == 422, await response.text()
        rest = await rest_problem(response, locale)
        change = upsert("purchase", purchase_id, "dev-a", task_id=missing, **PURCHASE)
        pushed = await pushed_problem(client, admin, change, headers)
        alike(rest, pushed)
        assert (rest["code"], rest["status"]) == ("unknown_reference", 422)
        if locale == "en":
            assert rest["title"] == "A field names a row that does not exist"
            assert rest["detail"] == f"task_id {missing} names no live task"
        else:
            assert rest["detail"] == f"يشير task_id {missing} إلى task غير موجود"
            assert rest["errors"][0]["message"] == "لا يوجد task كهذا"
