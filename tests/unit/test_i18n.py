"""Choosing a problem's language: Accept-Language q-values, fallbacks, the catalog lookup."""

from __future__ import annotations

import pytest

from syncd.i18n import accepted_languages, choose_locale, has_translation, negotiate, translate


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
