"""The close codes of syncd's WebSockets (/sync/ws and /sync/yjs), in one place.

They mirror HTTP where they can, as Hocuspocus's CloseEvents do: 1xxx are
the WebSocket standard's, 44xx the request's fault, 4429 too slow or too
many. What a client does on each is in docs/protocol.md (its two close-code
tables are this enum's contract). `Refused` carries a code and its reason
from wherever a socket is turned away to the one place that closes it
(owned.py).

This module imports nothing of syncd: the Yjs rooms and every socket use it.
"""

from __future__ import annotations

from enum import IntEnum


class Close(IntEnum):
    # Sent by the WebSocket layer (aiohttp) itself, listed so the enum is the whole table:
    WS_PROTOCOL_ERROR = 1002  # bad framing, an unmasked client frame
    INVALID_DATA = 1007  # a text frame that is not UTF-8
    MESSAGE_TOO_BIG = 1009  # a frame past MAX_WS_FRAME_BYTES
    # Sent by syncd:
    SERVER_ERROR = 1011  # the server failed; reconnect with back-off
    RESTART = 1012  # the server is restarting; reconnect
    PROTOCOL = 4400  # a frame or cursor the server cannot use; fix the client
    TOKEN = 4401  # no token, a bad one, or it expired; refresh and reconnect
    FORBIDDEN = 4403  # deactivated, another tenant, not yours; stop
    NOT_FOUND = 4404  # no such document
    HELLO_TIMEOUT = 4408  # no hello in time
    SUPERSEDED = 4409  # a newer socket of the same user; do not reconnect this one
    TOO_LARGE = 4413  # a document or awareness past its bounds
    UPGRADE_REQUIRED = 4426  # the app's schema is below the server's minimum; update the app
    TOO_SLOW = 4429  # the send queue stayed full, or the socket caps are held; reconnect later


REASON_MAX = 120  # a close reason is at most 123 bytes on the wire: keep reasons short


class Refused(Exception):
    """The socket must close with `code` (and `reason`) without serving."""

    def __init__(self, code: Close, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason[:REASON_MAX]
