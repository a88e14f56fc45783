"""Problems in English and Arabic: a complete catalog, Accept-Language, the tenant's locale.

The app is built first so that every route module, and so every Problem
subclass, is imported: a new problem without an Arabic title fails here.
"""

from __future__ import annotations

import ast
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from babel.messages.pofile import read_po
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from syncd.app import create_app
from syncd.auth.errors import SessionRevoked
from syncd.i18n import Msg, catalog_path, has_translation, translate
from syncd.web.problems import PROBLEM_CODES, Problem
from tests.support.factories import PASSWORD, make_tenant, make_user, signed_in
from tests.support.services import make_settings

Sessions = async_sessionmaker[AsyncSession]
ROOT = Path(__file__).resolve().parents[3]
PO = "syncd/locale/ar/LC_MESSAGES/syncd.po"
AR = {"Accept-Language": "ar"}


@pytest.fixture(scope="module")
def built_app(tmp_path_factory: pytest.TempPathFactory) -> web.Application:
    return create_app(make_settings(tmp_path_factory.mktemp("i18n")))


def problem_classes() -> list[type[Problem]]:
    found: list[type[Problem]] = [Problem]
    for cls in found:
        found.extend(cls.__subclasses__())
    return found


def test_every_problem_code_and_title_has_an_arabic_translation(
    built_app: web.Application,
) -> None:
    assert len(PROBLEM_CODES) > 40  # the route modules' problems are registered
    titles = dict(PROBLEM_CODES)
    titles.update({f"{cls.__qualname__} ({cls.code})": cls.title for cls in problem_classes()})
    missing = sorted(
        f"{name}: {title!r}" for name, title in titles.items() if not has_translation(title, "ar")
    )
    assert missing == [], f"add an Arabic msgstr for these to {PO}"


def msg_templates() -> dict[str, str]:
    """Every literal template of a `Msg(...)` in the server's sources, with where it is."""
    found: dict[str, str] = {}
    for package in ("syncd", "storage", "jobs"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id == "Msg"
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)
                ):
                    found[node.args[0].value] = f"{path.relative_to(ROOT)}:{node.lineno}"
    return found


def test_every_detail_template_has_an_arabic_translation_with_the_same_fields() -> None:
    templates = msg_templates()
    assert templates  # the scan finds the details syncd raises
    fields = re.compile(r"{(\w+)}")
    missing, mismatched = [], []
    for template, where in sorted(templates.items()):
        arabic = translate(template, "ar")
        if arabic == template:
            missing.append(f"{where}: {template!r}")
        elif sorted(fields.findall(arabic)) != sorted(fields.findall(template)):
            mismatched.append(f"{where}: {template!r} -> {arabic!r}")
    assert missing == [], f"add an Arabic msgstr for these to {PO}"
    assert mismatched == [], "a translation must use the same {fields} as its template"


def test_a_msg_is_its_english_text_and_translates_as_a_template() -> None:
    detail = Msg("no task {task_id}", task_id="5b0c")
    assert detail == "no task 5b0c"
    assert detail.in_locale("en") == "no task 5b0c"
    assert detail.in_locale("ar") == translate("no task {task_id}", "ar").format(task_id="5b0c")
    assert "5b0c" in detail.in_locale("ar")


def test_a_msg_field_that_is_a_msg_is_translated_too() -> None:
    rule = Msg("must be at least {count} characters", count=10)
    detail = Msg("the password {rule}", rule=rule)
    assert detail == "the password must be at least 10 characters"
    assert detail.in_locale("ar") == translate("the password {rule}", "ar").format(
        rule=translate("must be at least {count} characters", "ar").format(count=10)
    )
    assert "must" not in detail.in_locale("ar")


def test_the_catalog_has_no_fuzzy_empty_or_stale_entry(built_app: web.Application) -> None:
    with catalog_path("ar").open("rb") as source:
        catalog = read_po(source, locale="ar")
    known = {cls.title for cls in problem_classes()} | set(msg_templates())
    sources = "\n".join(
        path.read_text()
        for package in ("syncd", "storage", "jobs")
        for path in (ROOT / package).rglob("*.py")
    )
    entries = [message for message in catalog if message.id]
    assert entries
    for message in entries:
        assert isinstance(message.id, str), message.id
        assert message.string, f"{message.id!r} has an empty translation"
        assert not message.fuzzy, f"{message.id!r} is fuzzy: fuzzy entries are not compiled"
        assert re.search("[\u0600-\u06ff]", str(message.string)), f"{message.id!r}: not Arabic"
        quoted = (f'"{message.id}"', f"'{message.id}'")
        assert message.id in known or any(q in sources for q in quoted), (
            f"{message.id!r} is neither a problem title nor a detail syncd raises: drop it"
        )


async def test_an_unknown_path_answers_in_arabic_when_asked(client: Any) -> None:
    response = await client.get("/no/such/path", headers={"Accept-Language": "ar"})
    assert response.status == 404
    assert response.headers["Content-Language"] == "ar"
    assert "Accept-Language" in response.headers.getall("Vary")
    body = await response.json(content_type=None)
    assert body["code"] == "not_found"
    assert body["title"] == body["detail"] == "غير موجود"
    english = await client.get("/no/such/path")
    assert english.headers["Content-Language"] == "en"
    assert (await english.json(content_type=None))["title"] == "Not found"


@pytest.mark.parametrize(
    ("header", "title"),
    [
        ("ar-SA", "غير موجود"),
        ("fr;q=1, en;q=0.5, ar;q=0.9", "غير موجود"),
        ("ar;q=0.2, en-GB;q=0.8", "Not found"),
        ("ar;q=0, fr", "Not found"),
    ],
)
async def test_q_values_choose_the_language(client: Any, header: str, title: str) -> None:
    response = await client.get("/no/such/path", headers={"Accept-Language": header})
    assert (await response.json(content_type=None))["title"] == title


async def test_generic_and_case_specific_details_are_translated(
    client: Any, sessions: Sessions
) -> None:
    anonymous = await client.get("/conflicts", headers={"Accept-Language": "ar"})
    assert anonymous.status == 401
    body = await anonymous.json(content_type=None)
    assert body["code"] == "token_missing"
    assert body["title"] == "يلزم رمز وصول (Bearer)"
    assert body["detail"] == "أرسل الترويسة 'Authorization: Bearer <access token>'"
    technician = await signed_in(client, sessions, Role.TECHNICIAN)
    refused = await client.get(
        "/conflicts", headers={**technician.headers, "Accept-Language": "ar"}
    )
    assert refused.status == 403
    body = await refused.json(content_type=None)
    assert body["title"] == "دورك لا يسمح بهذا"
    assert body["detail"] == "الدور technician لا يملك الصلاحية 'conflicts:manage'"
    assert refused.headers["Content-Language"] == "ar"
    english = await client.get("/conflicts", headers=technician.headers)
    assert (await english.json(content_type=None))["detail"] == (
        "the technician role lacks 'conflicts:manage'"
    )


async def test_an_unknown_task_is_named_in_the_asked_language(
    client: Any, sessions: Sessions
) -> None:
    tenant = await make_tenant(sessions)
    admin = await signed_in(client, sessions, Role.ADMIN, tenant)
    task_id = str(uuid.uuid4())
    arabic = await client.get(f"/tasks/{task_id}", headers={**admin.headers, **AR})
    assert arabic.status == 404
    assert arabic.headers["Content-Language"] == "ar"
    body = await arabic.json(content_type=None)
    assert body["code"] == "task_not_found"
    assert body["title"] == "لا توجد مهمة بهذا المعرّف"
    assert body["detail"] == f"لا توجد مهمة بالمعرّف {task_id}"
    english = await client.get(f"/tasks/{task_id}", headers=admin.headers)
    assert english.headers["Content-Language"] == "en"
    assert (await english.json(content_type=None))["detail"] == f"no task {task_id}"
    # A malformed id is quoted as it came (repr), in either language.
    malformed = await client.get("/tasks/not-a-uuid", headers={**admin.headers, **AR})
    assert (await malformed.json(content_type=None))["detail"] == (
        "لا توجد مهمة بالمعرّف 'not-a-uuid'"
    )
    # Another tenant's task reads as unknown, named the same way.
    created = await client.post("/tasks", json={"title": "Fix pump"}, headers=admin.headers)
    assert created.status == 201, await created.text()
    theirs = (await created.json())["id"]
    other = await signed_in(client, sessions, Role.ADMIN)
    hidden = await client.get(f"/tasks/{theirs}", headers={**other.headers, **AR})
    assert hidden.status == 404
    assert (await hidden.json(content_type=None))["detail"] == f"لا توجد مهمة بالمعرّف {theirs}"


async def test_a_bad_login_answers_in_the_asked_language(client: Any, sessions: Sessions) -> None:
    tenant = await make_tenant(sessions)
    account = await make_user(sessions, tenant, Role.STAFF)
    attempt = {"email": account.email, "password": "not-the-password"}
    arabic = await client.post("/auth/login", json=attempt, headers={"X-Tenant": tenant.slug, **AR})
    assert arabic.status == 401
    body = await arabic.json(content_type=None)
    assert body["code"] == "invalid_credentials"
    assert body["detail"] == "البريد الإلكتروني أو كلمة المرور غير صحيحة"
    english = await client.post("/auth/login", json=attempt, headers={"X-Tenant": tenant.slug})
    assert (await english.json(content_type=None))["detail"] == "the email or password is wrong"


async def test_validation_details_and_field_messages_are_translated(
    client: Any, sessions: Sessions
) -> None:
    admin = await signed_in(client, sessions, Role.ADMIN)
    bad = {"title": "", "no_such_field": 1}
    arabic = await client.post("/tasks", json=bad, headers={**admin.headers, **AR})
    assert arabic.status == 422
    body = await arabic.json(content_type=None)
    assert body["code"] == "validation_failed"
    assert body["detail"] == "عدد الحقول التي لم تجتز التحقق: 2"
    english = await client.post("/tasks", json=bad, headers=admin.headers)
    english_body = await english.json(content_type=None)
    assert english_body["detail"] == "2 field(s) did not validate"
    # field and code are for programs (never translated); message is for people.
    strip = [(e["field"], e["code"]) for e in body["errors"]]
    assert strip == [(e["field"], e["code"]) for e in english_body["errors"]]
    assert [e["message"] for e in english_body["errors"]] == [
        "String should have at least 1 character",
        "Extra inputs are not permitted",
    ]
    assert [e["message"] for e in body["errors"]] == [
        "يجب أن يتكون النص من 1 حرف على الأقل",
        "الحقول الإضافية غير مسموح بها",
    ]
    limit = await client.get("/tasks?limit=0", headers={**admin.headers, **AR})
    assert limit.status == 422
    assert (await limit.json(content_type=None))["detail"] == (
        "يجب أن تكون قيمة limit عددًا صحيحًا من 1 إلى 200"
    )


async def test_a_password_rule_is_translated_inside_its_sentence(
    client: Any, sessions: Sessions
) -> None:
    me = await signed_in(client, sessions, Role.STAFF)
    change = {"current_password": PASSWORD, "new_password": "short"}
    arabic = await client.post("/users/me/password", json=change, headers={**me.headers, **AR})
    assert arabic.status == 422
    body = await arabic.json(content_type=None)
    assert body["code"] == "password_policy"
    assert body["detail"] == "كلمة المرور الجديدة يجب ألا يقل طولها عن 10 أحرف"
    assert body["errors"][0]["message"] == "يجب ألا يقل طولها عن 10 أحرف"
    english = await client.post("/users/me/password", json=change, headers=me.headers)
    assert (await english.json(content_type=None))["detail"] == (
        "the new password must be at least 10 characters"
    )


async def test_the_tenant_locale_is_the_fallback(client: Any, sessions: Sessions) -> None:
    arabic = await make_tenant(sessions, locale="ar")
    technician = await signed_in(client, sessions, Role.TECHNICIAN, arabic)
    refused = await client.get("/conflicts", headers=technician.headers)
    assert refused.status == 403
    assert refused.headers["Content-Language"] == "ar"
    assert (await refused.json(content_type=None))["title"] == "دورك لا يسمح بهذا"
    # Accept-Language wins over the tenant's locale.
    asked = await client.get("/conflicts", headers={**technician.headers, "Accept-Language": "en"})
    assert (await asked.json(content_type=None))["title"] == "Your role does not allow this"
    # A public request that names the tenant (login) speaks its language too.
    account = await make_user(sessions, arabic, Role.STAFF)
    wrong = await client.post(
        "/auth/login",
        json={"email": account.email, "password": "not-the-password"},
        headers={"X-Tenant": arabic.slug},
    )
    assert wrong.status == 401
    assert (await wrong.json(content_type=None))["title"] == (
        "البريد الإلكتروني أو كلمة المرور غير صحيحة"
    )


async def test_a_revoked_session_is_refused_in_the_tenants_language(
    client: Any, sessions: Sessions
) -> None:
    arabic = await make_tenant(sessions, locale="ar")
    staff = await signed_in(client, sessions, Role.STAFF, arabic)
    assert (await client.post("/auth/logout", headers=staff.headers)).status == 204
    refused = await client.get("/conflicts", headers=staff.headers)
    assert refused.status == 401
    assert refused.headers["Content-Language"] == "ar"
    body = await refused.json(content_type=None)
    assert body["code"] == "session_revoked"
    assert body["title"] == translate(SessionRevoked.title, "ar") != SessionRevoked.title


async def test_the_users_locale_comes_before_the_tenants(client: Any, sessions: Sessions) -> None:
    english_tenant = await make_tenant(sessions, locale="en")
    arabic_user = await signed_in(client, sessions, Role.TECHNICIAN, english_tenant, locale="ar")
    refused = await client.get("/conflicts", headers=arabic_user.headers)
    assert refused.headers["Content-Language"] == "ar"
    assert (await refused.json(content_type=None))["title"] == "دورك لا يسمح بهذا"
    asked = await client.get("/conflicts", headers={**arabic_user.headers, "Accept-Language": "en"})
    assert (await asked.json(content_type=None))["title"] == "Your role does not allow this"


async def test_another_tenants_locale_does_not_leak(client: Any, sessions: Sessions) -> None:
    await make_tenant(sessions, locale="ar")
    english = await make_tenant(sessions, locale="en")
    technician = await signed_in(client, sessions, Role.TECHNICIAN, english)
    refused = await client.get("/conflicts", headers=technician.headers)
    assert refused.headers["Content-Language"] == "en"
    assert (await refused.json(content_type=None))["title"] == "Your role does not allow this"
    # A token of the English tenant naming the Arabic one is refused, in English.
    arabic = await make_tenant(sessions, locale="ar")
    mismatch = await client.get(
        "/conflicts", headers={**technician.headers, "X-Tenant": arabic.slug}
    )
    assert mismatch.status == 403
    assert mismatch.headers["Content-Language"] == "en"
