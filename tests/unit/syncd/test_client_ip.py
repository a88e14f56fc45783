"""The client's address: the peer unless a trusted proxy forwarded the request."""

from __future__ import annotations

import ipaddress

from syncd.web.client_ip import resolve

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))


def test_nothing_is_trusted_by_default() -> None:
    assert resolve("10.1.2.3", [], ["203.0.113.9"], ()) == "10.1.2.3"
    assert resolve("10.1.2.3", ["for=203.0.113.9"], [], ()) == "10.1.2.3"


def test_an_untrusted_peer_cannot_name_the_client() -> None:
    assert resolve("198.51.100.4", [], ["203.0.113.9"], PROXIES) == "198.51.100.4"


def test_the_rightmost_untrusted_hop_is_the_client() -> None:
    # A client may prepend anything; only what our proxies appended counts.
    header = ["6.6.6.6, 203.0.113.9, 10.0.0.7"]
    assert resolve("10.0.0.2", [], header, PROXIES) == "203.0.113.9"
    assert resolve("10.0.0.2", [], ["6.6.6.6", "203.0.113.9"], PROXIES) == "203.0.113.9"


def test_forwarded_is_read_before_x_forwarded_for() -> None:
    forwarded = ['for=192.0.2.60;proto=http, for="[2001:db8:cafe::17]:4711"']
    assert resolve("10.0.0.2", forwarded, ["203.0.113.9"], PROXIES) == "2001:db8:cafe::17"
    assert resolve("fd00::1", ["for=192.0.2.60:8080"], [], PROXIES) == "192.0.2.60"


def test_unreadable_headers_leave_the_last_trusted_hop() -> None:
    assert resolve("10.0.0.2", [], ["not-an-address"], PROXIES) == "10.0.0.2"
    assert resolve("10.0.0.2", ["for=_hidden"], [], PROXIES) == "10.0.0.2"
    assert resolve("10.0.0.2", [], [], PROXIES) == "10.0.0.2"
    assert resolve(None, [], ["203.0.113.9"], PROXIES) == "unknown"
