"""Timeline entries the server adds: a creation's, an action's, a refused action's.

Each is an ordinary `task_event` row, staged in the same batch as its cause,
logged at its own version, with the cause's device, client time and geo. Its
id is derived (UUID v5) from the cause, so a resent cause never adds a
second entry.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

from protocol.changes import Change
from protocol.entities import ENTITIES, Geo
from storage.sync_store import uuid_text
from syncd.sync.batch import Batch


def add_entry(
    batch: Batch,
    *,
    source_id: uuid.UUID,
    hlc: str,
    kind: str,
    task_id: uuid.UUID,
    client_time: datetime | None = None,
    geo: Geo | None = None,
    refused: bool = False,
    payload: dict[str, Any],
) -> None:
    """Stage and log one timeline entry of `task_id`, caused by `source_id`."""
    version = batch.next_version()
    event_id = derived_id(source_id, f"{batch.client_id}:{hlc}:{kind}")
    row = {
        "id": event_id,
        "task_id": task_id,
        "kind": kind,
        "actor_id": batch.who.user_id,
        "client_id": batch.client_id,
        "client_time": client_time,
        "server_time": batch.now,
        "lat": geo.lat if geo else None,
        "lng": geo.lng if geo else None,
        "accuracy_m": geo.accuracy_m if geo else None,
        "refused": refused,
        "payload": payload,
        "version": version,
    }
    batch.stage("task_event", event_id, row)
    batch.record("task_event", event_id, "upsert", row, task_id, hlc)


_VERSION_5 = ~((0xF000 << 64) | (0xC000 << 48))
_MARK_5 = (5 << 76) | (0x8000 << 48)
_new_uuid = object.__new__
_set = object.__setattr__
_UNKNOWN = uuid.SafeUUID.unknown


def derived_id(source: uuid.UUID, name: str) -> uuid.UUID:
    """`uuid.uuid5(source, name)`, without the constructor's checks (the value is
    a SHA-1 digest with the version and variant bits set, as uuid5 sets them)."""
    digest = hashlib.sha1(source.bytes + name.encode(), usedforsecurity=False).digest()
    made = _new_uuid(uuid.UUID)
    _set(made, "int", (int.from_bytes(digest[:16]) & _VERSION_5) | _MARK_5)
    _set(made, "is_safe", _UNKNOWN)
    return made


def entry_for(
    batch: Batch,
    change: Change,
    kind: str,
    payload: dict[str, Any],
    *,
    task_id: uuid.UUID | None = None,
    refused: bool = False,
) -> None:
    """The entry a device's change adds (an action's task is the change's own row)."""
    add_entry(
        batch,
        source_id=change.id,
        hlc=change.hlc,
        kind=kind,
        task_id=task_id or change.id,
        client_time=change.client_time,
        geo=change.geo,
        refused=refused,
        payload=payload,
    )


_ID_KEYS = {entity: f"{entity}_id" for entity in ENTITIES}


def creation_payload(entity: str, row_id: uuid.UUID, row: dict[str, Any]) -> dict[str, Any]:
    """What a creation entry says of its row: which row, and its summary fields."""
    payload: dict[str, Any] = {_ID_KEYS[entity]: uuid_text(row_id)}
    for name in ENTITIES[entity].summary:
        value = row.get(name)
        payload[name] = str(value) if isinstance(value, uuid.UUID) else value
    return payload
