"""A change refused by the write path: its stable code, sentence and field errors.

`Refused` is raised while one change is applied and becomes that change's
`rejected` result (a problem object); the batch goes on. `invalid`,
`forbidden`, `not_found` and `refused_action` build the common ones. A detail
or message given as a `Msg` is kept translatable (syncd/sync/localize.py):
the problem is stored, and read later in its reader's language.
"""

from __future__ import annotations

from typing import Any

from protocol.lifecycle import InvalidTransition
from syncd.i18n import Msg
from syncd.sync.localize import carry

# The titles of the refusals only the write path answers (the rest are
# registered problems: localize.py words them by their registered title).
TITLES = {
    "unknown_action": "No such task action",
    "unknown_entity": "No such entity",
    "not_writable": "Devices do not write these rows",
    "unsupported_op": "The operation is not supported here",
    "document_too_large": "The collaborative document is too large",
    "wrong_entity": "This endpoint takes other changes",
}


class Refused(Exception):
    """One change refused; the batch goes on."""

    def __init__(
        self, code: str, detail: str, errors: list[dict[str, Any]] | None = None, status: int = 422
    ) -> None:
        super().__init__(detail)
        self.code, self.detail, self.errors, self.status = code, detail, errors, status

    def problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"urn:syncd:problem:{self.code}",
            "title": TITLES.get(self.code) or self.code.replace("_", " ").capitalize(),
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if self.errors:
            body["errors"] = self.errors
        return carry(body)


def invalid(detail: str, field: str, code: str, message: str) -> Refused:
    """A `validation_failed` refusal naming one field (`detail` and `message`
    may be `Msg`s)."""
    return Refused(
        "validation_failed", detail, [{"field": field, "code": code, "message": message}]
    )


def forbidden(detail: str) -> Refused:
    return Refused("forbidden", detail, status=403)


def not_found(entity: str, row_id: object) -> Refused:
    return Refused(
        "not_found", Msg("no {entity} {row_id}", entity=entity, row_id=row_id), status=404
    )


def refused_action(exc: InvalidTransition) -> Msg:
    """protocol.lifecycle's sentence for a refused action, as a translatable detail."""
    action, status = exc.action.value, exc.status.value
    if not exc.allowed:
        return Msg(
            "cannot {action} a task that is {status} (allowed: none)", action=action, status=status
        )
    return Msg(
        "cannot {action} a task that is {status} (allowed: {allowed})",
        action=action,
        status=status,
        allowed=", ".join(a.value for a in exc.allowed),
    )
