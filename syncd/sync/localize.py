"""Per-change problems in the reader's language, also when they were stored.

The sync service words a refused change's problem in English (`Refused.problem`),
and the problem is stored: beside the rejected change for admins, and in the
push ledger that answers a replayed batch again. A `Msg` turns into its English
text in JSON, so `carry` keeps each `Msg` of the problem (the `detail`, an
`errors[].message`) as its template and fields under the private key `_text`,
and `problem_in` words the problem from them in any language when it is read:
a push answer (HTTP or `/sync/ws`), a replayed batch, the admins' list. The
`title` becomes the code's registered title in that language (when the
catalog has it); a plain sentence is looked up in the catalog; `type`, `code`,
`status` and `errors[].field` / `.code` stay as they are, for programs. `_text`
never leaves the server: every reader strips it, English ones too.
"""

from __future__ import annotations

from typing import Any

from syncd.i18n import DEFAULT_LOCALE, Msg, has_translation, translate
from syncd.web.problems import PROBLEM_CODES, error_in

TEXT = "_text"


def localized(answer: dict[str, Any], locale: str) -> dict[str, Any]:
    """A push answer with its results' problems in `locale` (a new dict)."""
    results = [
        {**result, "problem": problem_in(result["problem"], locale)}
        if isinstance(result.get("problem"), dict)
        else result
        for result in answer.get("results", [])
    ]
    return {**answer, "results": results}


def carry(problem: dict[str, Any]) -> dict[str, Any]:
    """`problem` with its `Msg`s kept as templates under `_text`, to outlive JSON."""
    detail = problem.get("detail")
    errors = problem.get("errors")
    messages = [e.get("message") if isinstance(e, dict) else None for e in errors or []]
    if not isinstance(detail, Msg) and not any(isinstance(m, Msg) for m in messages):
        return problem
    text: dict[str, Any] = {"detail": _encode(detail) if isinstance(detail, Msg) else None}
    if errors:
        text["errors"] = [_encode(m) if isinstance(m, Msg) else None for m in messages]
    return {**problem, TEXT: text}


def problem_in(problem: dict[str, Any], locale: str) -> dict[str, Any]:
    """One change's problem in `locale`, without `_text`."""
    out = {key: value for key, value in problem.items() if key != TEXT}
    registered = PROBLEM_CODES.get(str(problem.get("code")))
    if registered is not None and locale != DEFAULT_LOCALE and has_translation(registered, locale):
        out["title"] = translate(registered, locale)
    elif isinstance(problem.get("title"), str):  # a refusal's own title (refusals.TITLES)
        out["title"] = translate(problem["title"], locale)
    detail, errors = translatable(problem)
    if isinstance(detail, Msg):
        out["detail"] = detail.in_locale(locale)
    elif isinstance(detail, str):
        out["detail"] = translate(detail, locale)
    if errors is not None:
        out["errors"] = [error_in(e, locale) if isinstance(e, dict) else e for e in errors]
    return out


def translatable(problem: dict[str, Any]) -> tuple[Any, list[Any] | None]:
    """The problem's `detail` and `errors`, each message a `Msg` again where `_text`
    kept one (so it can be worded in any language), else as stored."""
    kept = problem.get(TEXT)
    text: dict[str, Any] = kept if isinstance(kept, dict) else {}
    detail = _decode(text.get("detail")) or problem.get("detail")
    errors = problem.get("errors")
    if not isinstance(errors, list):
        return detail, None
    carried = text.get("errors") or []
    return detail, [
        _with_message(error, carried, at) if isinstance(error, dict) else error
        for at, error in enumerate(errors)
    ]


def _with_message(error: dict[str, Any], carried: list[Any], at: int) -> dict[str, Any]:
    message = _decode(carried[at]) if at < len(carried) else None
    return error if message is None else {**error, "message": message}


def _encode(message: Msg) -> dict[str, Any]:
    params = {
        name: _encode(value)
        if isinstance(value, Msg)
        else value
        if isinstance(value, int | float | bool) or value is None
        else str(value)
        for name, value in message.params.items()
    }
    return {"template": message.template, "params": params}


def _decoded_or(value: Any) -> Any:
    decoded = _decode(value)
    return value if decoded is None else decoded


def _decode(encoded: Any) -> Msg | None:
    """The `Msg` `_encode` kept, or None for anything else (an older stored problem)."""
    if not isinstance(encoded, dict) or not isinstance(encoded.get("template"), str):
        return None
    given = encoded.get("params")
    params: dict[str, Any] = given if isinstance(given, dict) else {}
    fields = {name: _decoded_or(value) for name, value in params.items()}
    try:
        return Msg(encoded["template"], **fields)
    except (KeyError, IndexError, ValueError):
        return None
