"""y-protocols framing (the y-websocket wire format): bytes in, bytes out.

A frame is one message: a varuint message type, then its body.

    sync (0)             varuint sync type, var-bytes payload
        step 1 (0)       payload = the sender's state vector
        step 2 (1)       payload = the update the receiver is missing
        update (2)       payload = one Yjs update
    awareness (1)        var-bytes payload = an awareness update
    auth (2)             varuint 0 (permission denied), var-string reason
    query awareness (3)  no body

A varuint is little-endian base 128 (7 bits a byte, high bit = more); var-bytes
is a varuint length then that many bytes. Decoders never read past the buffer:
a truncated frame, a length longer than what is left, a varuint wider than
JavaScript's safe integers and trailing bytes after a message all raise
`FrameError` (a ValueError). Awareness payloads are also decoded here, so a
server can forget the states of a client that went away.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum

MAX_SAFE_INTEGER = 2**53 - 1  # JavaScript's Number.MAX_SAFE_INTEGER
_MAX_VARUINT_BYTES = 8  # 8 x 7 bits covers 53 bits


class FrameError(ValueError):
    """The bytes are not a well-formed y-protocols message."""


class MessageType(IntEnum):
    SYNC = 0
    AWARENESS = 1
    AUTH = 2
    QUERY_AWARENESS = 3


class SyncType(IntEnum):
    STEP1 = 0
    STEP2 = 1
    UPDATE = 2


AUTH_PERMISSION_DENIED = 0


@dataclass(frozen=True)
class SyncMessage:
    kind: SyncType
    payload: bytes


@dataclass(frozen=True)
class AwarenessMessage:
    payload: bytes


@dataclass(frozen=True)
class AuthMessage:
    reason: str


@dataclass(frozen=True)
class QueryAwarenessMessage:
    pass


Message = SyncMessage | AwarenessMessage | AuthMessage | QueryAwarenessMessage


@dataclass(frozen=True)
class AwarenessEntry:
    """One client's awareness state; `state` is JSON text, `"null"` when it left."""

    client_id: int
    clock: int
    state: str

    @property
    def removed(self) -> bool:
        return self.state == "null"


# --- primitives -----------------------------------------------------------------------


def encode_varuint(value: int) -> bytes:
    if not 0 <= value <= MAX_SAFE_INTEGER:
        raise ValueError(f"varuint out of range: {value}")
    out = bytearray()
    while value > 0x7F:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varuint(buffer: bytes, offset: int = 0) -> tuple[int, int]:
    """The varuint at `offset` and the offset after it."""
    value = 0
    for index in range(_MAX_VARUINT_BYTES):
        position = offset + index
        if position >= len(buffer):
            raise FrameError("truncated varuint")
        byte = buffer[position]
        value |= (byte & 0x7F) << (7 * index)
        if byte < 0x80:
            if value > MAX_SAFE_INTEGER:
                raise FrameError("varuint larger than 2**53 - 1")
            return value, position + 1
    raise FrameError("varuint longer than 8 bytes")


def encode_var_bytes(data: bytes) -> bytes:
    return encode_varuint(len(data)) + data


def decode_var_bytes(buffer: bytes, offset: int = 0) -> tuple[bytes, int]:
    length, start = decode_varuint(buffer, offset)
    end = start + length
    if end > len(buffer):
        raise FrameError(f"length {length} runs past the end of the frame")
    return bytes(buffer[start:end]), end


def encode_var_string(text: str) -> bytes:
    return encode_var_bytes(text.encode())


def decode_var_string(buffer: bytes, offset: int = 0) -> tuple[str, int]:
    data, end = decode_var_bytes(buffer, offset)
    try:
        return data.decode(), end
    except UnicodeDecodeError as exc:
        raise FrameError("string is not UTF-8") from exc


# --- messages -------------------------------------------------------------------------


def encode(message: Message) -> bytes:
    match message:
        case SyncMessage(kind, payload):
            return bytes([MessageType.SYNC, kind]) + encode_var_bytes(payload)
        case AwarenessMessage(payload):
            return bytes([MessageType.AWARENESS]) + encode_var_bytes(payload)
        case AuthMessage(reason):
            return bytes([MessageType.AUTH, AUTH_PERMISSION_DENIED]) + encode_var_string(reason)
        case QueryAwarenessMessage():
            return bytes([MessageType.QUERY_AWARENESS])
    raise TypeError(f"not a message: {message!r}")  # pragma: no cover


def decode(frame: bytes) -> Message:
    """Exactly one message, or FrameError."""
    raw_type, offset = decode_varuint(frame)
    message: Message
    if raw_type == MessageType.SYNC:
        raw_kind, offset = decode_varuint(frame, offset)
        if raw_kind not in SyncType._value2member_map_:
            raise FrameError(f"unknown sync message type {raw_kind}")
        payload, offset = decode_var_bytes(frame, offset)
        message = SyncMessage(SyncType(raw_kind), payload)
    elif raw_type == MessageType.AWARENESS:
        payload, offset = decode_var_bytes(frame, offset)
        message = AwarenessMessage(payload)
    elif raw_type == MessageType.AUTH:
        reason_kind, offset = decode_varuint(frame, offset)
        if reason_kind != AUTH_PERMISSION_DENIED:
            raise FrameError(f"unknown auth message type {reason_kind}")
        reason, offset = decode_var_string(frame, offset)
        message = AuthMessage(reason)
    elif raw_type == MessageType.QUERY_AWARENESS:
        message = QueryAwarenessMessage()
    else:
        raise FrameError(f"unknown message type {raw_type}")
    if offset != len(frame):
        raise FrameError(f"{len(frame) - offset} trailing bytes after the message")
    return message


def sync_step1(state_vector: bytes) -> bytes:
    return encode(SyncMessage(SyncType.STEP1, state_vector))


def sync_step2(update: bytes) -> bytes:
    return encode(SyncMessage(SyncType.STEP2, update))


def sync_update(update: bytes) -> bytes:
    return encode(SyncMessage(SyncType.UPDATE, update))


def awareness(payload: bytes) -> bytes:
    return encode(AwarenessMessage(payload))


# --- awareness payloads ---------------------------------------------------------------


def encode_awareness(entries: list[AwarenessEntry]) -> bytes:
    out = bytearray(encode_varuint(len(entries)))
    for entry in entries:
        out += encode_varuint(entry.client_id)
        out += encode_varuint(entry.clock)
        out += encode_var_string(entry.state)
    return bytes(out)


def decode_awareness(payload: bytes) -> list[AwarenessEntry]:
    count, offset = decode_varuint(payload)
    if count * 3 > len(payload) - offset:  # an entry takes at least three bytes
        raise FrameError(f"{count} awareness entries do not fit in the payload")
    entries = []
    for _ in range(count):
        client_id, offset = decode_varuint(payload, offset)
        clock, offset = decode_varuint(payload, offset)
        state, offset = decode_var_string(payload, offset)
        try:
            json.loads(state)
        except ValueError as exc:
            raise FrameError("awareness state is not JSON") from exc
        entries.append(AwarenessEntry(client_id, clock, state))
    if offset != len(payload):
        raise FrameError(f"{len(payload) - offset} trailing bytes after the awareness update")
    return entries
