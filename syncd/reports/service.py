"""Job-sheet reports: ask for one, read its state, hand out its PDF.

`request` checks the task exists and is within the caller's reach, creates
the report row (`queued`) and, after the commit, queues `make_job_sheet`
(jobs.reports), which moves the row through running to done or failed.
Without a locale the report speaks the caller's language, else the tenant's.

Reach: staff and admins reach every report of their tenant; a technician
reaches only tasks assigned to them now, and their reports. Out of reach
reads as not found (another tenant's ids are never found: the unit of work
is bound to the caller's tenant).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from jobs.queue import JobQueue
from jobs.reports import MAKE_JOB_SHEET
from storage import report_store
from storage.blobs import BlobStore
from storage.models import Report, Tenant
from storage.unit_of_work import TenantUnitOfWork
from syncd.auth.principal import Principal
from syncd.i18n import Msg
from syncd.sync.scope import Scope
from syncd.tasks.service import TaskNotFound
from syncd.web.problems import Conflict, NotFound

LOCALES = ("en", "ar")


class ReportNotFound(NotFound):
    code = "report_not_found"
    title = "No such report"


class ReportNotReady(Conflict):
    code = "report_not_ready"
    title = "The report is not ready"


class ReportService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        blobs: BlobStore,
        jobs: JobQueue,
        *,
        url_ttl_s: int,
    ) -> None:
        self.sessions = sessions
        self.blobs = blobs
        self.jobs = jobs
        self.url_ttl_s = url_ttl_s

    async def request(self, who: Principal, task_id: uuid.UUID, locale: str | None) -> Report:
        """A new report of the task's job sheet, queued."""
        async with TenantUnitOfWork(self.sessions, who.tenant_id) as uow:
            task = await report_store.find_task(uow.session, task_id)
            if task is None or not await self._reaches(uow.session, who, task_id):
                raise TaskNotFound(Msg("no task {task_id}", task_id=task_id))
            locale = locale or who.locale or await _tenant_locale(uow.session)
            report = await report_store.create(
                uow.session, task_id, locale if locale in LOCALES else "en", who.user_id
            )
            await uow.commit()
        await self.jobs.enqueue(MAKE_JOB_SHEET, str(who.tenant_id), str(report.id))
        return report

    async def get(self, who: Principal, report_id: uuid.UUID) -> Report:
        async with TenantUnitOfWork(self.sessions, who.tenant_id) as uow:
            report = await report_store.find(uow.session, report_id)
            if report is None or not await self._reaches(uow.session, who, report.task_id):
                raise ReportNotFound(Msg("no report {report_id}", report_id=report_id))
        return report

    async def content_url(self, who: Principal, report_id: uuid.UUID) -> str:
        """A signed, expiring URL of the PDF, saved as `JOB-000123-job-sheet-en.pdf`;
        ReportNotReady until it is made."""
        report = await self.get(who, report_id)
        if report.status != "done" or report.blob_key is None:
            raise ReportNotReady(
                Msg(
                    "the report is {status}; read it once its status is done",
                    status=report.status,
                ),
                extra={"report_status": report.status},
            )
        async with TenantUnitOfWork(self.sessions, who.tenant_id) as uow:
            number = await report_store.job_number(uow.session, report.task_id)
        return await self.blobs.presign_download(
            report.blob_key,
            self.url_ttl_s,
            content_type="application/pdf",
            file_name=file_name(number, report),
        )

    async def _reaches(self, session: AsyncSession, who: Principal, task_id: uuid.UUID) -> bool:
        return (await Scope.load(session, who)).sees_task(task_id)


def file_name(job_number: str | None, report: Report) -> str:
    """`JOB-000123-job-sheet-ar.pdf` (a task from before job numbers: the report's id)."""
    return f"{job_number or report.id}-job-sheet-{report.locale}.pdf"


async def _tenant_locale(session: AsyncSession) -> str | None:
    locale: str | None = await session.scalar(select(Tenant.locale))
    return locale
