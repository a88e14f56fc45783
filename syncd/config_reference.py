"""The configuration reference of docs/operations.md, generated from `Settings`.

One Markdown row per field of `syncd.settings.Settings`: the variable (its
`validation_alias`), the default, the rule and the meaning (its `description`).
The rule is read from the field's type and constraints (enum, Literal, bool,
ge/le, min_length/max_length, pattern). What a field cannot say for itself (a
default computed at load time, a rule checked by a validator) is in SPECIAL_CASES.
`syncd config-reference --write docs/operations.md` puts the table between
CONFIG_BEGIN and CONFIG_END; tests/integration/deploy/test_config_reference.py checks
that the page is up to date.
"""

from __future__ import annotations

import re
import types
import typing
from enum import Enum
from pathlib import Path
from typing import Any, Literal, NamedTuple

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic.fields import FieldInfo

from syncd.passwords import MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS
from syncd.seed import DEFAULT_ADMIN_EMAIL
from syncd.settings import MIN_SECRET_LENGTH, Settings

CONFIG_BEGIN = "<!-- config:begin -->"
CONFIG_END = "<!-- config:end -->"
HEADER = "| variable | default | rule | meaning |"
NO_RULE = "\u2014"  # em dash
TO = "\u2013"  # en dash, between the bounds of a range


class Special(NamedTuple):
    """What the generator cannot read from a field: a default and/or a rule, in words."""

    default: str | None = None
    rule: str | None = None


SPECIAL_CASES: dict[str, Special] = {
    "DATABASE_URL": Special(
        default="`sqlite+aiosqlite:///<SYNCD_VAR_DIR>/syncd.db`",
        rule="`sqlite://…` or `postgres(ql)://…`; the async driver (aiosqlite, asyncpg) "
        "is added when missing",
    ),
    "REDIS_URL": Special(rule="`redis://`, `rediss://` or `unix://`"),
    "JWT_ACCESS_SECRET": Special(
        default="generated into `<SYNCD_VAR_DIR>/secrets.json` outside production",
        rule=f"at least {MIN_SECRET_LENGTH} characters in production, where it is required "
        "and may not be a placeholder such as `changeme`",
    ),
    "JWT_REFRESH_SECRET": Special(
        default="generated, as above",
        rule=f"at least {MIN_SECRET_LENGTH} characters in production, where it is required "
        "and must differ from `JWT_ACCESS_SECRET`",
    ),
    "S3_ENDPOINT_URL": Special(rule="requires `S3_BUCKET`"),
    "S3_BUCKET": Special(rule="required when `S3_ENDPOINT_URL` is set"),
    "BLOB_DIR": Special(default="`<SYNCD_VAR_DIR>/blobs`"),
    "CORS_ORIGINS": Special(
        default="empty (no CORS headers)", rule="comma-separated `http(s)://` origins, or `*`"
    ),
    "TRUSTED_PROXIES": Special(
        default="empty (no proxy trusted: the peer is the client)",
        rule="comma-separated IP addresses or CIDR networks",
    ),
    "AUTH_ALLOW_REGISTER": Special(default="unset: on, except in production"),
    "SMTP_URL": Special(rule="`smtp://` or `smtps://`"),
    "SYNCD_SEED_ADMIN_EMAIL": Special(default=f"unset: `{DEFAULT_ADMIN_EMAIL}`"),
    "SYNCD_SEED_ADMIN_PASSWORD": Special(
        default="unset: generated and printed once",
        rule=f"the password policy: {MIN_PASSWORD_CHARS}+ characters, at most "
        f"{MAX_PASSWORD_BYTES} bytes, 4+ distinct characters",
    ),
}

_ALTERNATIVES = re.compile(r"\^\(?([\w-]+(?:\|[\w-]+)*)\)?\$")
_CHARACTERS = re.compile(r"\^(\[[^\]]+\])\{(\d+),(\d+)\}\$")
_DAY = 86_400
_MIB = 1_048_576


def config_reference_markdown() -> str:
    """Every setting as a Markdown table: `| variable | default | rule | meaning |`."""
    lines = [HEADER, "|---|---|---|---|"]
    for field in Settings.model_fields.values():
        variable = str(field.validation_alias)
        special = SPECIAL_CASES.get(variable, Special())
        cells = (
            f"`{variable}`",
            special.default or _default(variable, field.default),
            _rule(field, special.rule),
            field.description or "",
        )
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def replace_config_table(text: str, table: str) -> str:
    """`text` with the part between the config markers replaced by `table`."""
    head, begin, rest = text.partition(CONFIG_BEGIN)
    _, end, tail = rest.partition(CONFIG_END)
    if not begin or not end:
        raise ValueError(f"needs a line {CONFIG_BEGIN} and, after it, a line {CONFIG_END}")
    return f"{head}{CONFIG_BEGIN}\n{table}{CONFIG_END}{tail}"


def _cell(text: str) -> str:
    return text.replace("\n", " ").replace("|", r"\|")  # a pipe would end the cell


def _default(variable: str, value: Any) -> str:
    if value is None:
        return "unset"
    if value == "":
        return "empty"
    if isinstance(value, Enum):
        return f"`{value.value}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    shown = f"`{value}`"
    if isinstance(value, int):
        if variable.endswith("_SECONDS") and value >= 2 * _DAY and value % _DAY == 0:
            shown += f" ({value // _DAY} days)"
        elif variable.endswith("_SECONDS") and value >= 3600 and value % 3600 == 0:
            shown += f" ({value // 3600} h)"
        elif variable.endswith("_BYTES") and value % _MIB == 0:
            shown += f" ({value // _MIB} MiB)"
    return shown


def _rule(field: FieldInfo, special: str | None) -> str:
    parts = [_type_rule(field.annotation), _bounds(field.metadata), _pattern(field.metadata)]
    parts.append(special or "")
    found = [part for part in parts if part]
    return "; ".join(found) if found else NO_RULE


def _type_rule(annotation: Any) -> str:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        kinds = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        annotation = kinds[0] if len(kinds) == 1 else annotation
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return _one_of([str(member.value) for member in annotation])
    if typing.get_origin(annotation) is Literal:
        return _one_of([str(value) for value in typing.get_args(annotation)])
    if annotation is bool:
        return _one_of(["true", "false"])
    if annotation is Path:
        return "a directory path"
    return ""


def _one_of(values: list[str]) -> str:
    if len(values) == 1:
        return f"only `{values[0]}`"
    return " | ".join(f"`{value}`" for value in values)


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _bounds(metadata: list[Any]) -> str:
    low = high = min_length = max_length = None
    for item in metadata:
        if isinstance(item, Ge):
            low = _number(item.ge)
        elif isinstance(item, Gt):
            low = f"more than {_number(item.gt)}"
        elif isinstance(item, Le):
            high = _number(item.le)
        elif isinstance(item, Lt):
            high = f"less than {_number(item.lt)}"
        elif isinstance(item, MinLen):
            min_length = item.min_length
        elif isinstance(item, MaxLen):
            max_length = item.max_length
    parts = []
    if low is not None and high is not None:
        parts.append(f"{low}{TO}{high}")
    elif low is not None:
        parts.append(f"at least {low}")
    elif high is not None:
        parts.append(f"at most {high}")
    if min_length == 1 and max_length is None:
        parts.append("not empty")
    elif min_length is not None and max_length is not None:
        parts.append(f"{min_length}{TO}{max_length} characters")
    elif min_length is not None:
        parts.append(f"at least {min_length} characters")
    elif max_length is not None:
        parts.append(f"at most {max_length} characters")
    return "; ".join(parts)


def _pattern(metadata: list[Any]) -> str:
    pattern = next((item.pattern for item in metadata if getattr(item, "pattern", None)), None)
    if pattern is None:
        return ""
    if match := _ALTERNATIVES.fullmatch(pattern):
        return _one_of(match[1].split("|"))
    if match := _CHARACTERS.fullmatch(pattern):
        return f"{match[2]}{TO}{match[3]} characters of `{match[1]}`"
    return f"matches `{pattern}`"
