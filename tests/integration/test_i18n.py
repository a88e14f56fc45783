"""Problems in English and Arabic: a complete catalog, Accept-Language, the tenant's locale.

The app is built first so that every route module, and so every Problem
subclass, is imported: a new problem without an Arabic title fails here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from babel.messages.pofile import read_po
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from syncd.app import create_app
from syncd.i18n import catalog_path, has_translation
from syncd.problems import PROBLEM_CODES, Problem
from tests.conftest import make_settings, make_tenant
from tests.factories import make_user, signed_in

Sessions = async_sessionmaker[AsyncSession]
ROOT = Path(__file__).resolve().parents[2]
PO = "syncd/locale/ar/LC_MESSAGES/syncd.po"


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


def test_the_catalog_has_no_fuzzy_empty_or_stale_entry(built_app: web.Application) -> None:
    with catalog_path("ar").open("rb") as source:
        catalog = read_po(source, locale="ar")
    titles = {cls.title for cls in problem_classes()}
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
        assert message.id in titles or any(q in sources for q in quoted), (
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


async def test_generic_details_are_translated_case_specific_ones_stay_english(
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
    assert body["detail"] == "the technician role lacks 'conflicts:manage'"
    assert refused.headers["Content-Language"] == "ar"


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
