"""`ydoc` changes: Yjs updates made offline for a collaborative text field.

Merged by the CRDT, never in conflict and never in the change log: the
update is validated and stored in the push's transaction (through the
`YDocWriter` of syncd.sync.unit the app hands the sync service), and reaches live editors
after the commit (the unit of change's last step).
"""

from __future__ import annotations

import base64

from protocol.changes import Change
from protocol.entities import EntitySpec, ydoc_name
from protocol.merge import Outcome
from storage.ydoc_store import DocumentTooLarge
from syncd.i18n import Msg
from syncd.sync.fields import authorise
from syncd.sync.outcomes import ChangeOutcome
from syncd.sync.refusals import CollaborationOff, TooLargeDocument, invalid, not_found
from syncd.sync.unit import UnitOfChange


async def merge_update(unit: UnitOfChange, spec: EntitySpec, change: Change) -> ChangeOutcome:
    writer = unit.sync.ydocs
    if writer is None:
        raise CollaborationOff("collaborative text is not enabled")
    field_name = str(change.fields.get("field", ""))
    if field_name not in spec.ydoc_fields:
        raise invalid(
            Msg(
                "{entity} has no collaborative field {field}",
                entity=spec.name,
                field=repr(field_name),
            ),
            "fields.field",
            "unknown_field",
            Msg("one of: {names}", names=", ".join(sorted(spec.ydoc_fields))),
        )
    row = unit.batch.row(spec.name, change.id)
    if row is None or row.get("deleted_at") is not None:
        raise not_found(spec.name, change.id)
    authorise(unit.batch, spec, spec.task_of(change.id, row), creating=False)
    try:
        update = base64.b64decode(change.update or "", validate=True)
    except ValueError:
        raise invalid("update is not base64", "update", "base64", "not base64") from None
    name = ydoc_name(spec.name, change.id, field_name)
    try:
        await writer.append(unit.session, name, update)
    except DocumentTooLarge as exc:
        detail = Msg("the document would pass {limit} bytes", limit=exc.limit)
        raise TooLargeDocument(detail) from None
    except ValueError as exc:
        raise invalid(
            Msg("not a Yjs update: {reason}", reason=str(exc)), "update", "yjs_update", str(exc)
        ) from None
    unit.batch.ydoc_updates.append((name, update))
    return ChangeOutcome(id=str(change.id), status=Outcome.APPLIED)
