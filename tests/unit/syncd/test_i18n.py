"""Choosing a problem's language: Accept-Language q-values, fallbacks, the catalog lookup."""

from __future__ import annotations

import pytest

from protocol.bounds import BoundsError, Limits, check
from syncd.i18n import (
    Msg,
    accepted_languages,
    choose_locale,
    has_translation,
    negotiate,
    translate,
)
from syncd.web.field_messages import bounds_message


def test_tags_come_by_q_value_then_header_order() -> None:
    header = "fr;q=0.9, ar-SA;q=0.95, de, en;q=0.9, *;q=0.1"
    assert accepted_languages(header) == ["de", "ar-sa", "fr", "en", "*"]


@pytest.mark.parametrize(
    "header",
    ["en;q=0, ar;q=0", "en;q=abc", "ar;q=1.5", "", " , ;q=0.3"],
)
def test_refused_and_malformed_entries_are_dropped(header: str) -> None:
    assert accepted_languages(header) == []


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("ar", "ar"),
        ("ar-SA", "ar"),
        ("AR_eg", "ar"),
        ("fr, ar;q=0.5", "ar"),
        ("ar;q=0.4, en;q=0.8", "en"),
        ("en-GB", "en"),
        ("ar;q=0, en", "en"),
        ("fr, de", None),
        ("*", None),
        (None, None),
    ],
)
def test_negotiate_maps_a_tag_to_its_supported_language(
    header: str | None, expected: str | None
) -> None:
    assert negotiate(header) == expected


def test_fallbacks_apply_only_when_the_header_names_nothing_supported() -> None:
    assert choose_locale("en", None, "ar") == "en"
    assert choose_locale("fr", None, "ar") == "ar"
    assert choose_locale(None, "ar-SA", "en") == "ar"
    assert choose_locale(None, None, "fr") == "en"
    assert choose_locale(None) == "en"


def test_translate_falls_back_to_the_english_text() -> None:
    assert translate("Not found", "ar") == "غير موجود"
    assert translate("Not found", "en") == "Not found"
    assert translate("a sentence no catalog has", "ar") == "a sentence no catalog has"
    assert has_translation("Not found", "ar")
    assert not has_translation("a sentence no catalog has", "ar")
    with pytest.raises(ValueError, match="unsupported locale 'fr'"):
        translate("Not found", "fr")


SMALL = Limits(max_depth=3, max_items=2, max_keys=2, max_key_chars=4, max_string_chars=5)
OUT_OF_BOUNDS = {
    "too_deep": {"a": {"b": {"c": {"d": 1}}}},
    "integer_out_of_range": 2**64,
    "number_out_of_range": 1e300,
    "too_many_keys": {"a": 1, "b": 2, "c": 3},
    "key_too_long": {"abcdef": 1},
    "nul_character": "a\x00",
    "too_many_items": [1, 2, 3],
    "string_too_long": "abcdefgh",
}


@pytest.mark.parametrize("code", sorted(OUT_OF_BOUNDS))
def test_every_bounds_message_is_translated(code: str) -> None:
    """protocol/bounds.py words its messages in English; each becomes a Msg (with
    the limit as its field) that the Arabic catalog has."""
    with pytest.raises(BoundsError) as raised:
        check(OUT_OF_BOUNDS[code], SMALL)
    assert raised.value.code == code
    message = bounds_message(raised.value)
    assert isinstance(message, Msg), raised.value.message
    assert message == raised.value.message  # its English is protocol's own
    assert has_translation(message.template, "ar"), message.template
    assert "U+0000" in message.in_locale("ar") or not any(
        word in message.in_locale("ar") for word in ("than", "beyond", "holds")
    )
