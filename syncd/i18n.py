"""Problem titles and details in English and Arabic: gettext catalogs, Accept-Language.

The English text is the msgid (a problem's `title`, as `PROBLEM_CODES` lists
it, a few generic details, and the template of every case-specific detail, a
`Msg`); `syncd/locale/<locale>/LC_MESSAGES/syncd.po` holds each translation.
The `.po` file is the only form kept in git: the first time a locale is needed
it is compiled to `.mo` in memory (`babel.messages.mofile.write_mo`) and loaded
with `gettext`, so an edited catalog is live on the next start with no build
step and no stale `.mo`.

Which locale an answer speaks is `choose_locale`: the first supported one of the
`Accept-Language` header (by q-value; `ar`, `ar-SA` -> `ar`), then the
fallbacks the caller gives (the user's, then the tenant's), else English.
"""

from __future__ import annotations

import functools
import gettext
import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

DEFAULT_LOCALE = "en"
LOCALES = ("en", "ar")
DOMAIN = "syncd"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"


def catalog_path(locale: str, domain: str = DOMAIN) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{domain}.po"


@functools.cache
def translations(locale: str, domain: str = DOMAIN) -> gettext.NullTranslations:
    """The compiled catalog of a supported locale (English is the msgids themselves).

    `domain` names the catalog: `syncd` (problems) or `console` (the admin
    console's pages, syncd/console)."""
    if locale not in LOCALES:
        raise ValueError(f"unsupported locale {locale!r}; supported: {', '.join(LOCALES)}")
    if locale == DEFAULT_LOCALE:
        return gettext.NullTranslations()
    with catalog_path(locale, domain).open("rb") as source:
        catalog = read_po(source, locale=locale, domain=domain)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries are left out, as msgfmt does
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def translate(message: str, locale: str) -> str:
    """`message` in `locale`, or `message` itself when the catalog lacks it."""
    return translations(locale).gettext(message)


class Msg(str):
    """A message with named fields, translated by its template.

    `Msg("no task {task_id}", task_id=some_id)` is, as a str, the English text
    "no task 5b0c..."; `in_locale("ar")` looks up the template in the catalog
    (the .po holds `msgid "no task {task_id}"`) and fills in the same fields.
    Problems take one as their `detail` so that case-specific details are
    translated, not only generic ones. A field that is itself a `Msg` (a
    sentence fragment, such as a password rule) is translated too.
    """

    template: str
    params: dict[str, object]

    def __new__(cls, template: str, /, **params: object) -> Msg:
        made = super().__new__(cls, template.format(**params))
        made.template = template
        made.params = params
        return made

    def in_locale(self, locale: str) -> str:
        params = {
            name: value.in_locale(locale) if isinstance(value, Msg) else value
            for name, value in self.params.items()
        }
        return translate(self.template, locale).format(**params)


def has_translation(message: str, locale: str) -> bool:
    return locale == DEFAULT_LOCALE or translate(message, locale) != message


def accepted_languages(header: str) -> list[str]:
    """The language tags of an Accept-Language header, most preferred first.

    Tags with q=0 (refused) or a malformed q are dropped; equal q-values keep
    the header's order. `*` is kept (it means "any").
    """
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, *params = (piece.strip() for piece in part.split(";"))
        if not tag:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = -1.0
        if 0 < quality <= 1:
            ranked.append((-quality, position, tag.lower()))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate(header: str | None) -> str | None:
    """The first supported locale the header accepts (`ar-SA` -> `ar`), if any."""
    for tag in accepted_languages(header or ""):
        primary = tag.split("-", 1)[0].split("_", 1)[0]
        if primary in LOCALES:
            return primary
    return None


def choose_locale(accept_language: str | None, *fallbacks: str | None) -> str:
    """Accept-Language first, then each fallback in order, else English."""
    chosen = negotiate(accept_language)
    if chosen is not None:
        return chosen
    for locale in fallbacks:
        primary = (locale or "").lower().split("-", 1)[0]
        if primary in LOCALES:
            return primary
    return DEFAULT_LOCALE
