"""A bounded reader of Yjs updates and state vectors (encoding v1), run before pycrdt.

pycrdt (Yrs) trusts the counts inside an update: a 10-byte update claiming
2**28 clients reserves gigabytes, and an embedded value nested 50,000 deep
crashes the process. This reader walks the whole structure first, as
lib0/yjs would read it, and refuses (`UpdateError`, a ValueError) anything
that is not a complete, well-formed update within `YLimits`:

    update        = structs delete-set
    structs       = varuint n, n x (varuint count, varuint client, varuint clock,
                                    count x struct)
    struct        = u8 info; info & 31: 0 GC (varuint len), 10 skip (varuint len),
                    else an item: [origin id if info & 128] [right origin id if
                    info & 64] [parent: if neither, varuint 1 + string (a root
                    type's name) or an id] [parent key string if info & 32
                    and neither origin], then its content by info & 31:
                    1 deleted (len), 2 JSON (len, len x string), 3 binary
                    (bytes), 4 string, 5 embed (JSON string), 6 format (key
                    string, JSON string), 7 type (varuint ref; 3 and 5 add a
                    key string), 8 any (len, len x any), 9 doc (string, any)
    any           = u8 tag: 127 undefined, 126 null, 125 varint, 124 float32,
                    123 float64, 122 bigint64, 121 false, 120 true,
                    119 string, 118 object (varuint n, n x (string, any)),
                    117 array (varuint n, n x any), 116 bytes
    delete-set    = varuint n, n x (varuint client, varuint m, m x (varuint
                    clock, varuint len))
    state vector  = varuint n, n x (varuint client, varuint clock)

Every count must fit in the bytes that remain (each element takes at least
one), so no loop runs longer than the update is long; embedded values (any,
and the JSON of JSON, embed and format content) nest at most `max_depth`
deep, below what JavaScript Yjs itself can load (about 5,000 levels).
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from protocol.yprotocol import FrameError, decode_var_bytes, decode_varuint

_BITS5 = 31
_BIT6, _BIT7, _BIT8 = 32, 64, 128
_ANY_BYTES = 116
_ANY_FIXED = {127: 0, 126: 0, 124: 4, 123: 8, 122: 8, 121: 0, 120: 0}
_TYPE_REFS_WITH_KEY = {3, 5}  # YXmlElement, YXmlHook
_TYPE_REFS = 7


class UpdateError(FrameError):
    """Bytes that are not a Yjs update (or state vector) within the limits."""


@dataclass(frozen=True, slots=True)
class YLimits:
    max_bytes: int = 1024 * 1024
    max_depth: int = 64


DEFAULT = YLimits()


def check_update(data: bytes, limits: YLimits = DEFAULT) -> dict[int, int]:
    """Raise UpdateError unless `data` is one whole Yjs v1 update within `limits`;
    answers its `struct_ends` (read on the way, so a caller need not read it twice)."""
    if len(data) > limits.max_bytes:
        raise UpdateError(f"an update of {len(data)} bytes; at most {limits.max_bytes}")
    reader = _Reader(data, limits)
    try:
        ends = reader.structs()
        reader.delete_set()
        reader.end()
    except UpdateError as exc:
        raise UpdateError(f"not a Yjs update: {exc}") from None
    return ends


def struct_ends(data: bytes, limits: YLimits = DEFAULT) -> dict[int, int]:
    """Per client, the clock just after the last struct `data` carries (skips
    excluded): what a document's state vector reaches once it holds the update
    wholly. UpdateError as check_update."""
    reader = _Reader(data, limits)
    try:
        return reader.structs()
    except UpdateError as exc:
        raise UpdateError(f"not a Yjs update: {exc}") from None


def check_state_vector(data: bytes, limits: YLimits = DEFAULT) -> None:
    """Raise UpdateError unless `data` is one whole state vector."""
    if len(data) > limits.max_bytes:
        raise UpdateError(f"state vector of {len(data)} bytes; at most {limits.max_bytes}")
    reader = _Reader(data, limits)
    try:
        for _ in range(reader.count(per_item=2)):
            reader.uint()
            reader.uint()
        reader.end()
    except UpdateError as exc:
        raise UpdateError(f"not a state vector: {exc}") from None


class _Reader:
    def __init__(self, data: bytes, limits: YLimits) -> None:
        self.data = data
        self.at = 0
        self.limits = limits

    # --- primitives ----------------------------------------------------------------

    def uint(self) -> int:
        try:
            value, self.at = decode_varuint(self.data, self.at)
        except FrameError as exc:
            raise UpdateError(str(exc)) from None
        return value

    def count(self, per_item: int = 1) -> int:
        """A count of elements that each take at least `per_item` bytes."""
        value = self.uint()
        if value * per_item > len(self.data) - self.at:
            raise UpdateError(f"a count of {value} does not fit in what remains")
        return value

    def byte(self) -> int:
        if self.at >= len(self.data):
            raise UpdateError("truncated update")
        value = self.data[self.at]
        self.at += 1
        return value

    def skip(self, size: int) -> None:
        if self.at + size > len(self.data):
            raise UpdateError("truncated update")
        self.at += size

    def bytes_(self) -> bytes:
        try:
            value, self.at = decode_var_bytes(self.data, self.at)
        except FrameError as exc:
            raise UpdateError(str(exc)) from None
        return value

    def string(self) -> str:
        try:
            return self.bytes_().decode()
        except UnicodeDecodeError:
            raise UpdateError("a string that is not UTF-8") from None

    def varint(self) -> None:
        first = self.byte()
        if first & _BIT8:
            self.uint()

    def end(self) -> None:
        if self.at != len(self.data):
            raise UpdateError(f"{len(self.data) - self.at} bytes after the update")

    # --- the update -------------------------------------------------------------------

    def structs(self) -> dict[int, int]:
        """Walk the structs; answers, per client, the clock just after its last
        struct that is not a skip (a gap the update leaves to others)."""
        ends: dict[int, int] = {}
        for _ in range(self.count(per_item=3)):
            structs = self.count()
            client = self.uint()
            clock = self.uint()
            for _ in range(structs):
                length, skip = self.struct()
                clock += length
                if not skip:
                    ends[client] = max(ends.get(client, 0), clock)
        return ends

    def struct(self) -> tuple[int, bool]:
        """One struct: its length in clock ticks, and whether it is a skip."""
        info = self.byte()
        ref = info & _BITS5
        if ref in (0, 10):  # GC, skip
            return self.uint(), ref == 10
        if info & _BIT8:
            self.uint(), self.uint()
        if info & _BIT7:
            self.uint(), self.uint()
        if not info & (_BIT7 | _BIT8):
            if self.uint() == 1:
                self.string()  # a root type's name
            else:
                self.uint(), self.uint()  # the parent's id
            if info & _BIT6:
                self.string()  # the key in a map
        return self.content(ref), False

    def content(self, ref: int) -> int:
        """Walk an item's content; answers its length in clock ticks (a string
        counts UTF-16 code units, as Yjs does)."""
        if ref == 1:  # deleted
            return self.uint()
        if ref == 2:  # JSON
            count = self.count()
            for _ in range(count):
                text = self.string()
                if text != "undefined":
                    self.json(text)
            return count
        if ref == 8:  # any
            count = self.count()
            for _ in range(count):
                self.any()
            return count
        if ref == 4:  # string
            return len(self.string().encode("utf-16-le")) // 2
        if ref == 3:  # binary
            self.bytes_()
        elif ref == 5:  # embed
            self.json(self.string())
        elif ref == 6:  # format
            self.string()
            self.json(self.string())
        elif ref == 7:  # a shared type
            type_ref = self.uint()
            if type_ref >= _TYPE_REFS:
                raise UpdateError(f"unknown type ref {type_ref}")
            if type_ref in _TYPE_REFS_WITH_KEY:
                self.string()
        elif ref == 9:  # a subdocument
            self.string()
            self.any()
        else:
            raise UpdateError(f"unknown content ref {ref}")
        return 1

    def any(self) -> None:
        """One embedded value, walked without recursion: a stack of open arrays
        and objects, each with the entries it still holds (an object's entry is a
        key, then a value)."""
        open_ = [[1, False]]  # [entries left, whether an object]
        while open_:
            level = open_[-1]
            if level[0] == 0:
                open_.pop()
                continue
            level[0] -= 1
            if level[1]:
                self.string()  # the entry's key
            tag = self.byte()
            if tag in _ANY_FIXED:
                self.skip(_ANY_FIXED[tag])
            elif tag == 125:
                self.varint()
            elif tag == 119:
                self.string()
            elif tag == _ANY_BYTES:
                self.bytes_()
            elif tag in (118, 117):
                if len(open_) >= self.limits.max_depth:
                    raise UpdateError(f"a value nested deeper than {self.limits.max_depth}")
                is_object = tag == 118
                open_.append([self.count(per_item=2 if is_object else 1), is_object])
            else:
                raise UpdateError(f"unknown value tag {tag}")

    def json(self, text: str) -> None:
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise UpdateError(f"JSON content that does not parse: {exc}") from None
        stack = [(value, 1)]
        while stack:
            item, depth = stack.pop()
            if isinstance(item, dict | list):
                if depth > self.limits.max_depth:
                    raise UpdateError(f"JSON content nested deeper than {self.limits.max_depth}")
                children = item.values() if isinstance(item, dict) else item
                stack.extend((child, depth + 1) for child in children)

    def delete_set(self) -> None:
        for _ in range(self.count(per_item=2)):
            self.uint()  # client
            for _ in range(self.count(per_item=2)):
                self.uint()  # clock
                self.uint()  # length
