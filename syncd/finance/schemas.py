"""Request bodies, query strings and answer shapes of purchases and receipts.

Field rules are the protocol's (protocol.entities): the write path validates
them again, so a device and the dashboard are held to the same ones (an amount
that is not its line items' total, a currency that is not ISO 4217, a receipt
in another currency than its purchase: 422 `validation_failed`).
"""

from __future__ import annotations

import uuid

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from protocol.entities import Currency, Geo, LineItem
from syncd.web.body import Body
from syncd.web.pagination import PageQuery
from syncd.web.patch import Patch

MINOR = "integer minor units (cents) of `currency`"
MEDIA = "ids of uploaded media"


class Stamped(Body):
    """Where and when a device made the record (both optional; they stamp the timeline)."""

    client_time: AwareDatetime | None = None
    geo: Geo | None = None


class PurchaseFields(Stamped):
    id: uuid.UUID | None = Field(None, description="client-generated; re-posting is idempotent")
    vendor: str = Field(min_length=1, max_length=200)
    line_items: list[LineItem] = Field(default_factory=list, max_length=200)
    amount_minor: int = Field(ge=0, le=10**13, description=MINOR)
    currency: Currency = Field(description="ISO 4217, e.g. `EUR`, `SAR`")
    purchased_at: AwareDatetime
    notes: str | None = Field(None, max_length=5_000)
    media_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50, description=MEDIA)


class PurchaseCreate(PurchaseFields):
    task_id: uuid.UUID | None = Field(None, description="the task it was bought for, if any")


class ReceiptCreate(Stamped):
    id: uuid.UUID | None = Field(None, description="client-generated; re-posting is idempotent")
    purchase_id: uuid.UUID
    task_id: uuid.UUID | None = Field(None, description="defaults to the purchase's task")
    total_minor: int = Field(ge=0, le=10**13, description=MINOR)
    currency: Currency = Field(description="the purchase's currency")
    issued_at: AwareDatetime
    media_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50, description=MEDIA)


class _Patch(Patch):
    """A partial update: leave a field out to keep it; none may be set to null."""

    MUST_CHANGE = True

    updated_at: AwareDatetime | None = Field(
        None, description="the `updated_at` you read; a stale one is 409 `stale_record`"
    )


class PurchasePatch(_Patch):
    vendor: str | None = Field(None, min_length=1, max_length=200)
    line_items: list[LineItem] | None = Field(None, max_length=200)
    amount_minor: int | None = Field(None, ge=0, le=10**13)
    currency: Currency | None = None
    purchased_at: AwareDatetime | None = None
    notes: str | None = Field(None, max_length=5_000)
    media_ids: list[uuid.UUID] | None = Field(None, max_length=50)


class ReceiptPatch(_Patch):
    total_minor: int | None = Field(None, ge=0, le=10**13)
    currency: Currency | None = None
    issued_at: AwareDatetime | None = None
    media_ids: list[uuid.UUID] | None = Field(None, max_length=50)


class RecordQuery(BaseModel):
    """The list filters (cursor and limit pass through)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    task_id: uuid.UUID | None = None
    currency: Currency | None = None
    since: AwareDatetime | None = Field(None, description="purchased or issued at or after")
    until: AwareDatetime | None = Field(None, description="purchased or issued before")


class ReceiptQuery(RecordQuery):
    purchase_id: uuid.UUID | None = None


class PurchaseListQuery(RecordQuery, PageQuery):
    """The purchase list's query string, for the document."""


class ReceiptListQuery(ReceiptQuery, PageQuery):
    """The receipt list's query string, for the document."""


class PurchasePath(BaseModel):
    purchase_id: uuid.UUID


class ReceiptPath(BaseModel):
    receipt_id: uuid.UUID


# --- answers ----------------------------------------------------------------------


class _Record(BaseModel):
    id: uuid.UUID
    task_id: uuid.UUID | None
    currency: str
    media_ids: list[uuid.UUID]
    version: int = Field(description="the change-log version of its last change (the ETag)")
    created_by: uuid.UUID | None
    created_at: AwareDatetime
    updated_at: AwareDatetime
    deleted_at: AwareDatetime | None


class PurchaseRead(_Record):
    """A purchase (with an `ETag` header)."""

    vendor: str
    line_items: list[LineItem]
    amount_minor: int
    purchased_at: AwareDatetime
    notes: str


class ReceiptRead(_Record):
    """A receipt (with an `ETag` header)."""

    purchase_id: uuid.UUID
    total_minor: int
    issued_at: AwareDatetime


class PurchasePage(BaseModel):
    items: list[PurchaseRead]
    next_cursor: str | None


class ReceiptPage(BaseModel):
    items: list[ReceiptRead]
    next_cursor: str | None


class CurrencyTotal(BaseModel):
    currency: str
    exponent: int = Field(description="decimal places of the minor unit (EUR 2, JPY 0, KWD 3)")
    purchases_minor: int
    purchase_count: int
    receipts_minor: int
    receipt_count: int
    unreceipted_minor: int = Field(description="purchases not yet covered by receipts")


class TaskTotals(BaseModel):
    task_id: uuid.UUID
    totals: list[CurrencyTotal] = Field(description="one entry per currency, never summed across")


class TaskFinance(TaskTotals):
    purchases: list[PurchaseRead]
    receipts: list[ReceiptRead]
