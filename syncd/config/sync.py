"""Settings: the sync service and its sockets.

Push batches, the oldest app schema served, clock skew, and the bounds of
the live sockets (`/sync/ws`, `/sync/yjs`).
Each name is the environment variable; `syncd.settings.Settings` declares
the field it fills, in the order of docs/operations.md.
"""

from __future__ import annotations

from pydantic import Field

from protocol import versions

MAX_BATCH_CHANGES = Field(
    500,
    ge=1,
    le=10_000,
    validation_alias="MAX_BATCH_CHANGES",
    description=("Sync service: changes per push (413 `batch_too_large` beyond)."),
)
SYNC_MIN_SCHEMA = Field(
    versions.OLDEST,
    ge=versions.OLDEST,
    le=versions.CURRENT,
    validation_alias="SYNC_MIN_SCHEMA",
    description=(
        "Sync service: the oldest app schema served (docs/protocol.md, Schema versions); "
        "older apps are refused (426 `client_upgrade_required`, close 4426)."
    ),
)
MAX_CLOCK_SKEW_SECONDS = Field(
    300,
    ge=0,
    le=86_400,
    validation_alias="MAX_CLOCK_SKEW_SECONDS",
    description=(
        "Sync service: HLC stamps further ahead of the server clock are clamped to now + this."
    ),
)
WS_HEARTBEAT_SECONDS = Field(
    20.0,
    ge=1,
    le=300,
    validation_alias="WS_HEARTBEAT_SECONDS",
    description="WebSocket `/sync/ws`: ping interval.",
)
WS_HELLO_TIMEOUT_SECONDS = Field(
    10.0,
    ge=0.5,
    le=120,
    validation_alias="WS_HELLO_TIMEOUT_SECONDS",
    description=("WebSocket: time a new socket has to authenticate (close 4408 after)."),
)
WS_SEND_QUEUE = Field(
    64,
    ge=1,
    le=10_000,
    validation_alias="WS_SEND_QUEUE",
    description="WebSocket: messages queued per socket.",
)
WS_MAX_SOCKETS_PER_USER = Field(
    8,
    ge=1,
    le=100_000,
    validation_alias="WS_MAX_SOCKETS_PER_USER",
    description=(
        "WebSocket `/sync/ws`: live sockets one user may hold in one process; a newer "
        "one closes the oldest (4409)."
    ),
)
YJS_MAX_SOCKETS_PER_USER = Field(
    32,
    ge=1,
    le=100_000,
    validation_alias="YJS_MAX_SOCKETS_PER_USER",
    description=(
        "WebSocket `/sync/yjs`: editing sockets one user may hold in one process (one "
        "per open document); a newer one closes the oldest (4409)."
    ),
)
WS_SLOW_CLIENT_SECONDS = Field(
    30.0,
    ge=0.1,
    le=600,
    validation_alias="WS_SLOW_CLIENT_SECONDS",
    description=("WebSocket: a socket whose queue stays full this long is closed (4429)."),
)
MAX_WS_FRAME_BYTES = Field(
    1_048_576,
    ge=1024,
    validation_alias="MAX_WS_FRAME_BYTES",
    description="WebSocket: largest frame (close 1009 beyond).",
)
