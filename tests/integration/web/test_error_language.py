"""Errors speak the request's language and our own words; HSTS outside dev (#19).

`limit=abc` is a type error (`int_parsing`), not `out_of_range`; every
`errors[].message` is translated (pydantic's words included); a refused
token's detail is one of syncd's sentences, never the JWT library's message.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from pydantic_core._pydantic_core import list_all_errors
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from syncd.app import create_app
from syncd.i18n import has_translation
from syncd.web.field_messages import TEMPLATES
from tests.support.factories import PASSWORD, forged_tokens, signed_in
from tests.support.services import make_settings

Sessions = async_sessionmaker[AsyncSession]
AR = {"Accept-Language": "ar"}
OUR_TOKEN_DETAILS = {
    "the access token has expired; refresh it",
    "the token's signature does not match",
    "the token is signed with an algorithm this server does not accept",
    "the token was not issued for this server",
    "the token lacks a required claim",
    "the token is not valid yet",
    "the token is not a well-formed JWT",
    "the token is not valid",
    "the token's claims are malformed",
}


def test_the_field_templates_are_pydantics_and_all_translated() -> None:
    pydantic = {e["type"]: e["message_template_python"] for e in list_all_errors()}
    for error_type, known in TEMPLATES.items():
        templates = (known,) if isinstance(known, str) else known
        assert pydantic[error_type] in templates, error_type
        for template in templates:
            assert has_translation(template, "ar"), template


async def test_a_limit_that_is_not_a_number_is_a_type_error(
    client: Any, sessions: Sessions
) -> None:
    admin = await signed_in(client, sessions, Role.ADMIN)
    for path in ("/users", "/tasks", "/sync/pull", "/admin/audit", "/conflicts"):
        for raw, code in (
            ("abc", "int_parsing"),
            ("1.5", "int_parsing"),
            ("99999999999999999999999", "int_parsing"),
            ("0", "out_of_range"),
            ("100000", "out_of_range"),
        ):
            response = await client.get(path, params={"limit": raw}, headers=admin.headers)
            assert response.status == 422, (path, raw)
            body = await response.json(content_type=None)
            assert body["code"] == "validation_failed"
            assert [(e["field"], e["code"]) for e in body["errors"]] == [("limit", code)], path
    arabic = await client.get("/users?limit=abc", headers={**admin.headers, **AR})
    message = (await arabic.json(content_type=None))["errors"][0]["message"]
    assert message == "يجب أن تكون القيمة عددًا صحيحًا، وتعذّر قراءة النص عددًا صحيحًا"


async def test_field_errors_answer_in_the_requests_language(
    client: Any, sessions: Sessions
) -> None:
    admin = await signed_in(client, sessions, Role.ADMIN)
    bad = {"email": "not-an-email", "role": "boss", "extra": 1}
    english = await client.post("/users/invite", json=bad, headers=admin.headers)
    arabic = await client.post("/users/invite", json=bad, headers={**admin.headers, **AR})
    assert english.status == arabic.status == 422
    en, ar = await english.json(content_type=None), await arabic.json(content_type=None)
    assert [e["code"] for e in en["errors"]] == [e["code"] for e in ar["errors"]]
    by_field = {e["field"]: e["message"] for e in en["errors"]}
    assert by_field["extra"] == "Extra inputs are not permitted"
    assert by_field["role"] == "Input should be 'admin', 'staff' or 'technician'"
    assert by_field["email"].startswith("value is not a valid email address: ")
    arabic_by_field = {e["field"]: e["message"] for e in ar["errors"]}
    assert arabic_by_field["extra"] == "الحقول الإضافية غير مسموح بها"
    assert arabic_by_field["role"] == "يجب أن تكون القيمة 'admin', 'staff' or 'technician'"
    assert arabic_by_field["email"].startswith("القيمة ليست عنوان بريد إلكتروني صالحًا: ")
    missing = await client.post("/users/invite", json={}, headers={**admin.headers, **AR})
    assert {e["message"] for e in (await missing.json(content_type=None))["errors"]} == {
        "الحقل مطلوب"
    }
    weak = await client.post(
        "/users/me/password",
        json={"current_password": PASSWORD, "new_password": "short1"},
        headers={**admin.headers, **AR},
    )
    body = await weak.json(content_type=None)
    assert body["code"] == "password_policy"
    assert all("must" not in e["message"] for e in body["errors"])


async def test_a_refused_tokens_detail_is_ours(
    client: Any, sessions: Sessions, settings: Any
) -> None:
    account = await signed_in(client, sessions, Role.ADMIN)
    for name, token in forged_tokens(settings, account).items():
        response = await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
        detail = (await response.json(content_type=None))["detail"]
        assert detail in OUR_TOKEN_DETAILS, (name, detail)
    garbage = await client.post("/auth/refresh", json={"refresh_token": "x" * 40})
    assert (await garbage.json(content_type=None))["detail"] == "the token is not a well-formed JWT"
    arabic = await client.get("/auth/me", headers={"Authorization": "Bearer a.b.c", **AR})
    assert (await arabic.json(content_type=None))["detail"] == "الرمز ليس JWT سليم البنية"


async def test_hsts_outside_dev_only(
    database_url: str, tmp_path: Path, aiohttp_client: Any
) -> None:
    for env, expected in (("test", True), ("dev", False)):
        settings = make_settings(tmp_path / env, DATABASE_URL=database_url, SYNCD_ENV=env)
        client = await aiohttp_client(create_app(settings))
        for path in ("/health", "/no/such/path"):
            response = await client.get(path)
            hsts = response.headers.get("Strict-Transport-Security")
            assert (hsts == "max-age=31536000; includeSubDomains") is expected, (env, path)


async def test_a_pushed_changes_problem_speaks_the_requests_language(
    client: Any, sessions: Sessions
) -> None:
    from tests.support.sync import upsert

    tech = await signed_in(client, sessions, Role.TECHNICIAN)
    changes = [
        upsert("task", uuid.uuid4(), "dev-a", title="Mine now"),  # technicians do not create
        {**upsert("task", uuid.uuid4(), "dev-a", title=""), "base_version": "x"},
    ]
    body = {"client_id": "dev-a", "batch_id": str(uuid.uuid4()), "changes": changes}
    english = await client.post("/sync/push", json=body, headers=tech.headers)
    body["batch_id"] = str(uuid.uuid4())
    arabic = await client.post("/sync/push", json=body, headers={**tech.headers, **AR})
    en = [r["problem"] for r in (await english.json())["results"]]
    ar = [r["problem"] for r in (await arabic.json())["results"]]
    assert [p["code"] for p in en] == [p["code"] for p in ar] == ["forbidden", "validation_failed"]
    assert en[0]["detail"] == "technicians do not create tasks"
    assert ar[0]["detail"] == "لا ينشئ الفنيون المهام"
    assert en[1]["detail"] == "the change did not validate"
    assert ar[1]["detail"] == "لم يجتز التغيير التحقق"
    assert ar[1]["title"] == "الطلب غير صالح"
    assert [e["code"] for e in ar[1]["errors"]] == [e["code"] for e in en[1]["errors"]]
    assert en[1]["errors"][0]["message"] == "Input should be a valid integer"
    assert ar[1]["errors"][0]["message"] == "يجب أن تكون القيمة عددًا صحيحًا"
