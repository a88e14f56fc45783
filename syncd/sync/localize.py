"""Per-change problems of a push answer in the request's language.

The sync service words a refused change's problem in English (it is stored
beside the rejected change, and a replayed batch answers it again). The push
routes hand the answer to `localized` with the request's locale: the `title`
becomes the code's registered title in that language (when the catalog has
it), the `detail` and each `errors[].message` are translated (a `Msg` by its
template, a fixed sentence through the catalog); `type`, `code`, `status` and
`errors[].field` / `.code` stay as they are, for programs. English answers are
returned untouched.
"""

from __future__ import annotations

from typing import Any

from syncd.i18n import DEFAULT_LOCALE, Msg, has_translation, translate
from syncd.web.problems import PROBLEM_CODES, error_in


def localized(answer: dict[str, Any], locale: str) -> dict[str, Any]:
    """`answer` with its results' problems in `locale` (a new dict when changed)."""
    if locale == DEFAULT_LOCALE:
        return answer
    results = [
        {**result, "problem": problem_in(result["problem"], locale)}
        if isinstance(result.get("problem"), dict)
        else result
        for result in answer.get("results", [])
    ]
    return {**answer, "results": results}


def problem_in(problem: dict[str, Any], locale: str) -> dict[str, Any]:
    """One change's problem in `locale`."""
    out = dict(problem)
    registered = PROBLEM_CODES.get(str(problem.get("code")))
    if registered is not None and has_translation(registered, locale):
        out["title"] = translate(registered, locale)
    detail = problem.get("detail")
    if isinstance(detail, Msg):
        out["detail"] = detail.in_locale(locale)
    elif isinstance(detail, str):
        out["detail"] = translate(detail, locale)
    if isinstance(problem.get("errors"), list):
        out["errors"] = [
            error_in(error, locale) if isinstance(error, dict) else error
            for error in problem["errors"]
        ]
    return out
