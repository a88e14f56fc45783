"""The job sheet a customer signs, as pages: both languages rendered to PNG.

One worked task (a job number, a batch of start, pause, resume and complete,
a technician's notes, photos with captions, a purchase and a receipt with
their totals, a signature with the signer's name) is rendered in English
and Arabic; each page is rendered by PDFium and compared with the page kept
in docs/jobsheets/, which people look at. After a deliberate change of the
sheet, `SYNCD_UPDATE_DOCS=1` rewrites the kept pages (then look at them).
"""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pypdfium2
import pytest
from PIL import Image, ImageChops, ImageDraw, ImageStat
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
    SheetSignature,
)

DOCS = Path(__file__).resolve().parents[3] / "docs" / "jobsheets"
START = datetime(2026, 3, 4, 6, 0, tzinfo=UTC)  # 09:00 in Riyadh, 4 March (not 3 April)
SCALE = 1.4
HERE = GeoStamp(24.7136, 46.6753, 8)


def picture(color: tuple[int, int, int], size: tuple[int, int] = (512, 384)) -> bytes:
    image = Image.new("RGB", size, color)
    draw = ImageDraw.Draw(image)
    draw.ellipse((size[0] // 4, size[1] // 4, size[0] * 3 // 4, size[1] * 3 // 4), fill="white")
    out = io.BytesIO()
    image.save(out, format="JPEG")
    return out.getvalue()


def drawn_signature() -> bytes:
    image = Image.new("RGB", (600, 220), "white")
    draw = ImageDraw.Draw(image)
    points = [(30 + 18 * n, 120 + (40 if n % 2 else -35) * (1 - n / 34)) for n in range(30)]
    draw.line(points, fill=(20, 30, 90), width=6)
    out = io.BytesIO()
    image.save(out, format="JPEG")
    return out.getvalue()


def worked_sheet(locale: str) -> JobSheet:
    arabic = locale == "ar"
    tech, lead = ("عمر حسن", "سارة علي") if arabic else ("Omar Hassan", "Sara Ali")
    at = [START + timedelta(minutes=m) for m in (0, 5, 40, 42, 75, 110, 140, 141, 150, 152)]
    note = (
        "تم تغيير مانع التسرب والصمام؛ الضغط 2.5 بار بعد الإصلاح."
        if arabic
        else "Replaced the seal and the valve; pressure holds at 2.5 bar after the repair."
    )
    caption = (
        ("المضخة قبل الإصلاح", "المضخة بعد الإصلاح") if arabic else ("Pump before", "Pump after")
    )
    return JobSheet(
        locale=locale,
        tenant_name="شركة الصيانة الميدانية" if arabic else "Acme Field Services",
        title="إصلاح مضخة المياه الرئيسية" if arabic else "Repair the main water pump",
        status="completed",
        generated_at=START + timedelta(hours=4),
        time_zone="Asia/Riyadh",
        priority="high",
        description="المضخة تسرب من الجهة الخلفية." if arabic else "The pump leaks at the back.",
        notes="العميل طلب فحص الخزان الشهر القادم."
        if arabic
        else "The customer asks for a tank check next month.",
        due_at=START + timedelta(hours=6),
        created_at=START - timedelta(days=1),
        address="12 King Fahd Rd, Riyadh",
        location=GeoStamp(24.7136, 46.6753),
        assignees=(tech,),
        job_number="JOB-000123",
        events=(
            SheetEvent("created", at[0] - timedelta(days=1), lead),
            SheetEvent("assigned", at[0] - timedelta(days=1), lead),
            SheetEvent("arrived", at[0], tech, HERE),
            SheetEvent("started", at[1], tech, HERE),
            SheetEvent("photo", at[2], tech, HERE, text=caption[0]),
            SheetEvent("paused", at[3], tech, HERE),
            SheetEvent("resumed", at[4], tech, HERE),
            SheetEvent("note", at[5], tech, HERE, text=note),
            SheetEvent("purchase_added", at[5], tech, text="Hardware Co."),
            SheetEvent("media_added", at[6], tech),
            SheetEvent("photo", at[6], tech, HERE, text=caption[1]),
            SheetEvent("completed", at[7], tech, HERE),
            SheetEvent(
                "signature", at[8], tech, HERE, text="خالد الأحمد" if arabic else "Khalid Ahmed"
            ),
        ),
        purchases=(
            SheetPurchase(
                "Hardware Co.",
                at[5],
                12550,
                "SAR",
                (LineItem("Seal kit", 2, 3500), LineItem("صمام" if arabic else "Valve", 1, 5550)),
            ),
        ),
        receipts=(SheetReceipt(at[5], 12550, "SAR", "Hardware Co.", 1),),
        photos=(
            SheetPhoto(picture((40, 90, 160)), caption=caption[0]),
            SheetPhoto(picture((30, 130, 90)), caption=caption[1]),
        ),
        signature=SheetSignature(
            "خالد الأحمد" if arabic else "Khalid Ahmed", at[8], drawn_signature(), HERE
        ),
    )


def pages(pdf: bytes) -> list[Image.Image]:
    document = pypdfium2.PdfDocument(pdf)
    try:
        return [page.render(scale=SCALE).to_pil().convert("RGB") for page in document]
    finally:
        document.close()


@pytest.mark.parametrize("locale", ["en", "ar"])
def test_the_pages_kept_in_docs_are_the_sheet_as_it_renders(locale: str) -> None:
    pdf = render(worked_sheet(locale))
    rendered = pages(pdf)
    if os.environ.get("SYNCD_UPDATE_DOCS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        for old in DOCS.glob(f"job-sheet-{locale}-*.png"):
            old.unlink()
        for number, page in enumerate(rendered, 1):
            page.save(DOCS / f"job-sheet-{locale}-{number}.png", optimize=True)
    kept = sorted(DOCS.glob(f"job-sheet-{locale}-*.png"))
    assert len(kept) == len(rendered), "the kept pages are stale: SYNCD_UPDATE_DOCS=1"
    for path, page in zip(kept, rendered, strict=True):
        with Image.open(path) as stored:
            assert stored.size == page.size
            difference = ImageStat.Stat(ImageChops.difference(stored.convert("RGB"), page)).mean
            assert max(difference) < 1.0, f"{path.name} is stale: SYNCD_UPDATE_DOCS=1"


def test_the_english_sheet_says_what_a_customer_signs() -> None:
    text = "\n".join(
        page.extract_text() for page in PdfReader(io.BytesIO(render(worked_sheet("en")))).pages
    )
    timeline = text[text.index("Timeline") : text.index("Purchases")]
    order = ["Arrived", "Started", "Photo", "Paused", "Resumed", "Note", "File added", "Completed"]
    positions = [timeline.index(word) for word in order]
    assert positions == sorted(positions), text
    for expected in (
        "JOB-000123",
        "Asia/Riyadh (UTC+03:00)",
        "4 Mar 2026 09:00",  # 06:00 UTC, named by month
        "Replaced the seal and the valve",
        "Pump before",
        "Pump after",
        "Customer sign-off",
        "Khalid Ahmed",
        "Total SAR",
        "SAR125.50",
    ):
        assert expected in text, expected
    assert "media_added" not in text


def test_the_arabic_sheet_translates_every_entry_kind() -> None:
    text = "\n".join(
        page.extract_text() for page in PdfReader(io.BytesIO(render(worked_sheet("ar")))).pages
    )
    for expected in ("JOB-000123", "إضافة ملف", "توقيع العميل", "Asia/Riyadh", "الإجمالي"):
        assert expected in text, expected
    assert "media_added" not in text
