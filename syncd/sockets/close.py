"""The close codes of syncd's WebSockets (/sync/ws and /sync/yjs), in one place.

They mirror HTTP where they can, as Hocuspocus's CloseEvents do: 1xxx are
the WebSocket standard's, 44xx the request's fault, 4429 too slow. What a
client does on each is in docs/protocol.md.
"""

from __future__ import annotations

from enum import IntEnum


class Close(IntEnum):
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
    TOO_SLOW = 4429  # the send queue stayed full; reconnect and catch up


CLOSE_SERVER_ERROR = Close.SERVER_ERROR
CLOSE_RESTART = Close.RESTART
CLOSE_PROTOCOL = Close.PROTOCOL
CLOSE_TOKEN = Close.TOKEN
CLOSE_FORBIDDEN = Close.FORBIDDEN
CLOSE_NOT_FOUND = Close.NOT_FOUND
CLOSE_HELLO_TIMEOUT = Close.HELLO_TIMEOUT
CLOSE_SUPERSEDED = Close.SUPERSEDED
CLOSE_TOO_LARGE = Close.TOO_LARGE
CLOSE_TOO_SLOW = Close.TOO_SLOW
CLOSE_UPGRADE_REQUIRED = Close.UPGRADE_REQUIRED
