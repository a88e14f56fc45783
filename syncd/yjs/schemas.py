"""What `/sync/yjs/{document}` carries: a collaborative document's name.

A name is `<entity>:<uuid>:<field>` (today `task:<uuid>:notes`), where the
field is one of the entity's `ydoc_fields` (protocol/entities.py); the socket
then speaks the standard y-websocket protocol (syncd.yjs.session).
"""

from __future__ import annotations

import re
import uuid

from protocol.entities import ENTITIES

DOCUMENT = re.compile(r"(?P<entity>[a-z_]+):(?P<id>[0-9a-fA-F-]{36}):(?P<field>[a-z_]+)")


def parse_document(name: str) -> tuple[str, uuid.UUID, str] | None:
    """(entity, id, field) of a well-formed collaborative document name, else None."""
    match = DOCUMENT.fullmatch(name)
    spec = ENTITIES.get(match["entity"]) if match is not None else None
    if match is None or spec is None or match["field"] not in spec.ydoc_fields:
        return None
    try:
        return match["entity"], uuid.UUID(match["id"]), match["field"]
    except ValueError:
        return None
