"""PDF job sheets over REST, on both databases, made by the in-process queue.

A task with a geo-stamped timeline, a purchase with line items, a receipt and
a photo (thumbnail made by its job) is pushed the way devices do; the sheet is
asked for in English and Arabic, made, downloaded through the redirect and read
back with pypdf. Technicians reach only their assigned tasks' sheets; another
tenant's token finds nothing; bad input is a problem with its code.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from typing import Any

from aiohttp import web
from pypdf import PdfReader
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jobs.queue import InProcessQueue
from jobs.reports import MAKE_JOB_SHEET
from protocol.roles import Role
from storage import report_store
from storage.unit_of_work import TenantUnitOfWork
from syncd import appkeys
from tests.support.factories import Account, login, make_tenant, make_user, signed_in
from tests.support.media import follow, jobs_done, new_task, photo, problem, uploaded
from tests.support.sync import action, hlc, push, upsert

Sessions = async_sessionmaker[AsyncSession]


async def a_worked_task(client: Any, app: web.Application, staff: Account, tech: Account) -> str:
    """A task as a day's work leaves it: started, a stop, a purchase, a receipt, a photo."""
    task_id = await new_task(client, staff, tech)
    purchase_id, receipt_id = uuid.uuid4(), uuid.uuid4()
    geo = {"lat": 24.7136, "lng": 46.6753, "accuracy_m": 8}
    changes = [
        action(task_id, "start", "phone", client_time="2026-11-24T08:00:00Z", geo=geo),
        upsert(
            "task_event",
            uuid.uuid4(),
            "phone",
            task_id=str(task_id),
            kind="arrived",
            client_time="2026-11-24T08:30:00Z",
            lat=24.7,
            lng=46.7,
            accuracy_m=5,
        ),
        upsert(
            "purchase",
            purchase_id,
            "phone",
            task_id=str(task_id),
            vendor="Hardware Co.",
            line_items=[
                {"description": "Valve", "quantity": 2, "unit_price_minor": 3500},
                {"description": "Seal kit", "quantity": 1, "unit_price_minor": 1250},
            ],
            amount_minor=8250,
            currency="SAR",
            purchased_at="2026-11-24T09:00:00Z",
        ),
        upsert(
            "receipt",
            receipt_id,
            "phone",
            purchase_id=str(purchase_id),
            task_id=str(task_id),
            total_minor=8250,
            currency="SAR",
            issued_at="2026-11-24T09:05:00Z",
        ),
    ]
    answer = await push(client, tech, "phone", changes)
    assert {result["status"] for result in answer["results"]} == {"applied"}, answer
    await uploaded(client, tech, photo(), owner_id=str(task_id))
    await jobs_done(app)  # the photo's thumbnail
    return str(task_id)


async def job_sheet(client: Any, account: Account, task_id: str, **body: Any) -> Any:
    return await client.post(f"/tasks/{task_id}/job-sheets", json=body, headers=account.headers)


async def made(
    client: Any, app: web.Application, account: Account, task_id: str, **body: Any
) -> dict[str, Any]:
    response = await job_sheet(client, account, task_id, **body)
    assert response.status == 202, await response.text()
    report: dict[str, Any] = await response.json()
    assert response.headers["Location"] == f"/reports/{report['id']}"
    assert (report["status"], report["attempts"], report["content_url"]) == ("queued", 0, None)
    await jobs_done(app)
    read = await client.get(f"/reports/{report['id']}", headers=account.headers)
    assert read.status == 200
    done: dict[str, Any] = await read.json()
    return done


def pdf_text(data: bytes) -> str:
    assert data.startswith(b"%PDF-")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


async def test_job_sheets_are_made_in_both_languages_and_downloaded(
    client: Any, app: web.Application, sessions: Sessions
) -> None:
    tenant = await make_tenant(sessions, name="Acme Field Services", time_zone="Asia/Riyadh")
    staff = await signed_in(client, sessions, Role.STAFF, tenant, display_name="Dana Staff")
    tech = await signed_in(client, sessions, Role.TECHNICIAN, tenant, display_name="Sara Ali")
    task_id = await a_worked_task(client, app, staff, tech)

    english = await made(client, app, staff, task_id, locale="en")
    assert (english["status"], english["attempts"], english["error"]) == ("done", 1, None)
    assert english["locale"] == "en"
    assert english["task_id"] == task_id
    assert english["created_by"] == str(staff.user_id)
    assert english["finished_at"] is not None
    assert english["content_url"] == f"/reports/{english['id']}/content"
    data, content_type = await follow(client, tech, english["content_url"])
    assert content_type.startswith("application/pdf")
    text = pdf_text(data)
    for expected in (
        "Acme Field Services",
        "Fix the pump",
        "In progress",
        "Sara Ali",
        "Started",
        "Arrived",
        "24 Nov 2026 11:00",  # the device's time, in the tenant's zone
        "Asia/Riyadh (UTC+03:00)",
        "JOB-000001",
        "24.71360, 46.67530 ± 8 m",
        "Hardware Co.",
        "Seal kit",
        "SAR82.50",
        "Total SAR",
        "Photos",
        "File added",  # the photo's upload, translated
    ):
        assert expected in text, expected

    arabic = await made(client, app, tech, task_id, locale="ar")
    assert arabic["status"] == "done"
    data, _ = await follow(client, staff, arabic["content_url"])
    text = pdf_text(data)
    for expected in (
        "ورقة العمل",
        "قيد التنفيذ",
        "بدء العمل",
        "الوصول",
        "المشتريات",
        "82.50",
        "إضافة ملف",
        "JOB-000001",
    ):
        assert expected in text, expected


async def test_the_language_defaults_to_the_users_then_the_tenants(
    client: Any, app: web.Application, sessions: Sessions
) -> None:
    tenant = await make_tenant(sessions, locale="ar")
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    english_speaker = await signed_in(client, sessions, Role.STAFF, tenant, locale="en")
    task_id = str(await new_task(client, staff))
    assert (await made(client, app, staff, task_id))["locale"] == "ar"
    assert (await made(client, app, english_speaker, task_id))["locale"] == "en"


async def test_running_a_done_report_again_changes_nothing(
    client: Any, app: web.Application, sessions: Sessions
) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    task_id = str(await new_task(client, staff))
    report = await made(client, app, staff, task_id, locale="en")
    queue = app[appkeys.JOBS]
    assert isinstance(queue, InProcessQueue)
    again = await queue.wait(
        await queue.enqueue(MAKE_JOB_SHEET, str(staff.tenant.id), report["id"])
    )
    assert (again.status, again.result) == ("finished", "exists")
    read = await (await client.get(f"/reports/{report['id']}", headers=staff.headers)).json()
    assert read == report


async def test_a_report_not_done_is_not_ready_and_a_gone_task_fails_it(
    client: Any, app: web.Application, sessions: Sessions
) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    task_id = await new_task(client, staff)
    async with TenantUnitOfWork(sessions, staff.tenant.id) as uow:
        report = await report_store.create(uow.session, task_id, "en", staff.user_id)
        await uow.commit()
    content = f"/reports/{report.id}/content"
    body = await problem(await client.get(content, headers=staff.headers), 409, "report_not_ready")
    assert body["report_status"] == "queued"

    delete = {"entity": "task", "id": str(task_id), "op": "delete", "hlc": hlc("dash")}
    await push(client, staff, "dash", [{**delete, "base_version": 0}])
    queue = app[appkeys.JOBS]
    assert isinstance(queue, InProcessQueue)
    job = await queue.enqueue(MAKE_JOB_SHEET, str(staff.tenant.id), str(report.id))
    assert (await asyncio.wait_for(queue.wait(job), timeout=30)).result == "task_gone"
    read = await (await client.get(f"/reports/{report.id}", headers=staff.headers)).json()
    assert (read["status"], read["attempts"], read["error"]) == (
        "failed",
        1,
        "the task no longer exists",
    )
    body = await problem(await client.get(content, headers=staff.headers), 409, "report_not_ready")
    assert body["report_status"] == "failed"
    await problem(await job_sheet(client, staff, str(task_id)), 404, "task_not_found")


async def test_technicians_reach_only_their_tasks_sheets(
    client: Any, app: web.Application, sessions: Sessions
) -> None:
    tenant = await make_tenant(sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    tech = await signed_in(client, sessions, Role.TECHNICIAN, tenant)
    mine, other = str(await new_task(client, staff, tech)), str(await new_task(client, staff))
    await problem(await job_sheet(client, tech, other), 404, "task_not_found")
    theirs = await made(client, app, staff, other)
    for path in (f"/reports/{theirs['id']}", f"/reports/{theirs['id']}/content"):
        await problem(await client.get(path, headers=tech.headers), 404, "report_not_found")
    ours = await made(client, app, tech, mine)
    assert ours["status"] == "done"
    by_staff = await made(client, app, staff, mine)
    read = await client.get(f"/reports/{by_staff['id']}", headers=tech.headers)
    assert read.status == 200
    # Unassigned, the technician loses the task's sheets.
    unassign = action(uuid.UUID(mine), "unassign", "dash", fields={"user_id": str(tech.user_id)})
    await push(client, staff, "dash", [unassign])
    await problem(
        await client.get(f"/reports/{ours['id']}", headers=tech.headers), 404, "report_not_found"
    )
    await problem(await job_sheet(client, tech, mine), 404, "task_not_found")


async def test_another_tenant_sees_and_touches_nothing(
    client: Any, app: web.Application, sessions: Sessions
) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    stranger = await signed_in(client, sessions, Role.ADMIN)
    task_id = str(await new_task(client, staff))
    report = await made(client, app, staff, task_id)
    await problem(await job_sheet(client, stranger, task_id), 404, "task_not_found")
    for path in (f"/reports/{report['id']}", f"/reports/{report['id']}/content"):
        await problem(await client.get(path, headers=stranger.headers), 404, "report_not_found")
    # The stranger's token with the first tenant named in the header is refused outright.
    crossed = {**stranger.headers, "X-Tenant": staff.tenant.slug}
    response = await client.get(f"/reports/{report['id']}", headers=crossed)
    assert response.status == 403


async def test_bad_requests_are_problems(client: Any, sessions: Sessions) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    task_id = str(await new_task(client, staff))
    body = await problem(
        await job_sheet(client, staff, task_id, locale="fr"), 422, "validation_failed"
    )
    assert [error["field"] for error in body["errors"]] == ["locale"]
    await problem(
        await job_sheet(client, staff, task_id, locale="en", pages=3), 422, "validation_failed"
    )
    path = f"/tasks/{task_id}/job-sheets"
    headers = {**staff.headers, "Content-Type": "application/json"}
    await problem(await client.post(path, data=b"{", headers=headers), 422, "malformed_json")
    await problem(
        await client.post(path, data=b"locale=en", headers=staff.headers),
        415,
        "unsupported_media_type",
    )
    await problem(await job_sheet(client, staff, "nope"), 404, "task_not_found")
    await problem(await job_sheet(client, staff, str(uuid.uuid4())), 404, "task_not_found")
    for path in ("/reports/nope", f"/reports/{uuid.uuid4()}/content"):
        await problem(await client.get(path, headers=staff.headers), 404, "report_not_found")


async def test_the_timeline_names_who_did_what(
    client: Any, app: web.Application, sessions: Sessions
) -> None:
    tenant = await make_tenant(sessions)
    staff = await login(client, await make_user(sessions, tenant, Role.STAFF, display_name="Lead"))
    task_id = str(await new_task(client, staff))
    report = await made(client, app, staff, task_id, locale="en")
    data, _ = await follow(client, staff, report["content_url"])
    assert "Lead" in pdf_text(data)


async def test_a_batch_prints_in_order_with_its_words_and_the_sign_off(
    client: Any, app: web.Application, sessions: Sessions
) -> None:
    """Start, pause, resume and complete pushed in one batch without device times
    print in that order (they share a server time); a note's text, a photo's
    caption and the signer's name print; the download is named by the job number."""
    tenant = await make_tenant(sessions, time_zone="Asia/Riyadh")
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    tech = await signed_in(client, sessions, Role.TECHNICIAN, tenant, display_name="Omar")
    task_id = await new_task(client, staff, tech)
    media_id = (await uploaded(client, tech, photo(), owner_id=str(task_id)))["id"]
    await jobs_done(app)
    event = {"task_id": str(task_id)}
    changes = [
        action(task_id, "start", "phone"),
        upsert(
            "task_event",
            uuid.uuid4(),
            "phone",
            **event,
            kind="note",
            payload={"text": "Seal cracked at the back"},
        ),
        action(task_id, "pause", "phone"),
        upsert(
            "task_event",
            uuid.uuid4(),
            "phone",
            **event,
            kind="photo",
            payload={"media_id": str(media_id), "caption": "The cracked seal"},
        ),
        action(task_id, "resume", "phone"),
        action(task_id, "complete", "phone"),
        upsert(
            "task_event",
            uuid.uuid4(),
            "phone",
            **event,
            kind="signature",
            payload={"signer_name": "Khalid Ahmed"},
        ),
    ]
    answer = await push(client, tech, "phone", changes)
    assert {r["status"] for r in answer["results"]} == {"applied"}, answer

    timeline = await (await client.get(f"/tasks/{task_id}/timeline", headers=staff.headers)).json()
    kinds = [item["kind"] for item in timeline["items"]]
    assert kinds[-7:] == ["started", "note", "paused", "photo", "resumed", "completed", "signature"]

    report = await made(client, app, staff, str(task_id), locale="en")
    response = await client.get(report["content_url"], headers=staff.headers, allow_redirects=False)
    assert response.status == 302
    target = await client.session.get(response.headers["Location"])
    assert target.status == 200
    assert (
        target.headers["Content-Disposition"]
        == 'attachment; filename="JOB-000001-job-sheet-en.pdf"'
    )
    text = pdf_text(await target.read())
    section = text[text.index("Timeline") : text.index("Purchases")]
    printed = [
        "Started",
        "Seal cracked at the back",
        "Paused",
        "The cracked seal",
        "Resumed",
        "Completed",
        "Signed by: Khalid Ahmed",
    ]
    assert [section.index(words) for words in printed] == sorted(section.index(w) for w in printed)
    assert "Customer sign-off" in text
    assert "Khalid Ahmed" in text[text.index("Customer sign-off") :]

    # Another tenant's token reaches neither the report nor the task.
    other = await signed_in(client, sessions, Role.ADMIN, await make_tenant(sessions))
    await problem(
        await client.get(f"/reports/{report['id']}", headers=other.headers), 404, "report_not_found"
    )
