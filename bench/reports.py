"""Benchmark: the PDF job sheet of a task with 200 timeline events and 30 photos.

For each locale (en, ar) it times, as the median of `--repeat` runs:

- the whole job (`jobs.reports.job_sheet`): read the rows in a tenant unit of
  work, read 30 thumbnails (512 px JPEGs) from a local blob store, render,
  store the PDF, mark the report done; on each database of `--backends`;
- the render alone (`jobs.job_sheets.render` on the loaded data);
- a baseline measured in the same run: fpdf2 laying out the same rows and
  pictures in the same font with no text shaping and no direction runs (one
  cell per field): what the page costs without what makes Arabic right.

Run: `python bench/reports.py [--repeat 5] [--backends sqlite,postgresql]
[--dsn postgresql://postgres@127.0.0.1:5432/postgres] [--json out.json]`.
It makes (and drops) its own databases. Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from fpdf import FPDF
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jobs.job_sheets import FONT, font_file, render  # noqa: E402
from jobs.reports import job_sheet, load_sheet  # noqa: E402
from jobs.runtime import Runtime  # noqa: E402
from jobs.sheet_data import JobSheet  # noqa: E402
from jobs.thumbnails import render as thumbnail  # noqa: E402
from storage.blobs import LocalBlobStore  # noqa: E402
from storage.database import create_engine, session_factory  # noqa: E402
from storage.models import (  # noqa: E402
    MediaAsset,
    Purchase,
    Receipt,
    Report,
    Task,
    TaskAssignment,
    TaskEvent,
    Tenant,
    TenantVersion,
    User,
)
from storage.unit_of_work import PlatformUnitOfWork, TenantUnitOfWork  # noqa: E402
from syncd.migrate import upgrade  # noqa: E402

EVENTS, PHOTOS = 200, 30
KINDS = ["started", "arrived", "note", "photo", "paused", "resumed", "left", "completed"]
START = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)


class NoWriter:
    """The job sheet job writes no synced rows; the runtime still wants a writer."""

    async def server_upsert(self, *args: Any, **kwargs: Any) -> int:
        raise AssertionError("the job sheet job does not write synced rows")


def photo_bytes(n: int) -> bytes:
    """A 4000 x 3000 camera-like JPEG turned into its 512 px thumbnail, as the job does."""
    image = Image.new("RGB", (1600, 1200), ((n * 37) % 255, 120, 200))
    image.paste(Image.new("RGB", (800, 1200), (220, (n * 53) % 255, 40)), (0, 0))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return thumbnail(out.getvalue(), "JPEG", 512).jpeg


async def seed(url: str, blobs: LocalBlobStore) -> tuple[uuid.UUID, uuid.UUID]:
    """A tenant and one task with its assignees, timeline, purchases, receipts and photos."""
    engine = create_engine(url)
    sessions = session_factory(engine)
    try:
        await upgrade(engine)
        async with PlatformUnitOfWork(sessions) as uow:
            tenant = Tenant(slug="bench", name="شركة الصيانة الميدانية", time_zone="Asia/Riyadh")
            uow.session.add(tenant)
            await uow.flush()
            uow.session.add(TenantVersion(tenant_id=tenant.id, version=0))
            await uow.commit()
        task_id = uuid.uuid4()
        people = [uuid.uuid4(), uuid.uuid4()]
        async with TenantUnitOfWork(sessions, tenant.id) as uow:
            session = uow.session
            for user_id, name in zip(people, ["Sara Ali", "عمر حسن"], strict=True):
                email = f"{user_id.hex[:8]}@example.com"
                session.add(User(id=user_id, email=email, display_name=name, role="technician"))
            session.add(
                Task(
                    id=task_id,
                    title="إصلاح مضخة المياه في المبنى 3",
                    description="The pump leaks under load.\nCheck the seals and the valve.",
                    status="completed",
                    priority="high",
                    due_at=START + timedelta(days=1),
                    location={"address": "12 King Fahd Rd, Riyadh", "lat": 24.7136, "lng": 46.6753},
                )
            )
            await session.flush()
            for user_id in people:
                session.add(TaskAssignment(id=uuid.uuid4(), task_id=task_id, user_id=user_id))
            for n in range(EVENTS):
                session.add(
                    TaskEvent(
                        id=uuid.uuid4(),
                        task_id=task_id,
                        kind=KINDS[n % len(KINDS)],
                        actor_id=people[n % 2],
                        client_time=START + timedelta(minutes=3 * n),
                        server_time=START + timedelta(minutes=3 * n, seconds=20),
                        lat=24.7136 + n / 10_000,
                        lng=46.6753,
                        accuracy_m=5 + n % 20,
                    )
                )
            purchase_ids = [uuid.uuid4() for _ in range(3)]
            for n, purchase_id in enumerate(purchase_ids):
                items = [
                    {"description": f"Part {n}.{i}", "quantity": 1 + i, "unit_price_minor": 1500}
                    for i in range(4)
                ]
                total = sum(item["quantity"] * 1500 for item in items)
                session.add(
                    Purchase(
                        id=purchase_id,
                        task_id=task_id,
                        vendor=["Hardware Co.", "متجر الأدوات", "Pumps Ltd"][n],
                        line_items=items,
                        amount_minor=total,
                        currency=["SAR", "SAR", "USD"][n],
                        purchased_at=START + timedelta(hours=n),
                    )
                )
                session.add(
                    Receipt(
                        id=uuid.uuid4(),
                        purchase_id=purchase_id,
                        task_id=task_id,
                        total_minor=total,
                        currency=["SAR", "SAR", "USD"][n],
                        issued_at=START + timedelta(hours=n),
                    )
                )
            for n in range(PHOTOS):
                media_id = uuid.uuid4()
                key = f"tenants/{tenant.id}/media/{media_id}"
                await blobs.put_bytes(key + ".thumb.jpg", photo_bytes(n))
                session.add(
                    MediaAsset(
                        id=media_id,
                        owner_type="task",
                        owner_id=task_id,
                        content_type="image/jpeg",
                        declared_size=1,
                        size=1,
                        status="uploaded",
                        storage_key=key,
                        thumbnail_key=key + ".thumb.jpg",
                        width=4000,
                        height=3000,
                        created_at=START + timedelta(minutes=n),
                    )
                )
            await uow.commit()
        return tenant.id, task_id
    finally:
        await engine.dispose()


def baseline(sheet: JobSheet) -> bytes:
    """The same rows and pictures, one cell per field, no shaping, no direction runs."""
    pdf = FPDF(format="A4", unit="mm")
    pdf.add_font(FONT, "", font_file("Regular"))
    pdf.add_font(FONT, "B", font_file("Bold"))
    pdf.set_auto_page_break(True, margin=19)
    pdf.add_page()
    pdf.set_font(FONT, "B", 14)
    pdf.cell(0, 8, sheet.tenant_name, new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 8, sheet.title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 9)
    for event in sheet.events:
        for text, width in ((event.at.isoformat(), 40), (event.kind, 45), (event.actor or "", 40)):
            pdf.cell(width, 6, text)
        geo = event.geo
        pdf.cell(
            0, 6, "" if geo is None else f"{geo.lat}, {geo.lng}", new_x="LMARGIN", new_y="NEXT"
        )
    for purchase in sheet.purchases:
        pdf.cell(0, 6, f"{purchase.vendor} {purchase.amount_minor}", new_x="LMARGIN", new_y="NEXT")
        for item in purchase.line_items:
            line = f"{item.description} {item.quantity} {item.unit_price_minor}"
            pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    for n, photo in enumerate(sheet.photos):
        if n % 4 == 0 and pdf.will_page_break(45):
            pdf.add_page()
        y = pdf.get_y()
        pdf.image(io.BytesIO(photo.jpeg), x=15 + (n % 4) * 45, y=y, w=42, h=31.5)
        if n % 4 == 3:
            pdf.set_y(y + 45)
    return bytes(pdf.output())


def timed(samples: list[float]) -> dict[str, float]:
    return {"median_s": statistics.median(samples), "min_s": min(samples), "max_s": max(samples)}


async def measure(url: str, repeat: int) -> dict[str, Any]:
    blob_dir = Path(tempfile.mkdtemp(prefix="syncd-bench-blobs-"))
    blobs = LocalBlobStore(blob_dir)
    tenant_id, task_id = await seed(url, blobs)
    engine = create_engine(url)
    sessions = session_factory(engine)
    rt = Runtime(blobs, NoWriter(), sessions)
    results: dict[str, Any] = {}
    try:
        for locale in ("en", "ar"):
            jobs, renders, baselines = [], [], []
            size = pages = 0
            for _ in range(repeat):
                async with TenantUnitOfWork(sessions, tenant_id) as uow:
                    report = Report(task_id=task_id, locale=locale)
                    uow.session.add(report)
                    await uow.commit()
                started = time.perf_counter()
                outcome = await job_sheet(rt, str(tenant_id), str(report.id))
                jobs.append(time.perf_counter() - started)
                assert outcome == "made", outcome
                sheet = await load_sheet(rt, tenant_id, task_id, locale)
                assert sheet is not None
                assert (len(sheet.events), len(sheet.photos)) == (EVENTS, PHOTOS)
                started = time.perf_counter()
                pdf = await asyncio.to_thread(render, sheet)
                renders.append(time.perf_counter() - started)
                started = time.perf_counter()
                await asyncio.to_thread(baseline, sheet)
                baselines.append(time.perf_counter() - started)
                size, pages = len(pdf), pdf.count(b"/Type /Page\n")
            results[locale] = {
                "job": timed(jobs),
                "render": timed(renders),
                "baseline": timed(baselines),
                "pdf_bytes": size,
                "pages": pages,
                "load": os.getloadavg()[0],  # 1-minute load average as measured
            }
    finally:
        await engine.dispose()
    return results


async def pg_database(dsn: str) -> tuple[str, str]:
    name = f"syncd_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    base = dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return name, f"{base}/{name}"


async def drop_pg_database(dsn: str, name: str) -> None:
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


async def collect(backends: list[str], dsn: str, repeat: int) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for backend in backends:
        if backend == "sqlite":
            path = Path(tempfile.mkdtemp(prefix="syncd-bench-")) / "bench.db"
            found[backend] = await measure(f"sqlite+aiosqlite:///{path}", repeat)
        else:
            name, url = await pg_database(dsn)
            try:
                found[backend] = await measure(url, repeat)
            finally:
                await drop_pg_database(dsn, name)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "reports.json"))
    args = parser.parse_args()
    found = asyncio.run(collect(args.backends.split(","), args.dsn, args.repeat))
    rows = []
    print(f"job sheet: {EVENTS} timeline events, {PHOTOS} photos; median of {args.repeat} runs")
    header = ["database", "locale", "job s", "render s", "baseline s", "ratio", "pages", "KiB"]
    print("  ".join(f"{name:>10}" for name in header))
    for backend, locales in found.items():
        for locale, result in locales.items():
            row = {
                "database": backend,
                "locale": locale,
                "job_s": result["job"]["median_s"],
                "render_s": result["render"]["median_s"],
                "baseline_s": result["baseline"]["median_s"],
                "render_over_baseline": result["render"]["median_s"]
                / result["baseline"]["median_s"],
                "pages": result["pages"],
                "pdf_kib": result["pdf_bytes"] / 1024,
                "load": result["load"],
            }
            rows.append(row)
            cells = [
                backend,
                locale,
                f"{row['job_s']:.3f}",
                f"{row['render_s']:.3f}",
                f"{row['baseline_s']:.3f}",
                f"{row['render_over_baseline']:.2f}",
                str(row["pages"]),
                f"{row['pdf_kib']:.0f}",
            ]
            print("  ".join(f"{cell:>10}" for cell in cells))
    output = {
        "benchmark": "reports",
        "format": 2,
        "events": EVENTS,
        "photos": PHOTOS,
        "repeat": args.repeat,
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "results": found,
        "rows": rows,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(output, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
