"""One change through the write path: checked, dispatched by op, answered.

`apply_change` answers the change's result; whatever refuses it (a bad field,
a row out of scope, a version the tenant has not reached) becomes that
change's `rejected` result, and the rest of its batch goes on.
"""

from __future__ import annotations

from protocol.changes import Change, Op
from protocol.entities import ENTITIES
from syncd.i18n import Msg
from syncd.sync import actions, fields, ydocs
from syncd.sync.outcomes import ChangeOutcome
from syncd.sync.refusals import NotWritable, Refused, UnknownEntity, invalid
from syncd.sync.unit import UnitOfChange


async def apply_change(unit: UnitOfChange, change: Change) -> ChangeOutcome:
    try:
        if change.base_version > unit.batch.version:
            raise invalid(
                Msg(
                    "base_version {version} is ahead of the tenant's version",
                    version=change.base_version,
                ),
                "base_version",
                "ahead_of_tenant",
                "a version this tenant has not reached",
            )
        spec = ENTITIES.get(change.entity)
        if spec is None:
            raise UnknownEntity(
                Msg(
                    "no entity {entity}; known: {known}",
                    entity=repr(change.entity),
                    known=", ".join(sorted(ENTITIES)),
                ),
            )
        if change.op is Op.YDOC:
            return await ydocs.merge_update(unit, spec, change)
        if change.op is Op.ACTION:
            return await actions.act(unit, spec, change)
        if not spec.device_writable:
            raise NotWritable(Msg("{entity} rows are not written by devices", entity=spec.name))
        if change.op is Op.DELETE:
            return fields.delete(unit, spec, change)
        return fields.upsert(unit, spec, change)
    except Refused as refused:
        return ChangeOutcome.rejected(str(change.id), refused)
