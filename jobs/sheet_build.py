"""A job sheet's data from the rows `storage.report_store.sheet_rows` read.

Pure: no I/O. Each timeline entry keeps the words a person wrote with it (a
note's text, a photo's caption, a rejection's reason, the signer's name);
photos get the captions their `photo` entries gave them (`payload.media_id`,
`payload.caption`); the last `signature` entry becomes the sign-off block,
its drawing (`payload.media_id`) taken out of the photo grid.
"""

from __future__ import annotations

from typing import Any

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
from storage.models import MediaAsset, TaskEvent, User
from storage.report_store import SheetRows
from storage.types import utcnow

MAX_TEXT = 2000
# The payload keys that carry an entry's words, per kind, first found wins.
TEXT_KEYS: dict[str, tuple[str, ...]] = {
    "signature": ("signer_name", "name"),
    "photo": ("caption", "text"),
    "rejected": ("reason",),
    "purchase_added": ("vendor",),
}
DEFAULT_TEXT_KEYS = ("text", "reason", "label")


def build_sheet(
    rows: SheetRows,
    locale: str,
    logo: bytes | None,
    photos: list[tuple[MediaAsset, bytes]],
) -> JobSheet:
    task, users = rows.task, rows.users
    location = task.location or {}
    lat, lng = location.get("lat"), location.get("lng")
    vendors = {purchase.id: purchase.vendor for purchase in rows.purchases}
    captions = _captions(rows.events)
    signed = next(
        (e for e in reversed(rows.events) if e.kind == "signature" and not e.refused), None
    )
    signature_media = _payload(signed).get("media_id") if signed is not None else None
    drawing = next((jpeg for media, jpeg in photos if str(media.id) == signature_media), None)
    shown = tuple(
        SheetPhoto(jpeg, media.width, media.height, captions.get(str(media.id), ""))
        for media, jpeg in photos
        if str(media.id) != signature_media
    )
    return JobSheet(
        locale=locale,
        tenant_name=rows.tenant.name,
        title=task.title,
        status=task.status,
        generated_at=utcnow(),
        time_zone=rows.tenant.time_zone,
        logo=logo,
        priority=task.priority,
        description=task.description or "",
        notes=rows.notes,
        due_at=task.due_at,
        created_at=task.created_at,
        address=str(location.get("address") or ""),
        location=None if lat is None or lng is None else GeoStamp(float(lat), float(lng)),
        assignees=tuple(_name(user) for user in rows.assignees),
        events=tuple(
            SheetEvent(
                kind=event.kind,
                at=event.client_time or event.server_time,
                actor=None if event.actor_id is None else _name(users.get(event.actor_id)),
                geo=_geo(event),
                refused=event.refused,
                text=_text(event),
            )
            for event in rows.events
        ),
        events_left_out=rows.events_left_out,
        purchases=tuple(
            SheetPurchase(
                vendor=purchase.vendor,
                purchased_at=purchase.purchased_at,
                amount_minor=purchase.amount_minor,
                currency=purchase.currency,
                line_items=tuple(_line_items(purchase.line_items)),
            )
            for purchase in rows.purchases
        ),
        receipts=tuple(
            SheetReceipt(
                issued_at=receipt.issued_at,
                total_minor=receipt.total_minor,
                currency=receipt.currency,
                vendor=vendors.get(receipt.purchase_id),
                files=len(receipt.media_ids or []),
            )
            for receipt in rows.receipts
        ),
        photos=shown,
        photos_left_out=rows.photos_left_out + len(rows.photos) - len(photos),
        job_number=task.job_number,
        signature=None
        if signed is None
        else SheetSignature(
            signer=_text(signed) or (_name(users.get(signed.actor_id)) if signed.actor_id else "?"),
            at=signed.client_time or signed.server_time,
            image=drawing,
            geo=_geo(signed),
        ),
    )


def _payload(event: TaskEvent) -> dict[str, Any]:
    return event.payload if isinstance(event.payload, dict) else {}


def _text(event: TaskEvent) -> str:
    """The words that came with the entry (empty when none did)."""
    payload = _payload(event)
    for key in TEXT_KEYS.get(event.kind, DEFAULT_TEXT_KEYS):
        value = payload.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:MAX_TEXT]
    return ""


def _captions(events: list[TaskEvent]) -> dict[str, str]:
    """Media id -> the caption its (last) `photo` entry gave it."""
    found: dict[str, str] = {}
    for event in events:
        media_id = _payload(event).get("media_id")
        if event.kind == "photo" and isinstance(media_id, str) and _text(event):
            found[media_id] = _text(event)
    return found


def _geo(event: TaskEvent) -> GeoStamp | None:
    if event.lat is None or event.lng is None:
        return None
    return GeoStamp(event.lat, event.lng, event.accuracy_m)


def _name(user: User | None) -> str:
    if user is None:
        return "?"
    return user.display_name or user.email


def _line_items(items: list[dict[str, Any]] | None) -> list[LineItem]:
    """The stored line items (validated on the way in; anything odd is skipped)."""
    found = []
    for item in items or []:
        try:
            found.append(
                LineItem(
                    str(item["description"]),
                    float(item["quantity"]),
                    int(item["unit_price_minor"]),
                )
            )
        except (KeyError, TypeError, ValueError):
            continue
    return found
