"""The words of a job sheet in English and Arabic, Babel formats, and direction runs.

- `LABELS`: every fixed text of the sheet, per locale; statuses, priorities and
  timeline kinds too (an unknown kind is shown as it is stored).
- `SheetFormat`: dates and times in the tenant's time zone, money by ISO 4217
  currency (minor units, the currency's own digits), numbers and geo stamps,
  all through Babel for the sheet's locale.
- `runs(text, rtl)`: a line cut into direction runs at word boundaries, in
  logical order (`list_runs` for a list of typed values, each an isolate).
  The renderer gives each run its own cell (Arabic ones right to left),
  because mixed-direction text shaped as one cell comes out misordered
  (FIELD-NOTES.md) and extracts scrambled. In a right-to-left line
  every number stands alone (as the Unicode bidi algorithm places it); Latin
  words keep together, as do Arabic words in a left-to-right line.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date, format_time
from babel.numbers import format_currency, format_decimal, get_currency_precision

LOCALES = ("en", "ar")
DATE = "d MMM y"  # 24 Nov 2026, 24 نوفمبر 2026
_BIDI_CONTROLS = re.compile("[\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]")
_SPACES = re.compile(r"[\s\u00a0\u202f]+")

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "job_sheet": "Job sheet",
        "status": "Status",
        "priority": "Priority",
        "due": "Due",
        "assignees": "Assignees",
        "unassigned": "Nobody",
        "location": "Location",
        "created": "Created",
        "description": "Description",
        "notes": "Notes",
        "timeline": "Timeline",
        "time": "Time",
        "event": "Event",
        "by": "By",
        "position": "Position",
        "refused": "refused",
        "purchases": "Purchases",
        "vendor": "Vendor",
        "date": "Date",
        "item": "Item",
        "quantity": "Qty",
        "unit_price": "Unit price",
        "amount": "Amount",
        "totals": "Totals by currency",
        "receipts": "Receipts",
        "files": "Files",
        "photos": "Photos",
        "none": "None",
        "more_photos": "more photos not shown:",
        "earlier_events": "earlier events not shown:",
        "generated": "Generated",
        "page": "Page",
        "of": "of",
        "metres": "m",
        "job_number": "Job number",
        "time_zone": "Time zone",
        "times_in": "Times are in",
        "total": "Total",
        "sign_off": "Customer sign-off",
        "signed_by": "Signed by",
        "signed_at": "Signed at",
        "signed_where": "Signed at position",
        "no_drawing": "(no drawn signature on file)",
        "not_signed": "Not signed yet",
    },
    "ar": {
        "job_sheet": "ورقة العمل",
        "status": "الحالة",
        "priority": "الأولوية",
        "due": "موعد الاستحقاق",
        "assignees": "المكلفون",
        "unassigned": "لا أحد",
        "location": "الموقع",
        "created": "تاريخ الإنشاء",
        "description": "الوصف",
        "notes": "الملاحظات",
        "timeline": "السجل الزمني",
        "time": "الوقت",
        "event": "الحدث",
        "by": "بواسطة",
        "position": "الإحداثيات",
        "refused": "مرفوض",
        "purchases": "المشتريات",
        "vendor": "المورد",
        "date": "التاريخ",
        "item": "البند",
        "quantity": "الكمية",
        "unit_price": "سعر الوحدة",
        "amount": "المبلغ",
        "totals": "المجاميع حسب العملة",
        "receipts": "الإيصالات",
        "files": "الملفات",
        "photos": "الصور",
        "none": "لا يوجد",
        "more_photos": "صور أخرى لم تعرض:",
        "earlier_events": "أحداث سابقة لم تعرض:",
        "generated": "تاريخ الإصدار",
        "page": "صفحة",
        "of": "من",
        "metres": "م",
        "job_number": "رقم العمل",
        "time_zone": "المنطقة الزمنية",
        "times_in": "الأوقات بتوقيت",
        "total": "الإجمالي",
        "sign_off": "توقيع العميل",
        "signed_by": "وقّع باسم",
        "signed_at": "وقت التوقيع",
        "signed_where": "موقع التوقيع",
        "no_drawing": "(لا يوجد رسم للتوقيع)",
        "not_signed": "لم يوقّع بعد",
    },
}

STATUSES: dict[str, dict[str, str]] = {
    "en": {
        "open": "Open",
        "assigned": "Assigned",
        "in_progress": "In progress",
        "paused": "Paused",
        "completed": "Completed",
        "rejected": "Rejected",
    },
    "ar": {
        "open": "مفتوحة",
        "assigned": "مسندة",
        "in_progress": "قيد التنفيذ",
        "paused": "متوقفة مؤقتا",
        "completed": "مكتملة",
        "rejected": "مرفوضة",
    },
}

PRIORITIES: dict[str, dict[str, str]] = {
    "en": {"low": "Low", "normal": "Normal", "high": "High", "urgent": "Urgent"},
    "ar": {"low": "منخفضة", "normal": "عادية", "high": "عالية", "urgent": "عاجلة"},
}

EVENT_KINDS: dict[str, dict[str, str]] = {
    "en": {
        "created": "Task created",
        "assigned": "Assigned",
        "unassigned": "Unassigned",
        "started": "Started",
        "paused": "Paused",
        "resumed": "Resumed",
        "completed": "Completed",
        "rejected": "Rejected",
        "reopened": "Reopened",
        "action_refused": "Action refused",
        "purchase_added": "Purchase added",
        "receipt_added": "Receipt added",
        "media_added": "File added",
        "note": "Note",
        "photo": "Photo",
        "arrived": "Arrived",
        "left": "Left",
        "signature": "Signature",
        "custom": "Other",
    },
    "ar": {
        "created": "إنشاء المهمة",
        "assigned": "إسناد",
        "unassigned": "إلغاء الإسناد",
        "started": "بدء العمل",
        "paused": "إيقاف مؤقت",
        "resumed": "استئناف",
        "completed": "إكمال",
        "rejected": "رفض",
        "reopened": "إعادة فتح",
        "action_refused": "إجراء مرفوض",
        "purchase_added": "إضافة مشتريات",
        "receipt_added": "إضافة إيصال",
        "media_added": "إضافة ملف",
        "note": "ملاحظة",
        "photo": "صورة",
        "arrived": "الوصول",
        "left": "المغادرة",
        "signature": "توقيع",
        "custom": "حدث آخر",
    },
}


def check_locale(locale: str) -> str:
    if locale not in LOCALES:
        raise ValueError(f"unsupported locale {locale!r}; supported: {', '.join(LOCALES)}")
    return locale


def clean(text: str) -> str:
    """One line of text: bidi controls dropped (runs place the text), spaces plain."""
    return _SPACES.sub(" ", _BIDI_CONTROLS.sub("", text)).strip()


class SheetFormat:
    """Labels and Babel formats for one locale and time zone."""

    def __init__(self, locale: str, time_zone: str) -> None:
        self.locale = check_locale(locale)
        self.rtl = locale == "ar"
        try:
            self.zone = ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            self.zone = ZoneInfo("UTC")

    def label(self, key: str) -> str:
        return LABELS[self.locale][key]

    def status(self, value: str) -> str:
        return STATUSES[self.locale].get(value, value)

    def priority(self, value: str) -> str:
        return PRIORITIES[self.locale].get(value, value)

    def event_kind(self, value: str) -> str:
        return EVENT_KINDS[self.locale].get(value, value)

    def timestamp(self, moment: datetime) -> str:
        """Date and time in the tenant's zone: the month by name, the day before it, the
        time on 24 hours (`24 Nov 2026 11:00`), so no reader takes 03/04 for 4 March."""
        local = moment.astimezone(self.zone)
        return clean(f"{self.date(local)} {format_time(local, 'HH:mm', locale=self.locale)}")

    def date(self, moment: datetime) -> str:
        return clean(format_date(moment.astimezone(self.zone), DATE, locale=self.locale))

    def zone_name(self, moment: datetime) -> str:
        """The time zone named, with its offset then: `Asia/Riyadh (UTC+03:00)`."""
        offset = moment.astimezone(self.zone).strftime("%z") or "+0000"
        return f"{self.zone.key} (UTC{offset[:3]}:{offset[3:]})"

    def money(self, amount_minor: int, currency: str) -> str:
        digits = get_currency_precision(currency)
        amount = Decimal(amount_minor).scaleb(-digits)
        return clean(format_currency(amount, currency, locale=self.locale))

    def number(self, value: float) -> str:
        return clean(format_decimal(value, locale=self.locale))

    def geo(self, lat: float, lng: float, accuracy_m: float | None) -> str:
        where = f"{format_decimal(round(lat, 5), '0.00000', locale=self.locale)}, "
        where += format_decimal(round(lng, 5), "0.00000", locale=self.locale)
        if accuracy_m is not None:
            where += f" ± {format_decimal(round(accuracy_m), locale=self.locale)} "
            where += self.label("metres")
        return clean(where)


@dataclass(frozen=True, slots=True)
class Run:
    text: str
    rtl: bool


def _strength(word: str) -> str:
    """'R' (an Arabic or Hebrew letter), 'L' (another letter) or 'N' (no letter)."""
    kinds = {unicodedata.bidirectional(ch) for ch in word}
    if kinds & {"R", "AL"}:
        return "R"
    return "L" if "L" in kinds else "N"


def first_strong(text: str) -> str | None:
    """'R' or 'L' for the first word with a letter in `text`; None if it has none."""
    for word in clean(text).split(" "):
        strength = _strength(word)
        if strength != "N":
            return strength
    return None


def runs(text: str, rtl: bool, *, isolate: bool = False) -> list[Run]:
    """`text` cut into direction runs, in logical order, for a line of base direction `rtl`.

    Numbers follow the bidi rules W2 and W7 at word level: after a Latin word a
    number is Latin (joins it), after an Arabic one it joins the Arabic run in a
    left-to-right line; in a right-to-left line a number after Arabic stands
    alone, its trailing comma moved before it (where the bidi algorithm shows it).

    With `isolate`, `text` is a value someone typed (an address, a name) and
    takes the direction of its first letter, as HTML's `dir="auto"` does: a
    number before it belongs to it ("12 King Fahd Rd" stays one run on an
    Arabic sheet). Formatted values (money, positions) are not isolated.
    """
    found: list[tuple[list[str], bool, bool]] = []  # words, right to left, a lone number
    last_strong = "R" if rtl else "L"
    if isolate:
        last_strong = first_strong(text) or last_strong
    for word in clean(text).split(" "):
        if not word:
            continue
        strength = _strength(word)
        alone = False
        if strength != "N":
            word_rtl = strength == "R"
            last_strong = strength
        elif rtl:
            word_rtl, alone = False, last_strong == "R"
        else:
            word_rtl = last_strong == "R"
        if alone:
            found.append(([_punctuation_first(word)], False, True))
        elif found and found[-1][1] == word_rtl and not found[-1][2]:
            found[-1][0].append(word)
        else:
            found.append(([word], word_rtl, False))
    return [Run(" ".join(words), group_rtl) for words, group_rtl, _ in found]


def _punctuation_first(word: str) -> str:
    """'24.5,' -> ',24.5': a number's trailing separator, as a right-to-left line shows it."""
    cut = len(word)
    while cut > 1 and unicodedata.bidirectional(word[cut - 1]) in ("CS", "ON"):
        cut -= 1
    return word[cut:] + word[:cut]


def list_runs(items: Sequence[str], rtl: bool) -> list[Run]:
    """A list of typed values (names, an address) as runs, separated by commas.

    Each item is an isolate (`runs(..., isolate=True)`); one whose direction is
    against the line's has its runs reversed, since the writer lays runs in the
    line's direction and the item must read its own way.
    """
    base = "R" if rtl else "L"
    found: list[Run] = []
    for item in items:
        if found:  # the comma ends the item before, in the line's direction
            found.append(Run("،", True) if rtl else Run(",", False))
        item_runs = runs(item, rtl, isolate=True)
        if (first_strong(item) or base) != base:
            item_runs.reverse()
        found.extend(item_runs)
    return found if rtl else _glue_commas(found)


def _glue_commas(found: list[Run]) -> list[Run]:
    """'Ann ,' -> 'Ann,' in a left-to-right line."""
    glued: list[Run] = []
    for run in found:
        if run.text == "," and glued and not glued[-1].rtl:
            glued[-1] = Run(glued[-1].text + ",", False)
        else:
            glued.append(run)
    return glued
