"""Settings: fair limits: what one tenant, and one process, may take at once.

A tenant's request budget (a token bucket), and the pushes and live sockets
that run at once per tenant and per process.
Each name is the environment variable; `syncd.settings.Settings` declares
the field it fills, in the order of docs/operations.md.
"""

from __future__ import annotations

from pydantic import Field

TENANT_REQUESTS_PER_SECOND = Field(
    100.0,
    ge=0,
    le=1_000_000,
    validation_alias="TENANT_REQUESTS_PER_SECOND",
    description=(
        "Fair limits: one tenant's signed-in requests (REST, push, pull) refill its "
        "budget at this rate, a token bucket shared by every process through Redis "
        "when REDIS_URL is set, per process otherwise; past it: 429 "
        "`tenant_rate_limited` with Retry-After. 0 turns the budget off."
    ),
)
TENANT_BURST = Field(
    500,
    ge=1,
    le=1_000_000,
    validation_alias="TENANT_BURST",
    description="Fair limits: the tenant's bucket size, the requests it may make at once.",
)
TENANT_MAX_CONCURRENT_PUSHES = Field(
    16,
    ge=1,
    le=100_000,
    validation_alias="TENANT_MAX_CONCURRENT_PUSHES",
    description=(
        "Fair limits: pushes (`/sync/push`, `/sync/tasks`, `/sync/ws` push frames) of "
        "one tenant running at once in one process; one more answers 429 "
        "`too_many_pushes` (Retry-After: 1)."
    ),
)
TENANT_MAX_LIVE_SOCKETS = Field(
    1_000,
    ge=1,
    le=1_000_000,
    validation_alias="TENANT_MAX_LIVE_SOCKETS",
    description=(
        "Fair limits: live sockets (`/sync/ws` and `/sync/yjs` together) of one tenant "
        "in one process; one more is closed once authenticated with 4429 (reconnect "
        "later, or pull over HTTP)."
    ),
)
PROCESS_MAX_CONCURRENT_PUSHES = Field(
    64,
    ge=1,
    le=1_000_000,
    validation_alias="PROCESS_MAX_CONCURRENT_PUSHES",
    description=(
        "Fair limits: pushes (HTTP and `/sync/ws` push frames) of every tenant running "
        "at once in one process; one more answers 429 `server_busy` (Retry-After: 1). "
        "Keep it above TENANT_MAX_CONCURRENT_PUSHES, so one tenant never fills it."
    ),
)
PROCESS_MAX_LIVE_SOCKETS = Field(
    10_000,
    ge=1,
    le=10_000_000,
    validation_alias="PROCESS_MAX_LIVE_SOCKETS",
    description=(
        "Fair limits: sockets (`/sync/ws` and `/sync/yjs`) of every tenant in one "
        "process; one more is closed once authenticated with 4429 (reconnect later, "
        "with backoff). Keep it above TENANT_MAX_LIVE_SOCKETS."
    ),
)
