"""A device's batch of changes, inside a unit of change.

Under the tenant's version lock (the unit's first step): a resent batch
(same client id and batch id) is answered with its first answer and applies
nothing; the client id is bound to its user on first use; each change is
bounded (protocol/bounds.py) and validated on its own, so one bad change is
answered `rejected` without failing the others; every row the batch reads is
loaded at once; the changes are applied in order; the answer is stored for
resends, refused changes are kept for the admins, and the device's last push
is noted (both written as the unit commits). The caller commits the unit.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Annotated, Any

import msgspec
from pydantic import ValidationError

from protocol import bounds, versions
from protocol.changes import Change, Op, PushRequest
from protocol.hlc import InvalidStamp
from protocol.merge import Outcome
from storage import sync_ledger as ledger
from storage import sync_store as store
from storage.models import SyncRejection
from syncd.i18n import Msg
from syncd.sync.apply import apply_change
from syncd.sync.client_schema import shape_result
from syncd.sync.cursor import Cursor
from syncd.sync.errors import ClientIdTaken
from syncd.sync.outcomes import ChangeOutcome
from syncd.sync.preload import preload
from syncd.sync.refusals import InvalidChange, Refused, WrongEntity
from syncd.sync.unit import UnitOfChange, parse_stamp
from syncd.web.field_messages import bounds_message, field_message


async def push_batch(
    unit: UnitOfChange,
    request: PushRequest,
    user_agent: str | None,
    *,
    only_entity: str | None = None,
    keep_rejections: bool = True,
    schema: int | None = None,
) -> tuple[dict[str, Any], bool]:
    """The answer to the batch, and whether it was a resend (nothing applied).

    `schema` is the app schema the device writes in: each change is upcast to
    the current one before it is validated, and the rows answered back are
    shaped down to it; None (an admin's replay) is the current schema, and
    leaves the device's recorded schema as it is."""
    session, who = unit.session, unit.who
    try:
        prior, seen_at = await ledger.open_batch(
            session, request.client_id, request.batch_id, who.user_id, user_agent, schema
        )
    except ledger.ClientBound:
        raise ClientIdTaken(_taken(request.client_id)) from None
    if prior is not None:
        if prior.user_id != who.user_id:
            raise ClientIdTaken(_taken(request.client_id))
        return dict(prior.response), True
    writes = versions.CURRENT if schema is None else schema
    parsed = [parse_change(raw, only_entity, writes) for raw in request.changes]
    changes = [change for _, change in parsed]
    await preload(unit, [c for c in changes if isinstance(c, Change)])
    results = [
        await apply_change(unit, change) if isinstance(change, Change) else change
        for change in changes
    ]
    response = {
        "results": [
            shape_result(result.as_json(), _entity_of(change), writes)
            for change, result in zip(changes, results, strict=True)
        ],
        "cursor": Cursor.at(unit.batch.version).encode(),
    }
    if keep_rejections:
        # Kept as the current schema writes it: a replay applies it as it stands.
        for (raw, _), result in zip(parsed, results, strict=True):
            if result.status is Outcome.REJECTED:
                session.add(
                    SyncRejection(
                        client_id=request.client_id,
                        batch_id=request.batch_id,
                        user_id=who.user_id,
                        change=_storable(raw),
                        problem=result.problem or {},
                    )
                )
    # Written by the unit when it commits, with the tenant's version (one statement).
    unit.batch.push = ledger.PushRecord(
        request.client_id, request.batch_id, who.user_id, response, seen_at, counts(results)
    )
    return response, False


def parse_change(
    raw: Any, only_entity: str | None = None, schema: int = versions.CURRENT
) -> tuple[Any, Change | ChangeOutcome]:
    """One change of a push, upcast from `schema` to the current schema: (the raw
    change as the current schema writes it, its `Change` or `rejected` result)."""
    if (
        type(raw) is dict
        and schema >= versions.CURRENT
        and (only_entity is None or raw.get("entity") == only_entity)
    ):
        common = decode_change(raw, bounded=False)
        if common is not None:  # what the steps below make of it, in one
            return raw, common
    refused: Refused
    if not isinstance(raw, dict):
        refused = InvalidChange(
            "a change is a JSON object",
            errors=[{"field": "change", "code": "dict_type", "message": "not a JSON object"}],
        )
        return raw, _rejected("", refused)
    if only_entity is not None and raw.get("entity") != only_entity:
        refused = WrongEntity(Msg("this endpoint takes {entity} changes only", entity=only_entity))
        return raw, _rejected(_id_of(raw), refused)
    try:
        bounds.check(raw)
    except bounds.BoundsError as exc:
        refused = InvalidChange(
            Msg("the change is outside the server's limits: {reason}", reason=bounds_message(exc)),
            errors=[
                {"field": exc.path or "change", "code": exc.code, "message": bounds_message(exc)}
            ],
        )
        return raw, _rejected(_id_of(raw), refused)
    try:
        raw = versions.upcast_change(raw, schema)
    except versions.UnknownFields as exc:
        unknown = Msg(
            "schema {schema} has no {entity} field {names}",
            schema=exc.schema,
            entity=exc.entity,
            names=", ".join(exc.names),
        )
        refused = InvalidChange(
            unknown,
            errors=[
                {"field": f"fields.{name}", "code": "unknown_field", "message": unknown}
                for name in exc.names
            ],
        )
        return raw, _rejected(_id_of(raw), refused)
    fast = decode_change(raw)
    if fast is not None:
        return raw, fast
    try:
        return raw, Change.model_validate(raw)
    except ValidationError as exc:
        errors = [
            {
                "field": ".".join(str(p) for p in e["loc"]) or "change",
                "code": e["type"],
                "message": field_message(e["type"], e["msg"], e.get("ctx")),
            }
            for e in exc.errors(include_url=False, include_input=False)
        ]
        refused = InvalidChange("the change did not validate", errors=errors)
        return raw, _rejected(_id_of(raw), refused)


class _Plain(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """The common shape of a change (an upsert or delete) with the types and bounds
    of `Change`: decoded in C, without pydantic's per-model work."""

    entity: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    id: uuid.UUID
    op: Op
    hlc: str
    base_version: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)] = 0
    fields: dict[str, Any] = {}
    field_hlc: dict[str, str] | None = None


_PLAIN_KEYS = frozenset(_Plain.__struct_fields__)


def decode_change(raw: dict[str, Any], *, bounded: bool = True) -> Change | None:
    """`raw` as the `Change` that `Change.model_validate` would make of it, decoded
    by msgspec, for the upserts and deletes every push is made of; None for
    anything else (an action, a Yjs update, a change that does not validate),
    which takes pydantic's path and so its exact problems.

    `bounded=False`: `raw` has not been through `bounds.check`; it is decoded only
    if it is within the limits (what the decoder has not typed, its entity's text
    and its fields, is walked), else None."""
    if not raw.keys() <= _PLAIN_KEYS:
        return None
    try:
        plain = msgspec.convert(raw, _Plain)
    except msgspec.ValidationError:
        return None
    op, stamps = plain.op, plain.field_hlc
    # The device's own object, which the decoder found to be one (not its copy).
    fields = raw.get("fields", plain.fields)
    if op is Op.UPSERT:
        if not fields or (stamps is not None and not stamps.keys() <= fields.keys()):
            return None
    elif op is not Op.DELETE or (stamps is not None and not stamps.keys() <= fields.keys()):
        return None
    # The rest is within the limits: the keys are the decoder's, the id a UUID, the
    # version a 64-bit integer, the stamps (parsed below) short text of digits, colons
    # and [A-Za-z0-9._-], and the field stamps' keys some of the fields'.
    if not bounded and ("\x00" in plain.entity or not bounds.within(raw.get("fields"), 2)):
        return None
    try:
        parse_stamp(plain.hlc)
        if stamps:
            for text in stamps.values():
                parse_stamp(text)
    except InvalidStamp:
        return None
    text = raw["id"]
    if type(text) is str and len(text) == 36:  # the decoder's one 36-character form
        store.remember_uuid_text(plain.id, text.lower())
    # What `model_construct` does, without its per-field default handling (which
    # costs more than validating): the values are the validated ones, in order.
    change = _new_change(Change)
    _set(
        change,
        "__dict__",
        {
            "entity": plain.entity,
            "id": plain.id,
            "op": op,
            "hlc": plain.hlc,
            "base_version": plain.base_version,
            "fields": fields,
            "field_hlc": stamps,
            "action": None,
            "client_time": None,
            "geo": None,
            "reason": None,
            "update": None,
        },
    )
    _set(change, "__pydantic_fields_set__", set(raw))
    _set(change, "__pydantic_extra__", None)
    _set(change, "__pydantic_private__", None)
    return change


_new_change = Change.__new__
_set = object.__setattr__


def counts(results: list[ChangeOutcome]) -> dict[str, int]:
    """How many results of each status."""
    found: dict[str, int] = {}
    for result in results:
        found[result.status.value] = found.get(result.status.value, 0) + 1
    return found


def _entity_of(change: Change | ChangeOutcome) -> str | None:
    return change.entity if isinstance(change, Change) else None


def _rejected(row_id: str, refused: Refused) -> ChangeOutcome:
    return ChangeOutcome(id=row_id, status=Outcome.REJECTED, problem=refused.problem())


def _id_of(raw: dict[str, Any]) -> str:
    """The id a refused change names, for its result: echoed only if it is a UUID."""
    value = raw.get("id")
    try:
        return str(uuid.UUID(value)) if isinstance(value, str) else ""
    except ValueError:
        return ""


def _storable(raw: Any) -> Any:
    """A refused change as it can be kept: whole when it is within the limits,
    else its well-formed top-level values and where the rest was outside them."""
    try:
        bounds.check(raw)
        return raw
    except bounds.BoundsError as exc:
        kept = {}
        if isinstance(raw, dict):
            for key, value in raw.items():
                with contextlib.suppress(bounds.BoundsError):
                    bounds.check({key: value})
                    kept[key] = value
        return {**kept, "_omitted": f"outside the server's limits at {exc.path or 'the change'}"}


def _taken(client_id: Any) -> Msg:
    return Msg("client id {client_id} belongs to another user", client_id=repr(client_id))
