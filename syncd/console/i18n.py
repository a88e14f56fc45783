"""The console's language and clock: English or Arabic, the tenant's time zone.

Which language a page speaks: the person's choice (the language switch, kept
in a cookie), else their own locale, else the tenant's, else the browser's
Accept-Language, else English. Arabic pages are `dir="rtl"`. The page text is
the `console` gettext catalog (syncd/locale/ar/LC_MESSAGES/console.po);
problems keep their own catalog (`syncd`). Times are shown in the tenant's
time zone, formatted for the language, with the exact instant in
`<time datetime>`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_datetime
from markupsafe import Markup

from syncd.i18n import LOCALES, choose_locale, translations

DOMAIN = "console"
RTL = frozenset({"ar"})


def page_locale(
    choice: str | None, user: str | None, tenant: str | None, accept_language: str | None
) -> str:
    """The console's order: the person's choice, their locale, the tenant's, the browser's."""
    for preferred in (choice, user, tenant):
        if preferred in LOCALES:
            return preferred
    return choose_locale(accept_language)


@functools.cache
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@dataclass(frozen=True, slots=True)
class Speech:
    """How one page speaks: its language, direction and clock."""

    locale: str
    time_zone: str

    @property
    def direction(self) -> str:
        return "rtl" if self.locale in RTL else "ltr"

    def gettext(self, message: str) -> str:
        return translations(self.locale, DOMAIN).gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """The form for `n` (Arabic has six), with `%(num)d` filled in."""
        return translations(self.locale, DOMAIN).ngettext(singular, plural, n) % {"num": n}

    def moment(self, value: Any) -> datetime | None:
        """`value` (an aware datetime or ISO 8601 text) in the tenant's zone."""
        if value is None or value == "":
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if not isinstance(value, datetime):
            raise TypeError(f"not a moment: {value!r}")
        moment: datetime = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return moment.astimezone(zone(self.time_zone))

    def when(self, value: Any) -> Markup:
        """A `<time>` element: the instant, shown in the tenant's zone and language."""
        moment = self.moment(value)
        if moment is None:
            return Markup("<span class='none'>—</span>")
        shown = format_datetime(moment, "medium", tzinfo=moment.tzinfo, locale=self.locale)
        return Markup('<time datetime="{}">{}</time>').format(
            moment.isoformat(timespec="seconds"), shown
        )

    def context(self) -> dict[str, Any]:
        return {
            "locale": self.locale,
            "direction": self.direction,
            "time_zone": self.time_zone,
            "gettext": self.gettext,
            "ngettext": self.ngettext,
            "_": self.gettext,
            "when": self.when,
        }
