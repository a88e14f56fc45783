"""Run the ```http examples of docs/api.md and compare the answers (#19).

A section's examples come in pairs: a request block (`METHOD path`, headers, a
blank line, a body) and the answer block (`HTTP/1.1 <status> …`, the headers
that matter, a blank line, the JSON body). `<name>` stands for a value the
reader does not know in advance. In a request it is filled in from what an
earlier answer said (or from `Exchange.resolvers`, say a token read from the
mail outbox); in an answer, the first `<name>` takes the value found there
and every later `<name>` must be that value again. `<a …>` / `<an …>` match
any value each time (a timestamp). The tenant of the examples is `acme`; the
test's tenant has another slug, written in its place.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
HTTP_BLOCK = re.compile(r"```http\n(.*?)```", re.S)
PLACEHOLDER = re.compile(r"<([a-z][^<>]*)>")
DOC_TENANT = "acme"

Resolver = Callable[[], Awaitable[str | bytes]]


def section_exchanges(section: str) -> list[tuple[str, str]]:
    """The (request, answer) pairs of one `## ` section of docs/api.md."""
    text = DOC.read_text()
    start = text.index(f"\n## {section}\n")
    end = text.find("\n## ", start + 1)
    blocks = HTTP_BLOCK.findall(text[start : end if end != -1 else None])
    assert len(blocks) % 2 == 0, f"{section}: a request without its answer"
    pairs = list(zip(blocks[::2], blocks[1::2], strict=True))
    for request, answer in pairs:
        assert not request.startswith("HTTP/"), request
        assert answer.startswith("HTTP/1.1 "), answer
    return pairs


def _split(block: str) -> tuple[str, list[tuple[str, str]], str]:
    head, _, body = block.partition("\n\n")
    first, *lines = head.strip("\n").split("\n")
    headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines]
    return first, headers, body.strip()  # type: ignore[return-value]


def _quote_bare(text: str) -> str:
    """JSON with each `<name>` that stands for a whole value (`"size": <size>`) quoted."""
    out, in_string, escaped = [], False, False
    index = 0
    while index < len(text):
        char = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "<":
            end = text.index(">", index)
            out.append(f'"{text[index : end + 1]}"')
            index = end + 1
            continue
        out.append(char)
        index += 1
    return "".join(out)


def _wild(name: str) -> bool:
    return name.startswith(("a ", "an "))


@dataclass
class Exchange:
    """Runs a section's pairs against a test client, binding `<name>`s as it goes."""

    client: Any
    tenant_slug: str
    values: dict[str, Any] = field(default_factory=dict)
    resolvers: dict[str, Resolver] = field(default_factory=dict)
    before_each: Callable[[], Awaitable[None]] | None = None

    async def _fill(self, text: str) -> str:
        for name in PLACEHOLDER.findall(text):
            if name not in self.values and name in self.resolvers:
                self.values[name] = await self.resolvers[name]()
            assert name in self.values, f"nothing says what <{name}> is"
            value = self.values[name]
            if not isinstance(value, bytes):
                text = text.replace(f"<{name}>", str(value))
        return text

    async def run(self, section: str) -> None:
        for request, answer in section_exchanges(section):
            if self.before_each is not None:
                await self.before_each()
            await self.one(request, answer)

    async def one(self, request: str, answer: str) -> None:
        first, headers, body = _split(request)
        method, target = first.split(" ", 1)
        target = await self._fill(target)
        parts = urlsplit(target)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        sent_headers = {}
        for name, value in headers:
            value = await self._fill(value)
            sent_headers[name] = self.tenant_slug if value == DOC_TENANT else value
        data: bytes | None = None
        if body:
            whole = PLACEHOLDER.fullmatch(body)
            if whole and isinstance(await self._resolved(whole[1]), bytes):
                data = self.values[whole[1]]
            else:
                data = (await self._fill(body)).encode()
        response = await self.client.request(
            method, path, data=data, headers=sent_headers, allow_redirects=False
        )
        got_body = await response.read()
        status_line, want_headers, want_body = _split(answer)
        where = f"{method} {target}"
        assert response.status == int(status_line.split()[1]), (where, got_body[:500])
        for name, value in want_headers:
            got = response.headers.get(name)
            assert got is not None, (where, name)
            if name.lower() == "content-type":
                assert got.split(";")[0] == value, (where, got)
            else:
                self._match(value, got, f"{where} header {name}")
        if not want_body:
            assert got_body == b"", (where, got_body[:200])
            return
        whole = PLACEHOLDER.fullmatch(want_body)
        if whole and isinstance(self.values.get(whole[1]), bytes):
            assert got_body == self.values[whole[1]], where
            return
        self._match(json.loads(_quote_bare(want_body)), json.loads(got_body), where)

    async def _resolved(self, name: str) -> Any:
        if name not in self.values and name in self.resolvers:
            self.values[name] = await self.resolvers[name]()
        return self.values.get(name)

    def _match(self, want: Any, got: Any, where: str) -> None:
        if isinstance(want, dict):
            assert isinstance(got, dict), (where, got)
            assert set(want) == set(got), (where, sorted(set(want) ^ set(got)))
            for key, value in want.items():
                self._match(value, got[key], f"{where}.{key}")
        elif isinstance(want, list):
            assert isinstance(got, list), (where, got)
            assert len(got) == len(want), (where, got)
            for index, (one, other) in enumerate(zip(want, got, strict=True)):
                self._match(one, other, f"{where}[{index}]")
        elif isinstance(want, str) and PLACEHOLDER.search(want):
            self._match_text(want, got, where)
        elif want == DOC_TENANT:
            assert got == self.tenant_slug, (where, got)
        else:
            assert want == got, (where, want, got)

    def _match_text(self, want: str, got: Any, where: str) -> None:
        names: list[str] = []
        pattern = ""
        for piece in re.split(r"(<[a-z][^<>]*>)", want):
            found = PLACEHOLDER.fullmatch(piece)
            if found:
                names.append(found[1])
                pattern += f"(?P<g{len(names)}>.+?)"
            else:
                pattern += re.escape(piece)
        if pattern == "(?P<g1>.+?)":  # the whole value: any JSON type
            self._bind(names[0], got, where)
            return
        matched = re.fullmatch(pattern, str(got))
        assert matched, (where, want, got)
        for index, name in enumerate(names, 1):
            self._bind(name, matched[f"g{index}"], where)

    def _bind(self, name: str, got: Any, where: str) -> None:
        assert got is not None, (where, name)
        if _wild(name):
            return
        if name in self.values:
            known = self.values[name]  # "5793" in a header is the 5793 of a body
            assert known == got or str(known) == str(got), (where, name, known, got)
        else:
            self.values[name] = got
