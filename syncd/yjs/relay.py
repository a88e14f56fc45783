"""The Yjs rooms between processes: updates and awareness over Redis pub/sub.

With REDIS_URL set, rooms talk on the topic `yjs` of the process's one
listener (syncd.pubsub): channel `<prefix>yjs:<tenant>:<name>`, payload
`<origin>:<kind><bytes>` (kind `u` an update, `a` an awareness update), tagged
with this process's origin so it is never echoed back. A relayed update is
applied without being stored again (the process that received it stored it).
Without Redis, publishing does nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import structlog

from syncd.pubsub import PubSub

log = structlog.get_logger("syncd.yjs")

TOPIC = "yjs"
UPDATE, AWARENESS = b"u", b"a"

# What a message from another process is handed to: (tenant, name, kind, payload).
Deliver = Callable[[uuid.UUID, str, bytes, bytes], None]


class Relay:
    def __init__(self, pubsub: PubSub | None) -> None:
        self.pubsub = pubsub
        self.origin = uuid.uuid4().hex[:12].encode()
        self._unroute: Callable[[], None] | None = None

    async def publish(self, tenant_id: uuid.UUID, name: str, body: bytes) -> None:
        if self.pubsub is None:
            return
        try:
            await self.pubsub.publish(TOPIC, f"{tenant_id}:{name}", self.origin + b":" + body)
        except Exception:  # other processes' editors resync on reconnect
            log.warning("yjs publish failed", document=name)

    async def start(self, deliver: Deliver) -> None:
        """Hand what the other processes publish to `deliver`, until `stop`."""
        if self.pubsub is None:
            return

        def receive(rest: str, raw: bytes) -> None:
            _receive(self.origin, deliver, rest, raw)

        self._unroute = await self.pubsub.route(TOPIC, receive)

    def stop(self) -> None:
        if self._unroute is not None:
            self._unroute()
            self._unroute = None


def _receive(origin: bytes, deliver: Deliver, rest: str, raw: bytes) -> None:
    sender, _, body = raw.partition(b":")
    if sender == origin or not body:
        return
    tenant, _, name = rest.partition(":")
    try:
        deliver(uuid.UUID(tenant), name, body[:1], body[1:])
    except ValueError:
        log.warning("yjs relay ignored a malformed message", document=name)
