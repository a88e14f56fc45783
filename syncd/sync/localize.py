"""Per-change problems in the reader's language, also when they were stored.

A refused change is a problem of the one tree (syncd/web/problems.py) rendered
into its result in English by `Problem.as_json`, and the problem is stored:
beside the rejected change for admins, and in the push ledger that answers a
replayed batch again. Its `Msg`s travel as templates under the private key
`_text` (syncd/web/problem_json.py), and `problem_in` words the problem from
them in any language when it is read: a push answer (HTTP or `/sync/ws`), a
replayed batch, the admins' list. The `title` becomes the code's registered
title in that language (when the catalog has it); a plain sentence is looked
up in the catalog; `type`, `code`, `status` and `errors[].field` / `.code`
stay as they are, for programs. `_text` never leaves the server: every reader
strips it, English ones too.
"""

from __future__ import annotations

from typing import Any

from syncd.i18n import DEFAULT_LOCALE, Msg, has_translation, translate
from syncd.web.problem_json import TEXT, translatable
from syncd.web.problems import PROBLEM_CODES, error_in


def localized(answer: dict[str, Any], locale: str) -> dict[str, Any]:
    """A push answer with its results' problems in `locale` (a new dict)."""
    results = [
        {**result, "problem": problem_in(result["problem"], locale)}
        if isinstance(result.get("problem"), dict)
        else result
        for result in answer.get("results", [])
    ]
    return {**answer, "results": results}


def problem_in(problem: dict[str, Any], locale: str) -> dict[str, Any]:
    """One change's problem in `locale`, without `_text`."""
    out = {key: value for key, value in problem.items() if key != TEXT}
    registered = PROBLEM_CODES.get(str(problem.get("code")))
    if registered is not None and locale != DEFAULT_LOCALE and has_translation(registered, locale):
        out["title"] = translate(registered, locale)
    elif isinstance(problem.get("title"), str):  # the title it was stored with
        out["title"] = translate(problem["title"], locale)
    detail, errors = translatable(problem)
    if isinstance(detail, Msg):
        out["detail"] = detail.in_locale(locale)
    elif isinstance(detail, str):
        out["detail"] = translate(detail, locale)
    if errors is not None:
        out["errors"] = [error_in(e, locale) if isinstance(e, dict) else e for e in errors]
    return out
