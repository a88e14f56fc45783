"""The client's address: the peer, or what a trusted reverse proxy says it is.

Behind a load balancer or an Ingress every request comes from the proxy, so
the proxy's `X-Forwarded-For` (or RFC 7239 `Forwarded`) header names the
client. A header is only as good as whoever wrote it: a client can send one
too. So the header is read only when the peer is one of TRUSTED_PROXIES
(empty by default: never), and then from the right, skipping every hop that is
itself a trusted proxy; the first address that is not one is the client. A
header that cannot be read leaves the last trusted hop as the answer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from aiohttp import web

from syncd import appkeys
from syncd.web import keys

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

UNKNOWN = "unknown"


def request_ip(request: web.Request) -> str:
    """The client's address of `request` under the app's TRUSTED_PROXIES (worked out once)."""
    known = request.get(keys.CLIENT_IP)
    if known is None:
        settings = request.app.get(appkeys.SETTINGS)
        trusted = settings.trusted_proxy_networks if settings is not None else ()
        known = request[keys.CLIENT_IP] = client_ip(request, trusted)
    return known


def client_ip(request: web.BaseRequest, trusted: Sequence[Network]) -> str:
    """The client's address for throttling and the audit log."""
    return resolve(
        request.remote,
        request.headers.getall("Forwarded", []),
        request.headers.getall("X-Forwarded-For", []),
        trusted,
    )


def resolve(
    peer: str | None,
    forwarded: Sequence[str],
    x_forwarded_for: Sequence[str],
    trusted: Sequence[Network],
) -> str:
    """The client's address from the peer and the forwarding headers (plain values)."""
    current = _address(peer)
    if current is None:
        return peer or UNKNOWN
    if not trusted or not _is_trusted(current, trusted):
        return str(current)
    hops = _forwarded_hops(forwarded) if forwarded else _xff_hops(x_forwarded_for)
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break  # unreadable: keep the last hop we trust
        current = address
        if not _is_trusted(address, trusted):
            break
    return str(current)


def _is_trusted(address: Address, trusted: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def _address(text: str | None) -> Address | None:
    if not text:
        return None
    text = text.strip().strip('"')
    if text.startswith("["):  # [v6]:port
        text = text[1 : text.find("]")] if "]" in text else text
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _xff_hops(values: Sequence[str]) -> list[str]:
    return [hop.strip() for value in values for hop in value.split(",") if hop.strip()]


def _forwarded_hops(values: Sequence[str]) -> list[str]:
    """The `for=` of each element of `Forwarded` headers, in order (RFC 7239)."""
    hops: list[str] = []
    for value in values:
        for element in value.split(","):
            found = ""
            for pair in element.split(";"):
                name, _, token = pair.strip().partition("=")
                if name.strip().lower() == "for":
                    found = token.strip()
            hops.append(found)
    return hops
