"""What a technician records in the field, as queued changes: timeline events,
purchases and receipts, with where (`geo`, a plain mapping) and when by the
device's clock (`client_time`), as docs/protocol.md lets each carry them.

`SyncClient` (syncd_client/client.py) inherits these; each queues a change
through the client's `create` / `queue` and answers the new row's id.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from protocol.changes import Change, Op

GeoLike = Mapping[str, float]  # {"lat": ..., "lng": ..., "accuracy_m": ...}
RowId = uuid.UUID | str


def plain_geo(geo: GeoLike | None) -> dict[str, float] | None:
    """A mapping's `lat`, `lng` and `accuracy_m` (the server checks the ranges)."""
    if geo is None:
        return None
    return {name: geo[name] for name in ("lat", "lng", "accuracy_m") if name in geo}


class FieldWork:
    """Field records on top of a client's queue."""

    def create(
        self, entity: str, fields: dict[str, Any], row_id: uuid.UUID | None = None
    ) -> uuid.UUID:
        raise NotImplementedError

    def queue(self, entity: str, row_id: RowId, op: Op, **extra: Any) -> Change:
        raise NotImplementedError

    def add_event(
        self,
        task_id: RowId,
        kind: str,
        *,
        payload: dict[str, Any] | None = None,
        event_id: uuid.UUID | None = None,
        geo: GeoLike | None = None,
        client_time: datetime | None = None,
        **fields: Any,
    ) -> uuid.UUID:
        """Queue a timeline event (append-only); answers its id. `geo` (a plain
        mapping) and `client_time` become the event's `lat`/`lng`/`accuracy_m` and
        `client_time` fields."""
        values = {"task_id": str(task_id), "kind": kind, **fields}
        if payload is not None:
            values["payload"] = payload
        if client_time is not None:
            values["client_time"] = client_time.isoformat()
        for name, value in (plain_geo(geo) or {}).items():
            values[name] = value
        return self.create("task_event", values, event_id)

    def add_purchase(
        self,
        task_id: RowId,
        vendor: str,
        amount_minor: int,
        currency: str,
        purchased_at: datetime,
        *,
        line_items: list[dict[str, Any]] | None = None,
        notes: str | None = None,
        geo: GeoLike | None = None,
        client_time: datetime | None = None,
        purchase_id: uuid.UUID | None = None,
    ) -> uuid.UUID:
        """Queue a purchase on the task; `client_time` and `geo` stamp its timeline
        entry (`purchase_added`), as the protocol lets a creating upsert carry them."""
        fields: dict[str, Any] = {
            "task_id": str(task_id),
            "vendor": vendor,
            "amount_minor": amount_minor,
            "currency": currency,
            "purchased_at": purchased_at.isoformat(),
        }
        if line_items is not None:
            fields["line_items"] = line_items
        if notes is not None:
            fields["notes"] = notes
        row_id = purchase_id or uuid.uuid4()
        self.queue(
            "purchase",
            row_id,
            Op.UPSERT,
            fields=fields,
            geo=plain_geo(geo),
            client_time=client_time,
        )
        return row_id

    def add_receipt(
        self,
        purchase_id: RowId,
        total_minor: int,
        currency: str,
        issued_at: datetime,
        *,
        media_ids: list[uuid.UUID] | None = None,
        geo: GeoLike | None = None,
        client_time: datetime | None = None,
        receipt_id: uuid.UUID | None = None,
    ) -> uuid.UUID:
        """Queue a receipt of a purchase (on the purchase's task); `client_time` and
        `geo` stamp its timeline entry (`receipt_added`)."""
        fields: dict[str, Any] = {
            "purchase_id": str(purchase_id),
            "total_minor": total_minor,
            "currency": currency,
            "issued_at": issued_at.isoformat(),
        }
        if media_ids is not None:
            fields["media_ids"] = [str(media_id) for media_id in media_ids]
        row_id = receipt_id or uuid.uuid4()
        self.queue(
            "receipt", row_id, Op.UPSERT, fields=fields, geo=plain_geo(geo), client_time=client_time
        )
        return row_id
