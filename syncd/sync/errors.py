"""Problems of the sync endpoints (whole-request failures; per-change ones are results)."""

from __future__ import annotations

from syncd.web.problems import Forbidden, PayloadTooLarge, ValidationFailed


class BatchTooLarge(PayloadTooLarge):
    code = "batch_too_large"
    title = "Too many changes in one batch"


class ClientIdTaken(Forbidden):
    code = "client_id_taken"
    title = "The client id belongs to another user"


class InvalidSyncCursor(ValidationFailed):
    code = "invalid_cursor"
    title = "The cursor is not valid"
