"""A change refused by the write path: a problem of the one tree.

    Problem (syncd/web/problems.py)
    └── Refused: every refusal of the write path derives from it and from the
        problem it is, which gives it its status (and, for the generic ones,
        its code and title):
        ValidationFailed 422  InvalidChange (validation_failed), UnknownEntity,
                              WrongEntity, UnknownAction, UnsupportedOp
                              (CollaborationOff: the same code, 501),
                              UnknownReference, UnknownMedia, InvalidAssignee
        Forbidden 403         ForbiddenChange (forbidden), NotWritable
        NotFound 404          RowNotFound (not_found)
        Conflict 409          InvalidTransitionProblem, AppendOnly
        PayloadTooLarge 413   TooLargeDocument

Raised while one change is applied, a refusal becomes that change's `rejected`
result (`Problem.as_json`) and the batch goes on; raised by a REST write (or
its check), it is the request's problem as it stands: the same code, status
and title, in the request's language. A detail or message given as a `Msg` is
kept translatable (syncd/web/problem_json.py): the result is stored, and read
later in its reader's language.

A refusal is raised by its class's name, so its status and title come from
the class alone; `invalid`, `forbidden`, `not_found` and `refused_action`
build the common ones.
"""

from __future__ import annotations

from typing import Any

from protocol.lifecycle import InvalidTransition
from syncd.i18n import Msg
from syncd.web.problems import (
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Problem,
    ValidationFailed,
)


class Refused(Problem):
    """One change refused; the batch goes on. Its status, code and title are its class's."""

    def problem(self) -> dict[str, Any]:
        """The change's `rejected` problem (`Problem.as_json`)."""
        return self.as_json()


class InvalidChange(Refused, ValidationFailed):
    """A value of the change does not validate (`validation_failed`)."""


class ForbiddenChange(Refused, Forbidden):
    """The change reaches outside the user's scope (`forbidden`)."""


class RowNotFound(Refused, NotFound):
    """The change names a row the tenant does not have (`not_found`)."""


class UnknownEntity(Refused, ValidationFailed):
    code = "unknown_entity"
    title = "No such entity"


class WrongEntity(Refused, ValidationFailed):
    code = "wrong_entity"
    title = "This endpoint takes other changes"


class UnknownAction(Refused, ValidationFailed):
    code = "unknown_action"
    title = "No such task action"


class UnsupportedOp(Refused, ValidationFailed):
    code = "unsupported_op"
    title = "The operation is not supported here"


class CollaborationOff(UnsupportedOp):
    """A `ydoc` change while the server's collaborative text is switched off."""

    status = 501


class UnknownReference(Refused, ValidationFailed):
    code = "unknown_reference"
    title = "A field names a row that does not exist"


class UnknownMedia(Refused, ValidationFailed):
    code = "unknown_media"
    title = "A media id names no media of this tenant"


class InvalidAssignee(Refused, ValidationFailed):
    code = "invalid_assignee"
    title = "Only active technicians of the tenant are assigned"


class NotWritable(Refused, Forbidden):
    code = "not_writable"
    title = "Devices do not write these rows"


class InvalidTransitionProblem(Refused, Conflict):
    code = "invalid_transition"
    title = "The task's state does not allow this action"


class AppendOnly(Refused, Conflict):
    code = "append_only"
    title = "Timeline entries are never changed or deleted"


class TooLargeDocument(Refused, PayloadTooLarge):
    code = "document_too_large"
    title = "The collaborative document is too large"


def refusal_classes() -> list[type[Refused]]:
    """Every refusal class, parents before their children."""
    found: list[type[Refused]] = [Refused]
    for cls in found:
        found.extend(sub for sub in cls.__subclasses__() if sub not in found)
    return found[1:]


def invalid(detail: str, field: str, code: str, message: str) -> Refused:
    """A `validation_failed` refusal naming one field (`detail` and `message`
    may be `Msg`s)."""
    return InvalidChange(detail, errors=[{"field": field, "code": code, "message": message}])


def forbidden(detail: str) -> Refused:
    return ForbiddenChange(detail)


def not_found(entity: str, row_id: object) -> Refused:
    return RowNotFound(Msg("no {entity} {row_id}", entity=entity, row_id=row_id))


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
