"""The WebSocket kit's plain parts: the close codes against docs/protocol.md,
and the socket caps (per tenant, per process, per user)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from syncd.sockets.caps import SocketCaps, UserSockets
from syncd.sockets.close import Close, Refused

PROTOCOL_DOC = Path(__file__).parents[3] / "docs" / "protocol.md"


def test_the_close_codes_are_the_ones_docs_protocol_lists() -> None:
    """Each code of the two close-code tables (/sync/ws, /sync/yjs) is a member, and
    each member is in a table: the enum and the contract say the same."""
    listed = {int(code) for code in re.findall(r"^\| (\d{4}) \|", PROTOCOL_DOC.read_text(), re.M)}
    assert listed == {int(code) for code in Close}


def test_a_refusal_keeps_its_reason_within_a_close_frame() -> None:
    refused = Refused(Close.TOKEN, "x" * 500)
    assert (refused.code, len(refused.reason)) == (4401, 120)


def test_the_tenant_cap_and_the_process_cap() -> None:
    caps = SocketCaps(per_tenant=2, per_process=3)
    a, b = uuid.uuid4(), uuid.uuid4()
    assert caps.open(a) is None
    assert caps.open(a) is None
    assert caps.open(a) == "too many live sockets for this tenant; retry later"
    assert caps.open(b) is None
    assert caps.open(b) == "this server holds as many live sockets as it may; retry later"
    caps.close(a)
    assert (caps.held(a), caps.open_sockets) == (1, 2)
    assert caps.open(b) is None
    caps.close(a)
    assert caps.held(a) == 0  # a tenant with none is forgotten
    assert a not in caps._held


@dataclass
class Socket:
    opened: int
    superseded: bool = False
    closes: list[tuple[int, str]] = field(default_factory=list)

    def request_close(self, code: int, message: str) -> None:
        self.closes.append((code, message))

    def __hash__(self) -> int:
        return id(self)


def test_past_a_users_cap_the_oldest_socket_is_superseded() -> None:
    users: UserSockets[Socket] = UserSockets("too many live sockets for this user")
    me, other = (uuid.uuid4(), uuid.uuid4()), (uuid.uuid4(), uuid.uuid4())
    second, first, third = Socket(2), Socket(1), Socket(3)
    users.add(me, second, limit=2)
    users.add(me, first, limit=2)
    users.add(other, Socket(0), limit=2)
    assert not first.closes
    users.add(me, third, limit=2)  # the one that connected first goes, not the last added
    assert first.closes == [(Close.SUPERSEDED, "too many live sockets for this user")]
    assert not second.closes
    assert not third.closes
    users.add(me, Socket(4), limit=2)  # an already superseded socket is not counted again
    assert second.closes
    assert len(first.closes) == 1
    for socket in users.of(me):
        users.discard(me, socket)
    assert users.of(me) == []
