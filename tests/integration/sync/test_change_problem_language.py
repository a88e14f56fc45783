"""Per-change problems in the reader's language, wherever they are read (#19).

A refused change's problem is answered in the push's language (HTTP and
/sync/ws), stored for admins and worded again in each admin's language when
they list it (not the English of the moment it was stored), and a replayed
batch answers in the language of the replay. The kept templates (`_text`)
never leave the server.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.lifecycle import TaskAction
from protocol.roles import Role
from tests.support.console import Console
from tests.support.factories import signed_in
from tests.support.sync import action, upsert
from tests.support.ws import next_json, until

Sessions = async_sessionmaker[AsyncSession]
AR = {"Accept-Language": "ar"}
KNOWN = ", ".join(a.value for a in TaskAction)


def refused_changes(node: str = "dev-a") -> list[dict[str, Any]]:
    return [
        upsert("task", uuid.uuid4(), node, title="Mine now"),  # a fixed sentence
        action(uuid.uuid4(), "fly", node),  # a sentence with fields (a Msg)
    ]


def no_private_keys(payload: Any) -> None:
    assert "_text" not in json.dumps(payload, ensure_ascii=False)


async def test_stored_rejections_are_worded_in_each_readers_language(
    client: Any, sessions: Sessions
) -> None:
    tech = await signed_in(client, sessions, Role.TECHNICIAN)
    admin = await signed_in(client, sessions, Role.ADMIN, tenant=tech.tenant)
    outsider = await signed_in(client, sessions, Role.ADMIN)
    body = {"client_id": "dev-a", "batch_id": "dev-a-1", "changes": refused_changes()}
    english = await (await client.post("/sync/push", json=body, headers=tech.headers)).json()
    no_private_keys(english)
    en = [result["problem"] for result in english["results"]]
    assert [p["code"] for p in en] == ["forbidden", "unknown_action"]
    assert en[0]["detail"] == "technicians do not create tasks"
    assert en[1]["detail"] == f"no action 'fly'; known: {KNOWN}"
    # The same batch again (the ledger's answer), asked in Arabic: worded now.
    again = await client.post("/sync/push", json=body, headers={**tech.headers, **AR})
    replayed = await again.json()
    no_private_keys(replayed)
    ar = [result["problem"] for result in replayed["results"]]
    assert ar[0]["detail"] == "لا ينشئ الفنيون المهام"
    assert ar[1]["detail"] == f"لا يوجد إجراء 'fly'؛ الإجراءات المعروفة: {KNOWN}"
    assert [p["title"] for p in ar] == ["ممنوع", "لا يوجد إجراء مهمة بهذا الاسم"]
    assert en[1]["title"] == "No such task action"
    # The admin reads the stored problems in the language they ask for.
    listed = await client.get("/sync/rejections", headers={**admin.headers, **AR})
    assert listed.headers["Content-Language"] == "ar"
    page = await listed.json()
    no_private_keys(page)
    by_code = {item["problem"]["code"]: item["problem"] for item in page["items"]}
    assert by_code["forbidden"]["detail"] == "لا ينشئ الفنيون المهام"
    assert by_code["forbidden"]["title"] == "ممنوع"
    assert by_code["unknown_action"]["detail"] == ar[1]["detail"]
    plain = await (await client.get("/sync/rejections", headers=admin.headers)).json()
    assert {item["problem"]["detail"] for item in plain["items"]} == {p["detail"] for p in en}
    # Dismissing answers in the reader's language too; another tenant sees nothing.
    rejection = next(i for i in page["items"] if i["problem"]["code"] == "unknown_action")
    dismissed = await client.post(
        f"/sync/rejections/{rejection['id']}/dismiss", headers={**admin.headers, **AR}
    )
    answer = await dismissed.json()
    no_private_keys(answer)
    assert answer["problem"]["detail"] == ar[1]["detail"]
    elsewhere = await client.get("/sync/rejections", headers={**outsider.headers, **AR})
    assert (await elsewhere.json())["items"] == []
    # The console shows them in the language its reader chose.
    console = Console(client)
    await console.sign_in(admin)
    _, text = await console.get("/console/rejections?status=all")
    assert "technicians do not create tasks" in text
    await console.post("/console/language", {"lang": "ar", "next": "/console/rejections"})
    _, text = await console.get("/console/rejections?status=all")
    assert "لا ينشئ الفنيون المهام" in text
    assert "technicians do not create tasks" not in text


async def test_push_results_over_the_socket_speak_its_language(
    client: Any, sessions: Sessions
) -> None:
    tech = await signed_in(client, sessions, Role.TECHNICIAN)
    protocols = ("syncd.v1", f"bearer.{tech.access_token}")
    cases = [
        (AR, {}, "ar"),  # Accept-Language at the upgrade
        ({}, {"locale": "ar-SA"}, "ar"),  # the hello's locale
        (AR, {"locale": "en"}, "en"),  # the hello's locale wins over the header
        ({}, {"locale": "fr"}, "en"),  # unsupported: the header (none), the user's, English
    ]
    for number, (headers, hello, expected) in enumerate(cases):
        ws = await client.ws_connect("/sync/ws", protocols=protocols, headers=headers)
        client_id = f"dev-{number}"
        await ws.send_json({"type": "hello", "client_id": client_id, "cursor": None, **hello})
        await until(ws, "caught_up")
        changes = refused_changes(client_id)
        await ws.send_json(
            {"type": "push", "client_id": client_id, "batch_id": "b1", "changes": changes}
        )
        frame = (await until(ws, "push_result"))[-1]
        no_private_keys(frame)
        details = [r["problem"]["detail"] for r in frame["results"]]
        if expected == "ar":
            assert details == [
                "لا ينشئ الفنيون المهام",
                f"لا يوجد إجراء 'fly'؛ الإجراءات المعروفة: {KNOWN}",
            ]
        else:
            assert details == [
                "technicians do not create tasks",
                f"no action 'fly'; known: {KNOWN}",
            ]
        await ws.send_json({"type": "sing"})
        error = await next_json(ws)
        while error["type"] != "error":
            error = await next_json(ws)
        assert error["problem"]["code"] == "unknown_message"
        assert error["problem"]["detail"] == (
            "المتوقع push أو ping" if expected == "ar" else "expected push or ping"
        )
        await ws.close()


async def test_a_body_outside_the_limits_is_explained_in_arabic(
    client: Any, sessions: Sessions
) -> None:
    """protocol/bounds.py's English messages reach the reader translated."""
    admin = await signed_in(client, sessions, Role.ADMIN)
    crowded = {f"k{n}": n for n in range(1001)}
    response = await client.post("/users/invite", json=crowded, headers={**admin.headers, **AR})
    assert response.status == 422
    problem = await response.json(content_type=None)
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [("(body)", "too_many_keys")]
    assert problem["errors"][0]["message"] == "أكثر من 1000 مفتاح"
    assert problem["detail"] == "متن الطلب خارج حدود الخادم: أكثر من 1000 مفتاح"
    english = await client.post("/users/invite", json=crowded, headers=admin.headers)
    assert (await english.json(content_type=None))["errors"][0]["message"] == (
        "more than 1000 keys"
    )


async def test_the_write_paths_own_sentences_are_worded_in_the_push_language(
    client: Any, sessions: Sessions
) -> None:
    """The details built from a change's values (an unknown entity or task, a
    version ahead, rows devices do not write) are templates too, so they read in
    Arabic; the stored rejection is worded again in English for an English reader,
    and another tenant's admin sees none of it."""
    admin = await signed_in(client, sessions, Role.ADMIN)
    outsider = await signed_in(client, sessions, Role.ADMIN)
    missing = uuid.uuid4()
    purchase = {
        "task_id": str(missing),
        "vendor": "Riyadh Pumps",
        "amount_minor": 100,
        "currency": "SAR",
        "purchased_at": "2026-12-01T09:00:00Z",
    }
    changes = [
        upsert("purchase", uuid.uuid4(), "dev-b", **purchase),
        upsert("gadget", uuid.uuid4(), "dev-b", name="x"),
        upsert("task", uuid.uuid4(), "dev-b", base=1_000_000, title="Ahead"),
        upsert("task_assignment", uuid.uuid4(), "dev-b", task_id=str(missing)),
    ]
    body = {"client_id": "dev-b", "batch_id": "dev-b-1", "changes": changes}
    answer = await client.post("/sync/push", json=body, headers={**admin.headers, **AR})
    problems = [result["problem"] for result in (await answer.json())["results"]]
    no_private_keys(problems)
    assert [p["code"] for p in problems] == [
        "unknown_reference",
        "unknown_entity",
        "validation_failed",
        "not_writable",
    ]
    assert problems[0]["detail"] == f"يشير task_id {missing} إلى task غير موجود"
    assert problems[0]["errors"][0]["message"] == "لا يوجد task كهذا"
    assert problems[1]["detail"].startswith("لا يوجد كيان 'gadget'؛ الكيانات المعروفة: ")
    assert problems[2]["detail"] == "base_version 1000000 أحدث من إصدار المستأجر"
    assert problems[3]["detail"] == "لا تكتب الأجهزة صفوف task_assignment"
    listed = await (await client.get("/sync/rejections", headers=admin.headers)).json()
    details = {item["problem"]["detail"] for item in listed["items"]}
    assert f"task_id {missing} names no live task" in details
    assert "base_version 1000000 is ahead of the tenant's version" in details
    assert "task_assignment rows are not written by devices" in details
    other = await (await client.get("/sync/rejections", headers=outsider.headers)).json()
    assert other["items"] == []
