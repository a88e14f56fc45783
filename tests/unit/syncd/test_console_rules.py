"""The console's small rules, for all inputs: where `next` may lead, device alerts,
notices on a location, times in a zone."""

from __future__ import annotations

import posixpath
import urllib.parse
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from syncd.console.devices import health
from syncd.console.forms import local_next, with_notice
from syncd.console.i18n import Speech, page_locale

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
pieces = st.sampled_from(
    ["/", "//", "console", "/console", "..", ".", "%2e%2e", "evil.example", "http:", "\\", "?", "#"]
)


@given(st.one_of(st.text(), st.lists(pieces).map("".join)))
def test_next_never_leads_out_of_the_console(value: str) -> None:
    chosen = local_next(value)
    parts = urllib.parse.urlsplit(chosen)
    assert not parts.scheme
    assert not parts.netloc
    assert not chosen.startswith("//")
    assert all(ord(char) > 0x20 for char in chosen)
    assert "\\" not in chosen
    path = posixpath.normpath(urllib.parse.unquote(parts.path))
    assert path == "/console" or path.startswith("/console/")


def test_next_keeps_a_console_path_with_its_query() -> None:
    assert local_next("/console/inbox?status=all&age=1h") == "/console/inbox?status=all&age=1h"
    assert local_next("/console/../tasks") == "/console/"
    assert local_next("/consolex") == "/console/"
    assert local_next(None, "") == ""


@given(st.sampled_from(["/console/inbox", "/console/tasks?x=1&notice=old"]), st.text(max_size=20))
def test_a_notice_is_one_query_parameter(location: str, notice: str) -> None:
    made = urllib.parse.urlsplit(with_notice(location, notice))
    query = urllib.parse.parse_qs(made.query, keep_blank_values=True)
    assert query["notice"] == [notice]
    assert made.path == urllib.parse.urlsplit(location).path


@given(
    seen_ago=st.integers(min_value=0, max_value=10**7),
    rejected_ago=st.none() | st.integers(min_value=0, max_value=10**7),
    alert=st.integers(min_value=60, max_value=10**6),
)
def test_a_device_is_silent_or_failing_only_past_the_alert_time(
    seen_ago: int, rejected_ago: int | None, alert: int
) -> None:
    device = {"last_seen_at": (NOW - timedelta(seconds=seen_ago)).isoformat()}
    open_rejections = None if rejected_ago is None else (2, NOW - timedelta(seconds=rejected_ago))
    shown = health(device, open_rejections, alert, NOW)
    assert shown["silent"] is (seen_ago > alert)
    assert shown["failing"] is (rejected_ago is not None and rejected_ago > alert)
    assert shown["open_rejections"] == (0 if rejected_ago is None else 2)


def test_times_are_shown_in_the_tenants_zone_and_language() -> None:
    riyadh = Speech("ar", "Asia/Riyadh")
    shown = riyadh.when("2026-12-05T09:30:00Z")
    assert 'datetime="2026-12-05T12:30:00+03:00"' in shown
    assert riyadh.direction == "rtl"
    assert Speech("en", "No/Such_Zone").moment(NOW) == NOW  # an unknown zone is UTC
    assert "—" in Speech("en", "UTC").when(None)


def test_the_persons_choice_comes_before_their_locale_and_the_tenants() -> None:
    assert page_locale("en", "ar", "ar", "ar") == "en"
    assert page_locale(None, "ar", "en", "en") == "ar"
    assert page_locale(None, None, "ar", "en") == "ar"
    assert page_locale("xx", None, None, "ar-SA,en;q=0.5") == "ar"
    assert page_locale(None, None, None, None) == "en"
