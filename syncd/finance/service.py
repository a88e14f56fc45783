"""Purchases and receipts over REST, and a task's totals per currency.

The two are the same kind of record for this service: a row tied to a task (a
purchase may stand alone; a receipt is tied to its purchase and that
purchase's task), read with filters and keyset pages, written through the sync
service (syncd.sync.writes) with idempotent creation and optimistic
concurrency. Technicians reach only the records of tasks assigned to them;
anything else reads as not found. Amounts are integers in minor units of an
ISO 4217 currency (protocol.currencies).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.changes import Op
from protocol.currencies import EXPONENT
from protocol.entities import Geo
from storage import sync_store as store
from storage.models import MediaAsset, Purchase, Receipt
from storage.unit_of_work import TenantUnitOfWork
from syncd.auth.principal import Principal
from syncd.i18n import Msg
from syncd.sync.refusals import UnknownMedia, UnknownReference
from syncd.sync.rest_entities import Refusals, RestEntities, RestEntity, load_visible
from syncd.sync.scope import Scope
from syncd.sync.writes import RestWrites
from syncd.tasks.service import TASK, NothingToChange
from syncd.web.cursors import InvalidCursor, decode_cursor, encode_cursor
from syncd.web.problems import Conflict, NotFound, PreconditionFailed, Problem

TASK_RECORDS_LIMIT = 1_000


class PurchaseNotFound(NotFound):
    code = "purchase_not_found"
    title = "No such purchase"


class ReceiptNotFound(NotFound):
    code = "receipt_not_found"
    title = "No such receipt"


class RecordExists(Conflict):
    code = "record_exists"
    title = "A different record already has this id"


class StaleRecord(PreconditionFailed):
    code = "stale_record"
    title = "The record changed since you read it"


class StaleRecordUpdatedAt(Conflict):
    code = "stale_record"
    title = "The record changed since you read it"


# One template per kind, as the nouns' genders differ in Arabic (a template
# cannot take the noun as a field).
PURCHASE = RestEntity(
    "purchase",
    Refusals(
        missing=lambda record_id: PurchaseNotFound(
            Msg("no purchase {record_id}", record_id=record_id)
        ),
        deleted=lambda record_id: RecordExists(
            Msg("purchase {record_id} was deleted; a new one needs a new id", record_id=record_id)
        ),
        taken=lambda record_id, current: RecordExists(
            Msg("purchase {record_id} already exists with other values", record_id=record_id),
            extra={"current": current},
        ),
        stale=lambda current, tag: StaleRecord(
            Msg("the purchase changed since you read it; the current one is attached"),
            extra={"current": current},
            headers={"ETag": tag},
        ),
        stale_updated_at=lambda current: StaleRecordUpdatedAt(
            Msg(
                "the purchase changed since you read it (updated_at differs); "
                "the current one is attached"
            ),
            extra={"current": current},
        ),
    ),
)
RECEIPT = RestEntity(
    "receipt",
    Refusals(
        missing=lambda record_id: ReceiptNotFound(
            Msg("no receipt {record_id}", record_id=record_id)
        ),
        deleted=lambda record_id: RecordExists(
            Msg("receipt {record_id} was deleted; a new one needs a new id", record_id=record_id)
        ),
        taken=lambda record_id, current: RecordExists(
            Msg("receipt {record_id} already exists with other values", record_id=record_id),
            extra={"current": current},
        ),
        stale=lambda current, tag: StaleRecord(
            Msg("the receipt changed since you read it; the current one is attached"),
            extra={"current": current},
            headers={"ETag": tag},
        ),
        stale_updated_at=lambda current: StaleRecordUpdatedAt(
            Msg(
                "the receipt changed since you read it (updated_at differs); "
                "the current one is attached"
            ),
            extra={"current": current},
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class Kind:
    """What differs between purchases and receipts."""

    entity: str
    model: Any
    when: str  # the column lists are ordered by
    missing: type[NotFound]
    rest: RestEntity


PURCHASES = Kind("purchase", Purchase, "purchased_at", PurchaseNotFound, PURCHASE)
RECEIPTS = Kind("receipt", Receipt, "issued_at", ReceiptNotFound, RECEIPT)


def not_found(kind: Kind, record_id: object) -> Problem:
    return kind.rest.refusals.missing(record_id)


@dataclass(frozen=True, slots=True)
class RecordFilter:
    task_id: uuid.UUID | None = None
    purchase_id: uuid.UUID | None = None
    currency: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class FinanceService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], writes: RestWrites) -> None:
        self.sessions = sessions
        self.writes = writes
        self.rows = RestEntities(sessions, writes)

    # --- reading -----------------------------------------------------------------

    async def page(
        self, who: Principal, kind: Kind, filters: RecordFilter, cursor: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        model = kind.model
        when = getattr(model, kind.when)
        statement = (
            select(model.__table__)
            .where(model.deleted_at.is_(None))
            .order_by(when, model.id)
            .limit(limit + 1)
        )
        if filters.task_id is not None:
            statement = statement.where(model.task_id == filters.task_id)
        if filters.purchase_id is not None and kind is RECEIPTS:
            statement = statement.where(Receipt.purchase_id == filters.purchase_id)
        if filters.currency is not None:
            statement = statement.where(model.currency == filters.currency)
        if filters.since is not None:
            statement = statement.where(when >= filters.since)
        if filters.until is not None:
            statement = statement.where(when < filters.until)
        if cursor is not None:
            moment, last_id = _after(cursor)
            statement = statement.where(
                or_(when > moment, and_(when == moment, model.id > last_id))
            )
        async with TenantUnitOfWork(self.sessions, who.tenant_id) as uow:
            scope = await Scope.load(uow.session, who)
            statement = statement.where(scope.where(model.task_id))
            rows = [dict(r) for r in (await uow.session.execute(statement)).mappings()]
        records = [store.row_to_json(kind.entity, row) for row in rows[:limit]]
        if len(rows) <= limit:
            return records, None
        last = rows[limit - 1]
        return records, encode_cursor(last[kind.when].isoformat(), last["id"])

    async def get(self, who: Principal, kind: Kind, record_id: uuid.UUID) -> dict[str, Any]:
        return await self.rows.read(who, kind.rest, record_id)

    async def of_task(self, who: Principal, task_id: uuid.UUID) -> dict[str, Any]:
        """The task's purchases and receipts, and its totals per currency."""
        async with TenantUnitOfWork(self.sessions, who.tenant_id) as uow:
            await load_visible(uow.session, who, TASK, task_id)
            purchases = await _of_task(uow.session, PURCHASES, task_id)
            receipts = await _of_task(uow.session, RECEIPTS, task_id)
        return {
            "task_id": str(task_id),
            "purchases": purchases,
            "receipts": receipts,
            "totals": totals(purchases, receipts),
        }

    async def task_totals(self, who: Principal, task_id: uuid.UUID) -> dict[str, Any]:
        found = await self.of_task(who, task_id)
        return {"task_id": found["task_id"], "totals": found["totals"]}

    # --- writing -----------------------------------------------------------------

    async def create(
        self,
        who: Principal,
        kind: Kind,
        record_id: uuid.UUID,
        fields: dict[str, Any],
        *,
        client_time: datetime | None = None,
        geo: Geo | None = None,
        task_id: uuid.UUID | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Create the record; the same id and body again answers the stored one.

        `task_id`: the task in the path, which `who` must see (else 404)."""

        async def references(session: AsyncSession, current: dict[str, Any] | None) -> None:
            await _references(session, who, fields)

        _, created = await self.rows.create(
            who,
            kind.rest,
            record_id,
            fields,
            parent=None if task_id is None else (TASK, task_id),
            client_time=client_time,
            geo=geo,
            then=references,
        )
        return await self.get(who, kind, record_id), created

    async def update(
        self,
        who: Principal,
        kind: Kind,
        record_id: uuid.UUID,
        fields: dict[str, Any],
        *,
        if_match: str | None,
        updated_at: datetime | None,
    ) -> dict[str, Any]:
        if not fields:
            raise NothingToChange(Msg("name at least one field to change"))
        fresh = self.rows.fresh(who, kind.rest, record_id, if_match, updated_at)

        async def check(session: AsyncSession, current: dict[str, Any] | None) -> None:
            await fresh(session, current)
            await _references(session, who, fields)

        await self.writes.write(who, kind.entity, record_id, Op.UPSERT, fields=fields, check=check)
        return await self.get(who, kind, record_id)

    async def delete(
        self, who: Principal, kind: Kind, record_id: uuid.UUID, *, if_match: str | None
    ) -> None:
        await self.writes.write(
            who,
            kind.entity,
            record_id,
            Op.DELETE,
            check=self.rows.fresh(who, kind.rest, record_id, if_match, None),
        )


def totals(purchases: list[dict[str, Any]], receipts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sums per currency (never across currencies), in currency order."""
    sums: dict[str, dict[str, Any]] = {}

    def of(currency: str) -> dict[str, Any]:
        return sums.setdefault(
            currency,
            {
                "currency": currency,
                "exponent": EXPONENT.get(currency, 2),
                "purchases_minor": 0,
                "purchase_count": 0,
                "receipts_minor": 0,
                "receipt_count": 0,
            },
        )

    for purchase in purchases:
        entry = of(purchase["currency"])
        entry["purchases_minor"] += purchase["amount_minor"]
        entry["purchase_count"] += 1
    for receipt in receipts:
        entry = of(receipt["currency"])
        entry["receipts_minor"] += receipt["total_minor"]
        entry["receipt_count"] += 1
    for entry in sums.values():
        entry["unreceipted_minor"] = max(entry["purchases_minor"] - entry["receipts_minor"], 0)
    return [sums[currency] for currency in sorted(sums)]


async def _of_task(session: AsyncSession, kind: Kind, task_id: uuid.UUID) -> list[dict[str, Any]]:
    model = kind.model
    rows = await session.execute(
        select(model.__table__)
        .where(model.task_id == task_id, model.deleted_at.is_(None))
        .order_by(getattr(model, kind.when), model.id)
        .limit(TASK_RECORDS_LIMIT)
    )
    return [store.row_to_json(kind.entity, row) for row in rows.mappings()]


async def _references(session: AsyncSession, who: Principal, fields: dict[str, Any]) -> None:
    """A technician names only their tasks; media ids name media of the tenant."""
    task_id = fields.get("task_id")
    if task_id is not None and not (await Scope.load(session, who)).sees_task(
        uuid.UUID(str(task_id))
    ):
        raise UnknownReference(
            Msg("task_id {task_id} names no task of yours", task_id=task_id),
            errors=[
                {"field": "task_id", "code": "unknown_reference", "message": Msg("no such task")}
            ],
        )
    media_ids = {uuid.UUID(str(m)) for m in fields.get("media_ids") or ()}
    if media_ids:
        found = set(
            (await session.execute(select(MediaAsset.id).where(MediaAsset.id.in_(media_ids))))
            .scalars()
            .all()
        )
        missing = sorted(str(m) for m in media_ids - found)
        if missing:
            raise UnknownMedia(
                Msg(
                    "media_ids name no media of this tenant: {media_ids}",
                    media_ids=", ".join(missing),
                ),
                errors=[
                    {"field": "media_ids", "code": "unknown_media", "message": m} for m in missing
                ],
            )


def _after(cursor: str) -> tuple[datetime, uuid.UUID]:
    raw_moment, raw_id = decode_cursor(cursor, 2)
    try:
        return datetime.fromisoformat(str(raw_moment)), uuid.UUID(str(raw_id))
    except ValueError:
        raise InvalidCursor("the cursor was not made by this server") from None
