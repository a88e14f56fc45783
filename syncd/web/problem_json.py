"""A problem kept as JSON, still translatable when it is read again.

A refused change's problem (`Problem.as_json`) outlives its request: it is
answered in a push result, stored beside the rejected change for admins and
in the push ledger that answers a replayed batch again. A `Msg` turns into its
English text in JSON, so `carry` keeps each `Msg` of the problem (the
`detail`, an `errors[].message`) as its template and fields under the private
key `_text`, and `translatable` gives them back as `Msg`s, to be worded in the
reader's language (syncd/sync/localize.py). `_text` never leaves the server.
"""

from __future__ import annotations

from typing import Any

from syncd.i18n import Msg

TEXT = "_text"


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
