"""The entity registry: what the sync core knows of each synced entity, in one place.

`ENTITIES` maps a name to its `EntitySpec`:

- `fields`: the fields a change may write and their rules (a pydantic model);
  `required_on_create`; `guarded`, the fields whose concurrent edits open a
  conflict (status, assignee, amounts) while the others resolve silently;
- `hangs_off`: the scope rule, which task a row belongs to, so a technician
  receives it with the task: the row itself (`self`, a task), the task its
  `task_id` names, or its owner's (`owner`: a media asset's owner is a task,
  a purchase or a receipt);
- `references`: fields naming other rows (`task_id`, `purchase_id`,
  `media_ids`), which must name live rows of the tenant; `fixed`: the fields
  set once, at creation (a row never moves to another task: a technician
  who could see it under the first would keep it for ever);
- `creation_event` and `summary`: the timeline entry a new row adds to its
  task, and the fields that entry quotes;
- `ydoc_fields`: its collaborative text fields (Yjs documents);
- `together`: fields that are one value (a task's scheduled window): a change
  sets all of them under one stamp, so the merge keeps or replaces them as one;
- `append_only` (the timeline) and `device_writable` (rows only the server
  writes).

Storage maps each name to one table (storage/sync_store.py); a test holds the
two to the same names. "Adding a synced entity" in docs/architecture.md lists
the rest.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)

from protocol import field_check
from protocol.currencies import is_currency


def _iso_4217(code: str) -> str:
    if not is_currency(code):
        raise ValueError(f"{code!r} is not an ISO 4217 currency in use")
    return code


# The document states the pattern, not the ~180 codes in use (an enum of them
# made schemathesis's coverage phase send every code to every money route).
Currency = Annotated[
    str,
    Field(pattern=r"^[A-Z]{3}$", description="an ISO 4217 code in use, such as `SAR`"),
    AfterValidator(_iso_4217),
]
# Numbers and flags as JSON types them: `false` is not 0, "1.5" is not 1.5, 2.0 is not 2.
Number = Annotated[float, Strict()]
Integer = Annotated[int, Strict()]
Flag = Annotated[bool, Strict()]


class Geo(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    lat: Number = Field(ge=-90, le=90)
    lng: Number = Field(ge=-180, le=180)
    accuracy_m: Number | None = Field(None, ge=0, le=1_000_000)


class Location(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str = Field("", max_length=500)
    lat: Number | None = Field(None, ge=-90, le=90)
    lng: Number | None = Field(None, ge=-180, le=180)


class LineItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = Field(min_length=1, max_length=300)
    quantity: Number = Field(gt=0, le=1_000_000)
    unit_price_minor: Integer = Field(ge=0, le=10**12)


class _Fields(BaseModel):
    """Every field optional: a change carries only the fields it sets.

    Datetimes are kept in UTC, so one instant has one text (`...Z`) whatever
    offset a device wrote it with: the merge compares values as text.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*")
    @classmethod
    def _in_utc(cls, value: Any) -> Any:
        return value.astimezone(UTC) if isinstance(value, datetime) else value


class TaskFields(_Fields):
    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=20_000)
    priority: Literal["low", "normal", "high", "urgent"] | None = None
    due_at: AwareDatetime | None = None
    location: Location | None = None
    # The visit's booked window (schema 2): set together, the end never before the start.
    scheduled_start: AwareDatetime | None = None
    scheduled_end: AwareDatetime | None = None

    @model_validator(mode="after")
    def _window(self) -> TaskFields:
        """`scheduled_start` and `scheduled_end` are one value: both set, or both null."""
        named = {"scheduled_start", "scheduled_end"} & self.model_fields_set
        if not named:
            return self
        if len(named) == 1:
            raise ValueError("scheduled_start and scheduled_end are set together")
        start, end = self.scheduled_start, self.scheduled_end
        if (start is None) != (end is None):
            raise ValueError("scheduled_start and scheduled_end are both set or both null")
        if start is not None and end is not None and end < start:
            raise ValueError("scheduled_end is before scheduled_start")
        return self


field_check.reads_together(TaskFields, {"scheduled_start", "scheduled_end"})


class AssignmentFields(_Fields):
    task_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    active: Flag | None = None


class EventFields(_Fields):
    task_id: uuid.UUID | None = None
    kind: Literal["note", "photo", "arrived", "left", "signature", "custom"] | None = None
    client_time: AwareDatetime | None = None
    lat: Number | None = Field(None, ge=-90, le=90)
    lng: Number | None = Field(None, ge=-180, le=180)
    accuracy_m: Number | None = Field(None, ge=0, le=1_000_000)
    payload: dict[str, Any] | None = None


class ChecklistFields(_Fields):
    task_id: uuid.UUID | None = None
    label: str | None = Field(None, min_length=1, max_length=200)
    done: Flag | None = None
    position: Integer | None = Field(None, ge=0, le=1_000_000)


class PurchaseFields(_Fields):
    task_id: uuid.UUID | None = None
    vendor: str | None = Field(None, min_length=1, max_length=200)
    line_items: list[LineItem] | None = Field(None, max_length=200)
    amount_minor: Integer | None = Field(None, ge=0, le=10**13)
    currency: Currency | None = None
    purchased_at: AwareDatetime | None = None
    notes: str | None = Field(None, max_length=5_000)
    media_ids: list[uuid.UUID] | None = Field(None, max_length=50)

    @model_validator(mode="after")
    def _amount_is_the_lines(self) -> PurchaseFields:
        """Line items and an amount set together must agree (to the minor unit)."""
        if self.line_items and self.amount_minor is not None:
            lines = round(sum(item.quantity * item.unit_price_minor for item in self.line_items))
            if lines != self.amount_minor:
                raise ValueError(
                    f"amount_minor {self.amount_minor} is not the line items' total {lines}"
                )
        return self


field_check.reads_together(PurchaseFields, {"line_items", "amount_minor"})


class ReceiptFields(_Fields):
    purchase_id: uuid.UUID | None = None
    task_id: uuid.UUID | None = None
    total_minor: Integer | None = Field(None, ge=0, le=10**13)
    currency: Currency | None = None
    issued_at: AwareDatetime | None = None
    media_ids: list[uuid.UUID] | None = Field(None, max_length=50)


HangsOff = Literal["self", "task_id", "owner"]
_TASK_FIELDS = {"self": "id", "task_id": "task_id"}


@dataclass(frozen=True, slots=True)
class Reference:
    """A field that names rows of another entity (`many`: a list of ids)."""

    field: str
    entity: str
    many: bool = False


@dataclass(frozen=True, slots=True)
class EntitySpec:
    name: str
    fields: type[_Fields]
    required_on_create: frozenset[str]
    guarded: frozenset[str]
    hangs_off: HangsOff
    references: tuple[Reference, ...] = ()
    fixed: frozenset[str] = frozenset()
    creation_event: str | None = None
    summary: tuple[str, ...] = ()
    ydoc_fields: frozenset[str] = frozenset()
    together: tuple[frozenset[str], ...] = ()
    append_only: bool = False
    device_writable: bool = True

    @property
    def task_field(self) -> str | None:
        """The field holding the task's id (`id` for a task itself), if it has one."""
        return _TASK_FIELDS.get(self.hangs_off)

    def task_of(self, row_id: uuid.UUID, values: dict[str, Any]) -> uuid.UUID | None:
        """The task a row hangs off, from its values (None: not by a field of its own)."""
        if self.hangs_off == "self":
            return row_id
        if self.hangs_off == "task_id":
            value = values.get("task_id")
            return uuid.UUID(str(value)) if value else None
        return None

    def referenced(self, values: dict[str, Any]) -> list[tuple[Reference, uuid.UUID]]:
        """The ids `values` name in reference fields (text that is no UUID is skipped:
        validation reports it)."""
        found = []
        for reference in self.references:
            value = values.get(reference.field)
            for item in (value if isinstance(value, list) else []) if reference.many else [value]:
                if isinstance(item, str | uuid.UUID):
                    try:
                        found.append((reference, uuid.UUID(str(item))))
                    except ValueError:
                        continue
        return found

    def validate(self, values: dict[str, Any], *, creating: bool) -> dict[str, Any]:
        """Validated, JSON-ready values; raises FieldErrors listing every bad field.

        The common values (text, choices, numbers, ids, a location) are checked by
        protocol/field_check.py; whatever it declines (a datetime, a value it
        would refuse) takes the pydantic model, and so its exact errors."""
        clean = field_check.check(self.fields, values)
        if clean is None:
            clean = self.validate_by_model(values)
        if creating:
            missing = [name for name in self.required_on_create if clean.get(name) is None]
            if missing:
                raise FieldErrors(
                    [
                        {"field": m, "code": "missing", "message": "required to create"}
                        for m in sorted(missing)
                    ]
                )
        return clean

    def validate_by_model(self, values: dict[str, Any]) -> dict[str, Any]:
        """`validate` by the pydantic model alone, without the creation check."""
        try:
            parsed = self.fields.model_validate(values)
        except ValidationError as exc:
            raise FieldErrors(
                [
                    {
                        "field": ".".join(str(p) for p in e["loc"]) or "fields",
                        "code": e["type"],
                        "message": e["msg"],
                    }
                    for e in exc.errors(include_url=False, include_input=False)
                ]
            ) from None
        return parsed.model_dump(mode="json", include=set(values))


class FieldErrors(ValueError):
    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors


TASK = Reference("task_id", "task")
PURCHASE = Reference("purchase_id", "purchase")
MEDIA = Reference("media_ids", "media_asset", many=True)

ENTITIES: dict[str, EntitySpec] = {
    spec.name: spec
    for spec in (
        EntitySpec(
            "task",
            TaskFields,
            required_on_create=frozenset({"title"}),
            guarded=frozenset({"due_at", "priority", "scheduled_start", "scheduled_end"}),
            hangs_off="self",
            creation_event="created",
            summary=("title",),
            ydoc_fields=frozenset({"notes"}),
            together=(frozenset({"scheduled_start", "scheduled_end"}),),
        ),
        EntitySpec(
            "task_assignment",
            AssignmentFields,
            required_on_create=frozenset({"task_id", "user_id"}),
            guarded=frozenset({"user_id", "active"}),
            hangs_off="task_id",
            references=(TASK,),
            fixed=frozenset({"task_id", "user_id"}),
            device_writable=False,  # changed through the task's assign/unassign actions
        ),
        EntitySpec(
            "task_event",
            EventFields,
            required_on_create=frozenset({"task_id", "kind"}),
            guarded=frozenset(),
            hangs_off="task_id",
            references=(TASK,),
            fixed=frozenset({"task_id"}),
            append_only=True,
        ),
        EntitySpec(
            "purchase",
            PurchaseFields,
            required_on_create=frozenset({"vendor", "amount_minor", "currency", "purchased_at"}),
            guarded=frozenset({"amount_minor", "currency", "line_items"}),
            hangs_off="task_id",
            references=(TASK, MEDIA),
            fixed=frozenset({"task_id"}),
            creation_event="purchase_added",
            summary=("vendor", "amount_minor", "currency"),
        ),
        EntitySpec(
            "receipt",
            ReceiptFields,
            required_on_create=frozenset({"purchase_id", "total_minor", "currency", "issued_at"}),
            guarded=frozenset({"total_minor", "currency"}),
            hangs_off="task_id",
            references=(TASK, PURCHASE, MEDIA),
            fixed=frozenset({"purchase_id", "task_id"}),
            creation_event="receipt_added",
            summary=("purchase_id", "total_minor", "currency"),
        ),
        EntitySpec(
            "checklist_item",
            ChecklistFields,
            required_on_create=frozenset({"task_id", "label"}),
            guarded=frozenset(),  # every field merges silently, last writer wins
            hangs_off="task_id",
            references=(TASK,),
            fixed=frozenset({"task_id"}),
        ),
        EntitySpec(
            "media_asset",
            _Fields,
            required_on_create=frozenset(),
            guarded=frozenset(),
            hangs_off="owner",
            summary=("content_type", "size"),
            device_writable=False,
        ),
    )
}


def ydoc_name(entity: str, row_id: uuid.UUID, field_name: str) -> str:
    """The Yjs document of a collaborative text field, e.g. `task:<uuid>:notes`."""
    return f"{entity}:{row_id}:{field_name}"
