"""Refusals of the write path are problems of the one tree (syncd/sync/refusals.py):
one class per code and status, named by code in the push path's form, and
rendered into a change's result as the request's problem would say it."""

from __future__ import annotations

from typing import Any

import pytest

from syncd.i18n import Msg, has_translation
from syncd.sync.localize import problem_in
from syncd.sync.refusals import (
    Refused,
    refusal_classes,
)
from syncd.web.problems import PROBLEM_CODES, Problem

SAME = ("type", "title", "status", "detail", "code", "errors")


def test_each_code_and_status_is_one_class_with_the_codes_title() -> None:
    classes = refusal_classes()
    assert len(classes) >= 15
    keys = [(cls.code, cls.status) for cls in classes]
    assert len(keys) == len(set(keys))
    for cls in classes:
        assert issubclass(cls, Refused)
        assert PROBLEM_CODES[cls.code] == cls.title, cls
        assert has_translation(cls.title, "ar"), cls


@pytest.mark.parametrize("cls", refusal_classes(), ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("locale", ["en", "ar"])
def test_a_change_result_says_what_the_request_problem_says(
    cls: type[Problem], locale: str
) -> None:
    errors: list[dict[str, Any]] = [
        {"field": "task_id", "code": "missing", "message": Msg("no such {entity}", entity="task")}
    ]
    refusal = cls(Msg("no {entity} {row_id}", entity="task", row_id=7), errors=errors)
    http = refusal.body("/tasks", "req-1", locale)
    stored = refusal.as_json()
    assert stored["title"] == cls.title  # English, its templates kept for later
    assert "_text" in stored
    result = problem_in(stored, locale)
    assert {k: result[k] for k in SAME} == {k: http[k] for k in SAME}
    assert set(result) == {*SAME}  # no instance, request id or private key
