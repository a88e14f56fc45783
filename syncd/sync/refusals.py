"""A change refused by the write path: its stable code, sentence and field errors.

`Refused` is raised while one change is applied and becomes that change's
`rejected` result (a problem object); the batch goes on. `ahead_of_tenant`,
`outside_limits` and `invalid` build the common ones.
"""

from __future__ import annotations

from typing import Any


class Refused(Exception):
    """One change refused; the batch goes on."""

    def __init__(
        self, code: str, detail: str, errors: list[dict[str, str]] | None = None, status: int = 422
    ) -> None:
        super().__init__(detail)
        self.code, self.detail, self.errors, self.status = code, detail, errors, status

    def problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"urn:syncd:problem:{self.code}",
            "title": self.code.replace("_", " ").capitalize(),
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if self.errors:
            body["errors"] = self.errors
        return body


def invalid(detail: str, field: str, code: str, message: str) -> Refused:
    """A `validation_failed` refusal naming one field."""
    return Refused(
        "validation_failed", detail, [{"field": field, "code": code, "message": message}]
    )


def forbidden(detail: str) -> Refused:
    return Refused("forbidden", detail, status=403)


def not_found(entity: str, row_id: object) -> Refused:
    return Refused("not_found", f"no {entity} {row_id}", status=404)
