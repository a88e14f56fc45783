"""Collaborative notes with the unmodified JavaScript clients (yjs + y-websocket).

A real `syncd serve` on PostgreSQL; node drives `WebsocketProvider`s against
`/sync/yjs/task:<uuid>:notes`. Two editors converge and a late joiner gets the
whole text; a SIGKILL after convergence loses nothing; an offline `ydoc` push
reaches a live editor; two processes over one PostgreSQL and Redis act as one.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Text

from storage.ydoc_replica import Replica
from storage.ydoc_store import new_doc
from tests.support.npm_install import npm_ci_once
from tests.support.processes import PASSWORD, free_port, start
from tests.support.services import service_missing
from tests.support.ts_sdk import Served

pytestmark = pytest.mark.e2e
JS_DIR = Path(__file__).parent / "js"
CLIENT = JS_DIR / "client.js"


@pytest.fixture(scope="session")
def node() -> str:
    """The node binary, with the pinned npm packages installed (`npm ci`) once."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        service_missing("node and npm", "not on PATH")
    assert node is not None
    assert npm is not None
    npm_ci_once(npm, JS_DIR, (JS_DIR / "node_modules" / "y-websocket").is_dir)
    return node


def run_node(node: str, config: dict[str, Any], stdin: str | None = None) -> dict[str, Any]:
    """Run client.js to completion; answers its `done` line."""
    result = subprocess.run(
        [node, str(CLIENT), json.dumps(config)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    done: list[dict[str, Any]] = [line for line in lines if line["event"] == "done"]
    assert result.returncode == 0, (lines, result.stderr[-2000:])
    assert done, lines
    return done[-1]


@dataclass
class Server(Served):
    """A served syncd (tests/support/ts_sdk.py) and the admin's token."""

    token: str = ""

    @property
    def http(self) -> str:
        return self.url

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/sync/yjs"


async def sign_in(http: aiohttp.ClientSession, base: str) -> str:
    login = await http.post(
        f"{base}/auth/login",
        json={"email": "admin@demo.example", "password": PASSWORD},
        headers={"X-Tenant": "demo"},
    )
    assert login.status == 200, await login.text()
    token: str = (await login.json())["access_token"]
    return token


async def push(
    http: aiohttp.ClientSession, base: str, token: str, change: dict[str, Any]
) -> dict[str, Any]:
    body = {"client_id": "dash", "batch_id": uuid.uuid4().hex, "changes": [change]}
    response = await http.post(
        f"{base}/sync/push", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    answer: dict[str, Any] = await response.json()
    assert response.status == 200, answer
    return answer


async def new_task(http: aiohttp.ClientSession, base: str, token: str) -> str:
    task_id = str(uuid.uuid4())
    change = {
        "entity": "task",
        "id": task_id,
        "op": "upsert",
        "fields": {"title": "notes test"},
        "hlc": f"{1764000000000:013d}:0000:dash",
        "base_version": 0,
    }
    assert (await push(http, base, token, change))["results"][0]["status"] == "applied"
    return task_id


@pytest.fixture
def server(server_env: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    running = Server(server_env, tmp_path, port, start(server_env, port, tmp_path))
    try:
        yield running
    finally:
        running.stop()


def edit_config(url: str, doc: str, tokens: list[str], words: int = 12) -> dict[str, Any]:
    return {
        "mode": "edit",
        "url": url,
        "doc": doc,
        "clients": [
            {"token": token, "inserts": [f"<{n}.{i}>" for i in range(words)]}
            for n, token in enumerate(tokens)
        ],
    }


async def test_two_js_editors_converge_and_a_late_joiner_gets_the_text(
    node: str, server: Server
) -> None:
    async with aiohttp.ClientSession() as http:
        token = await sign_in(http, server.http)
        doc = f"task:{await new_task(http, server.http, token)}:notes"
    edited = run_node(node, edit_config(server.ws, doc, [token, token]))
    assert edited["texts"][0] == edited["texts"][1]
    assert all(f"<{n}.{i}>" in edited["text"] for n in (0, 1) for i in range(12))
    late = run_node(
        node, {"mode": "read", "url": server.ws, "doc": doc, "token": token, "subprotocol": True}
    )
    assert late["text"] == edited["text"]


async def test_kill_9_after_convergence_loses_no_update(node: str, server: Server) -> None:
    async with aiohttp.ClientSession() as http:
        token = await sign_in(http, server.http)
        doc = f"task:{await new_task(http, server.http, token)}:notes"
    edited = run_node(node, edit_config(server.ws, doc, [token, token], words=20))
    server.kill()
    server.restart()
    after = run_node(node, {"mode": "read", "url": server.ws, "doc": doc, "token": token})
    assert after["text"] == edited["text"]


async def test_an_offline_ydoc_push_reaches_a_live_js_editor(node: str, server: Server) -> None:
    async with aiohttp.ClientSession() as http:
        token = await sign_in(http, server.http)
        task_id = await new_task(http, server.http, token)
        doc = f"task:{task_id}:notes"
        reader = subprocess.Popen(  # noqa: ASYNC220  (read line by line below)
            [
                node,
                str(CLIENT),
                json.dumps(
                    {
                        "mode": "read",
                        "url": server.ws,
                        "doc": doc,
                        "token": token,
                        "expect": ["written offline"],
                    }
                ),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert reader.stdout is not None
            first = json.loads(reader.stdout.readline())
            assert first["event"] == "synced", first
            offline = new_doc()
            offline.get("notes", type=Text).insert(0, "written offline")
            change = {
                "entity": "task",
                "id": task_id,
                "op": "ydoc",
                "fields": {"field": "notes"},
                "update": base64.b64encode(offline.get_update()).decode(),
                "hlc": f"{1764000000001:013d}:0000:phone",
                "base_version": 0,
            }
            answer = await push(http, server.http, token, change)
            assert answer["results"][0]["status"] == "applied", answer
            out, err = reader.communicate(timeout=30)
        finally:
            if reader.poll() is None:
                reader.kill()
                reader.communicate()
    done = json.loads(out.splitlines()[-1])
    assert done == {"event": "done", "text": "written offline"}, (out, err)


async def test_js_editors_on_two_processes_converge_through_redis(
    node: str, server_env: dict[str, str], redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    env = {**server_env, "REDIS_URL": redis_url, "REDIS_PREFIX": redis_prefix}
    servers = []
    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        port = free_port()
        servers.append(Server(env, tmp_path / label, port, start(env, port, tmp_path / label)))
    a, b = servers
    try:
        async with aiohttp.ClientSession() as http:
            token = await sign_in(http, a.http)
            doc = f"task:{await new_task(http, a.http, token)}:notes"
        config = edit_config(a.ws, doc, [token, token])
        config["clients"][1]["url"] = b.ws
        edited = run_node(node, config)
        assert edited["texts"][0] == edited["texts"][1]
        assert all(f"<{n}.{i}>" in edited["text"] for n in (0, 1) for i in range(12))
    finally:
        for running in servers:
            running.stop()


# --- differential: the server's merge and JavaScript Yjs read the same updates the same way

EXAMPLES = int(os.environ.get("SYNCD_PROPERTY_EXAMPLES", "15"))

edits = st.lists(
    st.tuples(
        st.integers(0, 2),  # which replica edits
        st.sampled_from(["insert", "delete", "sync"]),
        st.integers(0, 40),  # position
        st.text(alphabet="abcXYZ é€😀\n", min_size=1, max_size=6),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=EXAMPLES, deadline=None)
@given(steps=edits, order=st.randoms(use_true_random=False))
def test_pycrdt_and_js_yjs_agree_on_random_update_streams(
    node: str, steps: list[tuple[int, str, int, str]], order: Any
) -> None:
    replicas = [new_doc() for _ in range(3)]
    texts = [doc.get("notes", type=Text) for doc in replicas]
    updates: list[bytes] = []
    for who, kind, position, piece in steps:
        doc, text = replicas[who], texts[who]
        state = doc.get_state()
        # pycrdt indexes text by UTF-8 byte offsets (and panics inside a character):
        # pick character positions and convert them
        current = str(text)
        start = min(position, len(current))
        if kind == "insert":
            text.insert(len(current[:start].encode()), piece)
        elif kind == "delete" and start < len(current):
            stop = min(len(current), start + len(piece))
            del text[len(current[:start].encode()) : len(current[:stop].encode())]
        else:  # merge the next replica's state into this one
            doc.apply_update(replicas[(who + 1) % 3].get_update(state))
            continue
        updates.append(doc.get_update(state))
    order.shuffle(updates)  # any delivery order: pending structs wait for their parents
    merged = Replica(new_doc())  # as the server merges (pycrdt alone can lose an item)
    for update in updates:
        merged.apply(update)
    expected = str(merged.doc.get("notes", type=Text))
    payload = json.dumps({"updates": [base64.b64encode(u).decode() for u in updates]})
    js = run_node(node, {"mode": "apply"}, stdin=payload)
    assert js["text"] == expected
