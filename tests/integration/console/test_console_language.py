"""The console in Arabic: pages right to left, the language switch, and an Arabic
translation with the same fields for every text of the templates and navigation.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jinja2
from jinja2.ext import extract_from_ast
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from syncd.console.render import NAV
from syncd.i18n import translations
from tests.support.console import Console
from tests.support.console_world import team

Sessions = async_sessionmaker[AsyncSession]


TEMPLATES = Path(__file__).resolve().parents[3] / "syncd" / "console" / "templates"


async def test_arabic_pages_are_right_to_left_and_the_language_can_change(
    client: Any, sessions: Sessions
) -> None:
    world = await team(client, sessions, locale="ar")
    console = Console(client)
    _, text = await console.get("/console/login")
    assert '<html lang="en" dir="ltr">' in text  # no tenant known yet: the browser's language
    await console.sign_in(world.admin)
    _, text = await console.get("/console/inbox")
    assert '<html lang="ar" dir="rtl">' in text
    assert "صندوق التعارضات" in text
    switched, _ = await console.post("/console/language", {"lang": "en", "next": "/console/jobs"})
    assert switched.headers["Location"] == "/console/jobs"
    _, text = await console.get("/console/jobs")
    assert '<html lang="en" dir="ltr">' in text
    assert "Jobs per queue and state" in text
    await console.post("/console/language", {"lang": "ar", "next": "/console/jobs"})
    _, text = await console.get("/console/jobs")
    assert "المهام الخلفية حسب الطابور والحالة" in text
    refused, text = await console.get("/console/inbox?status=everything")
    assert refused.status == 422
    assert 'dir="rtl"' in text
    assert "validation_failed" in text


def template_messages() -> dict[str | tuple[str, str], str]:
    """Every text of the templates (a plural as its two English forms) and the navigation."""
    environment = jinja2.Environment(extensions=["jinja2.ext.i18n"], autoescape=True)
    found: dict[str | tuple[str, str], str] = {}
    for path in sorted(TEMPLATES.glob("*.html")):
        tree = environment.parse(path.read_text(encoding="utf-8"))
        for _line, _function, message in extract_from_ast(tree, ("_", "gettext", "ngettext")):
            if isinstance(message, str):
                found[message] = path.name
            elif isinstance(message, tuple):
                found[(str(message[0]), str(message[1]))] = path.name
    for _href, label, _permission in NAV:
        found[label] = "render.py NAV"
    return found


def test_every_console_text_has_an_arabic_translation_with_the_same_fields() -> None:
    messages = template_messages()
    assert len(messages) > 100
    arabic = translations("ar", "console")
    fields = re.compile(r"{(\w+)}|%\((\w+)\)d")
    missing, mismatched = [], []
    for message, where in messages.items():
        if isinstance(message, tuple):  # every plural form: translated, with no other field
            forms = {arabic.ngettext(*message, n) for n in (0, 1, 2, 3, 11, 100)}
            if message[0] in forms or message[1] in forms:
                missing.append(f"{where}: {message!r}")
            elif any(set(fields.findall(f)) - {("", "num")} for f in forms):
                mismatched.append(f"{where}: {message!r}")
            continue
        translated = arabic.gettext(message)
        if translated == message:
            missing.append(f"{where}: {message!r}")
        elif set(fields.findall(translated)) != set(fields.findall(message)):
            mismatched.append(f"{where}: {message!r}")
    assert missing == [], "add to syncd/locale/ar/LC_MESSAGES/console.po"
    assert mismatched == []
    assert arabic.ngettext("%(num)d change", "%(num)d changes", 2) == "تغييران"
