"""ISO 4217 codes and exponents (protocol.currencies), the purchase amount rule, UTC times."""

from __future__ import annotations

import datetime

import pytest
from babel.core import get_global
from babel.numbers import get_territory_currencies
from hypothesis import given
from hypothesis import strategies as st

from protocol.currencies import EXPONENT, is_currency
from protocol.entities import ENTITIES, FieldErrors


def test_every_code_is_legal_tender_somewhere_by_the_cldr() -> None:
    in_use: set[str] = set()
    for territory in get_global("territory_currencies"):
        in_use.update(
            get_territory_currencies(territory, start_date=datetime.date(2026, 1, 1), tender=True)
        )
    assert set(EXPONENT) <= in_use
    assert {"USD", "EUR", "SAR", "AED", "JPY", "KWD", "GBP"} <= set(EXPONENT)


@pytest.mark.parametrize(
    ("code", "exponent"), [("EUR", 2), ("SAR", 2), ("JPY", 0), ("KWD", 3), ("BHD", 3), ("CLP", 0)]
)
def test_exponents_are_iso_4217s(code: str, exponent: int) -> None:
    assert EXPONENT[code] == exponent


@pytest.mark.parametrize("code", ["DEM", "FRF", "XYZ", "eur", "EURO", ""])
def test_other_codes_are_refused(code: str) -> None:
    assert not is_currency(code)
    with pytest.raises(FieldErrors) as refused:
        ENTITIES["receipt"].validate({"currency": code}, creating=False)
    assert [e["field"] for e in refused.value.errors] == ["currency"]


lines = st.lists(
    st.tuples(st.integers(1, 1_000), st.integers(0, 1_000_000)), min_size=1, max_size=20
)


@given(lines)
def test_an_amount_equal_to_its_lines_is_accepted(items: list[tuple[int, int]]) -> None:
    line_items = [
        {"description": f"item {n}", "quantity": q, "unit_price_minor": p}
        for n, (q, p) in enumerate(items)
    ]
    total = sum(q * p for q, p in items)
    clean = ENTITIES["purchase"].validate(
        {"line_items": line_items, "amount_minor": total}, creating=False
    )
    assert clean["amount_minor"] == total


@given(lines, st.integers(1, 10_000))
def test_an_amount_off_its_lines_is_refused(items: list[tuple[int, int]], off: int) -> None:
    line_items = [
        {"description": f"item {n}", "quantity": q, "unit_price_minor": p}
        for n, (q, p) in enumerate(items)
    ]
    total = sum(q * p for q, p in items) + off
    with pytest.raises(FieldErrors):
        ENTITIES["purchase"].validate(
            {"line_items": line_items, "amount_minor": total}, creating=False
        )


def test_device_datetimes_are_kept_in_utc_whatever_their_offset() -> None:
    # One instant, one text: the merge compares values as text.
    riyadh = ENTITIES["task"].validate({"due_at": "2026-06-01T09:00:00+03:00"}, creating=False)
    utc = ENTITIES["task"].validate({"due_at": "2026-06-01T06:00:00Z"}, creating=False)
    assert riyadh == utc == {"due_at": "2026-06-01T06:00:00Z"}
