"""PDF job sheets, rendered from plain data: text extracted with pypdf in both locales,
page 1 rendered to PNG (pypdfium2) and looked at, and the direction runs."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pypdfium2
import pytest
from PIL import Image
from pypdf import PdfReader

from jobs.job_sheets import render
from jobs.sheet_data import (
    GeoStamp,
    JobSheet,
    LineItem,
    SheetEvent,
    SheetPhoto,
    SheetPurchase,
    SheetReceipt,
    totals_by_currency,
)
from jobs.sheet_text import Run, SheetFormat, list_runs, runs

START = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)  # 11:00 in Riyadh
PRESENTATION_FORMS = re.compile("[\ufb50-\ufdff\ufe70-\ufeff]")


def jpeg(color: tuple[int, int, int], size: tuple[int, int] = (512, 384)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG")
    return out.getvalue()


def sheet(locale: str, events: int = 12, photos: int = 5, **fields: object) -> JobSheet:
    arabic = locale == "ar"
    kinds = ["created", "assigned", "started", "arrived", "note", "paused", "resumed", "completed"]
    values: dict[str, object] = {
        "locale": locale,
        "tenant_name": "شركة الصيانة" if arabic else "Acme Field Services",
        "title": "إصلاح المضخة" if arabic else "Fix the pump",
        "status": "in_progress",
        "generated_at": START + timedelta(days=1),
        "time_zone": "Asia/Riyadh",
        "logo": jpeg((15, 118, 110), (300, 100)),
        "priority": "high",
        "description": "The pump leaks; check the seals.",
        "notes": "تم تغيير الصمام",
        "address": "12 King Fahd Rd, Riyadh",
        "location": GeoStamp(24.7136, 46.6753, 12),
        "assignees": ("Sara Ali", "عمر حسن"),
        "events": tuple(
            SheetEvent(
                kinds[n % len(kinds)],
                START + timedelta(minutes=7 * n),
                actor=("Sara Ali", "عمر حسن")[n % 2],
                geo=GeoStamp(24.7136, 46.6753, 8) if n % 2 else None,
            )
            for n in range(events)
        ),
        "purchases": (
            SheetPurchase(
                "Hardware Co.",
                START,
                12550,
                "SAR",
                (LineItem("Pipe", 2, 3500), LineItem("صمام", 1, 5550)),
            ),
            SheetPurchase("متجر الأدوات", START, 4000, "USD"),
            SheetPurchase("Hardware Co.", START, 1000, "SAR"),
        ),
        "receipts": (SheetReceipt(START, 12550, "SAR", "Hardware Co.", 2),),
        "photos": tuple(SheetPhoto(jpeg((40 * n % 255, 90, 200))) for n in range(photos)),
    }
    values.update(fields)
    return JobSheet(**values)  # type: ignore[arg-type]


def pages_text(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def page_image(pdf: bytes, index: int = 0) -> Image.Image:
    """The page as a PNG (rendered by PDFium), read back."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        bitmap = document[index].render(scale=1)
        png = io.BytesIO()
        bitmap.to_pil().save(png, format="PNG")
    finally:
        document.close()
    return Image.open(io.BytesIO(png.getvalue())).convert("L")


def ink_box(image: Image.Image) -> tuple[int, int, int, int]:
    """The bounding box of what is printed (darker than near-white)."""
    box = image.point(lambda value: 255 if value < 200 else 0).getbbox()
    assert box is not None, "the page is blank"
    return box


# --- text ------------------------------------------------------------------------------


def test_english_sheet_says_everything_in_order() -> None:
    pdf = render(sheet("en"))
    assert pdf.startswith(b"%PDF-")
    text = "\n".join(pages_text(pdf))
    order = ["Acme Field Services", "Job sheet", "Fix the pump", "Status", "In progress"]
    order += ["Timeline", "Purchases", "Receipts", "Photos"]
    positions = [text.index(word) for word in order]
    assert positions == sorted(positions)
    for expected in (
        "High",
        "Sara Ali",
        "12 King Fahd Rd, Riyadh",
        "24.71360, 46.67530 ± 12 m",
        "The pump leaks; check the seals.",
        "24 Nov 2026 11:00",  # 08:00 UTC in the tenant's zone, the month by name
        "Asia/Riyadh (UTC+03:00)",
        "Task created",
        "Pipe",
        "SAR35.00",
        "SAR70.00",
        "Total SAR",
        "SAR135.50",  # 125.50 + 10.00
        "$40.00",
        "Page 1 of",
    ):
        assert expected in text, expected
    assert "{nb}" not in text


def test_arabic_sheet_is_shaped_text_in_reading_order() -> None:
    pdf = render(sheet("ar"))
    pages = pages_text(pdf)
    text = "\n".join(pages)
    order = ["ورقة العمل", "الحالة", "قيد التنفيذ", "السجل الزمني", "المشتريات", "الإيصالات"]
    order.append("الصور")
    positions = [text.index(word) for word in order]
    assert positions == sorted(positions)
    for expected in (
        "شركة الصيانة",
        "إصلاح المضخة",
        "12 King Fahd Rd, Riyadh",  # a typed address keeps its number (one run, dir=auto)
        "الأولوية",
        "عالية",
        "عمر حسن",
        "تم تغيير الصمام",
        "إنشاء المهمة",
        "الإجمالي",
        "صمام",
        "متجر الأدوات",
        "135.50",
        "نوفمبر",
        "2026",
        "11:00",
        "صفحة",
    ):
        assert expected in text, expected
    # Shaped glyphs map back to the letters (no presentation forms), not mirrored.
    assert not PRESENTATION_FORMS.search(text)
    assert "ينمزلا لجسلا" not in text
    assert "{nb}" not in text


def test_totals_are_per_currency() -> None:
    assert totals_by_currency(sheet("en").purchases) == {"SAR": 13550, "USD": 4000}


# --- pictures -------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["en", "ar"])
def test_page_one_renders_to_a_picture_that_is_not_blank(locale: str) -> None:
    image = page_image(render(sheet(locale)))
    assert image.size[0] > 500
    left, top, right, bottom = ink_box(image)
    assert right - left > image.size[0] / 2
    assert bottom - top > image.size[1] / 2
    dark = sum(image.histogram()[:128])
    assert dark > 2000  # text and pictures, not a stray line


def test_arabic_pages_are_mirrored() -> None:
    """The title starts at the right margin in Arabic, at the left in English."""

    def title_row(locale: str) -> tuple[int, int, int, int]:
        image = page_image(render(sheet(locale, logo=None)))
        width = image.size[0]
        band = image.crop((0, 82, width, 100))  # the title's line, under the header
        return ink_box(band)

    en_left, _, en_right, _ = title_row("en")
    ar_left, _, ar_right, _ = title_row("ar")
    assert en_left < 60 < en_right < 300
    assert ar_right > 535
    assert ar_left > 300


def test_a_long_timeline_and_many_photos_run_over_pages() -> None:
    pdf = render(sheet("en", events=200, photos=30))
    pages = pages_text(pdf)
    assert len(pages) >= 5
    assert all(f"Page {n} of {len(pages)}" in page for n, page in enumerate(pages, 1))
    assert sum(page.count("Task created") for page in pages) == 25
    assert sum(page.count("Time Event By Position") for page in pages) >= 2  # header repeated


def test_an_image_that_is_not_one_is_left_out() -> None:
    pdf = render(sheet("en", logo=b"not an image", photos=0))
    assert "Acme Field Services" in pages_text(pdf)[0]


def test_empty_sections_say_so() -> None:
    bare = sheet("ar", events=0, photos=0, purchases=(), receipts=(), assignees=())
    text = pages_text(render(bare))[0]
    assert text.count("لا يوجد") == 4
    assert "لا أحد" in text


# --- runs and formats -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rtl", "expected"),
    [
        ("Fix the pump", False, [Run("Fix the pump", False)]),
        ("ورقة العمل", True, [Run("ورقة العمل", True)]),
        ("Page 1 of 2", False, [Run("Page 1 of 2", False)]),
        (
            "صفحة 1 من 2",
            True,
            [Run("صفحة", True), Run("1", False), Run("من", True), Run("2", False)],
        ),
        ("125.50 ر.س.", True, [Run("125.50", False), Run("ر.س.", True)]),
        ("40.00 US$", True, [Run("40.00", False), Run("US$", False)]),
        ("Pipe 2 m", True, [Run("Pipe 2 m", False)]),
        (
            "24.5, 46.6 ± 8 م",
            True,
            [
                Run(",24.5", False),
                Run("46.6", False),
                Run("±", False),
                Run("8", False),
                Run("م", True),
            ],
        ),
        ("Fix إصلاح 3 done", False, [Run("Fix", False), Run("إصلاح 3", True), Run("done", False)]),
        ("a\u200f b\u202fc", False, [Run("a b c", False)]),
    ],
)
def test_runs_cut_a_line_by_direction(text: str, rtl: bool, expected: list[Run]) -> None:
    assert runs(text, rtl) == expected


@pytest.mark.parametrize(
    ("text", "rtl", "expected"),
    [
        # A typed value takes the direction of its first letter (HTML's dir="auto").
        ("12 King Fahd Rd", True, [Run("12 King Fahd Rd", False)]),
        ("12 شارع الملك فهد", False, [Run("12 شارع الملك فهد", True)]),
        ("12 شارع الملك فهد", True, [Run("12", False), Run("شارع الملك فهد", True)]),
        ("Unit 4, برج المملكة", True, [Run("Unit 4,", False), Run("برج المملكة", True)]),
        ("42", True, [Run("42", False)]),
    ],
)
def test_a_typed_value_is_an_isolate(text: str, rtl: bool, expected: list[Run]) -> None:
    assert runs(text, rtl, isolate=True) == expected


def test_an_isolate_against_the_line_reads_its_own_way() -> None:
    """On an Arabic sheet, a Latin address with an Arabic word keeps left-to-right
    order: its runs are laid right to left like the line's, so they come reversed."""
    assert list_runs(["12 King Fahd Rd الرياض", "عمر"], rtl=True) == [
        Run("الرياض", True),
        Run("12 King Fahd Rd", False),
        Run("،", True),
        Run("عمر", True),
    ]


def test_formats_follow_the_locale_and_time_zone() -> None:
    en, ar = SheetFormat("en", "Asia/Riyadh"), SheetFormat("ar", "Asia/Riyadh")
    # The month by name (no 03/04 to misread), 24 hours, the zone named apart.
    assert en.timestamp(START) == "24 Nov 2026 11:00"
    assert ar.timestamp(START) == "24 نوفمبر 2026 11:00"
    assert en.zone_name(START) == "Asia/Riyadh (UTC+03:00)"
    assert en.money(12550, "SAR") == "SAR125.50"
    assert ar.money(12550, "SAR") == "125.50 ر.س."
    assert en.money(1500, "JPY") == "¥1,500"  # no minor unit
    assert en.money(1234, "KWD") == "KWD1.234"  # three
    assert SheetFormat("en", "Not/AZone").timestamp(START) == "24 Nov 2026 08:00"
    assert SheetFormat("en", "Not/AZone").zone_name(START) == "UTC (UTC+00:00)"
    with pytest.raises(ValueError, match="unsupported locale"):
        SheetFormat("fr", "UTC")
