"""What a job sheet shows: plain, frozen data, loaded once and rendered without I/O.

`jobs.reports` fills a `JobSheet` from the database and the blob store;
`jobs.job_sheets.render` turns it into PDF bytes. Times are aware datetimes
(UTC as stored); the renderer shows them in `time_zone`. Amounts are integers
in the currency's minor unit, as purchases and receipts store them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class GeoStamp:
    lat: float
    lng: float
    accuracy_m: float | None = None


@dataclass(frozen=True, slots=True)
class SheetEvent:
    kind: str
    at: datetime
    actor: str | None = None
    geo: GeoStamp | None = None
    refused: bool = False
    text: str = ""  # a note's text, a photo's caption, the signer, a rejection's reason


@dataclass(frozen=True, slots=True)
class LineItem:
    description: str
    quantity: float
    unit_price_minor: int


@dataclass(frozen=True, slots=True)
class SheetPurchase:
    vendor: str
    purchased_at: datetime
    amount_minor: int
    currency: str
    line_items: tuple[LineItem, ...] = ()


@dataclass(frozen=True, slots=True)
class SheetReceipt:
    issued_at: datetime
    total_minor: int
    currency: str
    vendor: str | None = None
    files: int = 0


@dataclass(frozen=True, slots=True)
class SheetPhoto:
    """A thumbnail (JPEG, at most 512 px) and the upright original's size."""

    jpeg: bytes
    width: int | None = None
    height: int | None = None
    caption: str = ""


@dataclass(frozen=True, slots=True)
class SheetSignature:
    """The customer's sign-off: who signed, when, where, and the drawn signature."""

    signer: str
    at: datetime
    image: bytes | None = field(default=None, repr=False)
    geo: GeoStamp | None = None


@dataclass(frozen=True, slots=True)
class JobSheet:
    locale: str
    tenant_name: str
    title: str
    status: str
    generated_at: datetime
    time_zone: str = "UTC"
    logo: bytes | None = None
    priority: str = "normal"
    description: str = ""
    notes: str = ""
    due_at: datetime | None = None
    created_at: datetime | None = None
    address: str = ""
    location: GeoStamp | None = None
    assignees: tuple[str, ...] = ()
    events: tuple[SheetEvent, ...] = ()
    events_left_out: int = 0
    purchases: tuple[SheetPurchase, ...] = ()
    receipts: tuple[SheetReceipt, ...] = ()
    photos: tuple[SheetPhoto, ...] = field(default=(), repr=False)
    photos_left_out: int = 0
    job_number: str | None = None
    signature: SheetSignature | None = None


def totals_by_currency(
    purchases: tuple[SheetPurchase, ...] | tuple[SheetReceipt, ...],
) -> dict[str, int]:
    """The amounts added up per currency, currencies in alphabetical order."""
    totals: dict[str, int] = {}
    for row in purchases:
        amount = row.amount_minor if isinstance(row, SheetPurchase) else row.total_minor
        totals[row.currency] = totals.get(row.currency, 0) + amount
    return dict(sorted(totals.items()))
