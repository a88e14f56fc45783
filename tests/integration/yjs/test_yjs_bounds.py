"""Hostile Yjs input cannot crash, bloat or stall the server (#15).

Deep embedded values, counts that lie, documents and awareness states past
their bounds: over /sync/yjs each closes its socket with a documented code,
through a `ydoc` push each rejects its change alone, and the process lives on
with its memory in bounds. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import resource
import uuid
from pathlib import Path
from typing import Any

from pycrdt import Doc, Text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol import yprotocol as y
from protocol.roles import Role
from protocol.yprotocol import encode_var_string, encode_varuint
from syncd.app import create_app
from tests.support.factories import make_tenant, signed_in
from tests.support.services import make_settings
from tests.support.sync import push, upsert
from tests.support.yjs import closed_with, new_task, open_editor, ydoc_change

Sessions = async_sessionmaker[AsyncSession]
MiB = 1024 * 1024


def deep_update(levels: int) -> bytes:
    """One embedded value of `levels` nested arrays under the root type `notes`."""
    structs = encode_varuint(1) + encode_varuint(1) + encode_varuint(7) + encode_varuint(0)
    item = bytes([8]) + encode_varuint(1) + encode_var_string("notes")
    value = encode_varuint(1) + bytes([117, 1]) * levels + bytes([126])
    return structs + item + value + encode_varuint(0)


LYING_UPDATE = encode_varuint(2**28) + b"\x01\x02\x03"  # 2**28 clients in 7 bytes
LYING_STATE_VECTOR = encode_varuint(2**29 - 1) + b"\x01\x02"


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


async def test_a_100000_deep_update_is_refused_and_the_server_lives(
    client: Any, sessions: Sessions
) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    task_id = await new_task(client, staff)
    editor = await open_editor(client, staff, f"task:{task_id}:notes")
    await editor.ws.send_bytes(y.sync_update(deep_update(100_000)))
    assert await closed_with(editor.ws) == 4400
    answer = await push(
        client,
        staff,
        "phone",
        [
            ydoc_change(task_id, deep_update(100_000)),
            upsert("task", task_id, "phone", base=2, title="t"),
        ],
    )
    first, second = answer["results"]
    assert first["status"] == "rejected"
    assert first["problem"]["errors"][0]["code"] == "yjs_update"
    assert second["status"] == "applied"
    healthy = await open_editor(client, staff, f"task:{task_id}:notes")  # the process lives
    await healthy.insert(0, "still here")
    await healthy.ws.close()


async def test_counts_that_lie_are_refused_without_reserving_memory(
    client: Any, sessions: Sessions
) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    task_id = await new_task(client, staff)
    name = f"task:{task_id}:notes"
    before = peak_rss()
    for frame in (
        y.sync_step1(LYING_STATE_VECTOR),
        y.sync_update(LYING_UPDATE),
        y.sync_step2(LYING_UPDATE),
        y.awareness(encode_varuint(2**28) + b"\x01"),
    ):
        editor = await open_editor(client, staff, name, sync=False)
        await editor.ws.send_bytes(frame)
        assert await closed_with(editor.ws) == 4400
    answer = await push(client, staff, "phone", [ydoc_change(task_id, LYING_UPDATE)])
    assert answer["results"][0]["problem"]["errors"][0]["code"] == "yjs_update"
    assert peak_rss() - before < 64 * MiB


async def test_a_document_stops_growing_at_the_frame_limit(
    database_url: str, tmp_path: Path, aiohttp_client: Any, sessions: Sessions
) -> None:
    app = create_app(make_settings(tmp_path, DATABASE_URL=database_url, MAX_WS_FRAME_BYTES="8192"))
    client = await aiohttp_client(app)
    staff = await signed_in(client, sessions, Role.STAFF)
    task_id = await new_task(client, staff)
    editor = await open_editor(client, staff, f"task:{task_id}:notes")
    for index in range(6):
        await editor.insert(0, f"{index}" * 1000)
    await editor.insert(0, "x" * 3000)  # past 8 KiB in all
    assert await closed_with(editor.ws) == 4413
    late = await open_editor(client, staff, f"task:{task_id}:notes")  # its state fits a frame
    await late.until(lambda: len(str(late.text)) == 6000)  # every accepted update stored
    offline = Doc(client_id=7)
    offline.get("notes", type=Text).insert(0, "y" * 3000)
    answer = await push(client, staff, "phone", [ydoc_change(task_id, offline.get_update())])
    assert answer["results"][0]["problem"]["code"] == "document_too_large"
    await late.ws.close()


async def test_awareness_is_bounded_per_socket_and_per_state(
    client: Any, sessions: Sessions
) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    task_id = await new_task(client, staff)
    name = f"task:{task_id}:notes"
    flood = await open_editor(client, staff, name)
    many = [y.AwarenessEntry(client_id, 1, '{"user":"x"}') for client_id in range(1, 90_001)]
    await flood.ws.send_bytes(y.awareness(y.encode_awareness(many[:9])))
    assert await closed_with(flood.ws) == 4413
    huge = await open_editor(client, staff, name)
    state = '{"user":"' + "x" * 9000 + '"}'
    await huge.ws.send_bytes(y.awareness(y.encode_awareness([y.AwarenessEntry(5, 1, state)])))
    assert await closed_with(huge.ws) == 4413
    fine = await open_editor(client, staff, name)
    own = y.encode_awareness([y.AwarenessEntry(fine.doc.client_id, 1, '{"user":"me"}')])
    await fine.ws.send_bytes(y.awareness(own))
    joining = await open_editor(client, staff, name, sync=False)
    await joining.until(lambda: own in joining.awareness)  # relayed, within bounds
    for editor in (fine, joining):
        await editor.ws.close()


async def test_a_room_holds_a_bounded_number_of_awareness_states(
    client: Any, sessions: Sessions
) -> None:
    tenant = await make_tenant(sessions)
    task_owner = await signed_in(client, sessions, Role.STAFF, tenant)
    task_id = await new_task(client, task_owner)
    name = f"task:{task_id}:notes"
    editors = []
    refused = None
    for index in range(40):
        account = await signed_in(client, sessions, Role.STAFF, tenant)
        editor = await open_editor(client, account, name)
        states = [
            y.AwarenessEntry(index * 100 + n, 1, '{"u":"' + "x" * 7000 + '"}') for n in range(8)
        ]
        await editor.ws.send_bytes(y.awareness(y.encode_awareness(states)))
        editors.append(editor)
        if index >= 4:  # 5 x 8 states of 7 KB pass the room's 256 KiB
            refused = editor
            break
    assert refused is not None
    assert await closed_with(refused.ws) == 4413
    for editor in editors[:-1]:
        await editor.ws.close()


async def test_the_per_user_cap_closes_the_socket_that_connected_first() -> None:
    import asyncio

    from syncd.yjs.rooms import Rooms

    class Peer:
        def __init__(self, opened: int) -> None:
            self.opened = opened
            self.superseded = False
            self.user_id = user
            self.awareness_clients: set[int] = set()
            self.finished = asyncio.Event()
            self.closed: int | None = None

        def request_close(self, code: int, message: str) -> None:
            self.closed = code

        def deliver(self, frame: bytes) -> None:
            raise AssertionError("nothing is relayed here")

    user, tenant = uuid.uuid4(), uuid.uuid4()
    rooms = Rooms(None, max_per_user=2)  # type: ignore[arg-type]
    first, second, third = Peer(1), Peer(2), Peer(3)
    for peer in (second, third, first):  # joined in another order than they connected
        rooms._count_in(tenant, peer)
    assert (first.closed, second.closed, third.closed) == (4409, None, None)


async def test_offline_ydoc_pushes_with_a_bad_update_are_rejected_alone(
    client: Any, sessions: Sessions
) -> None:
    staff = await signed_in(client, sessions, Role.STAFF)
    task_id = await new_task(client, staff)
    good = Doc(client_id=9)
    good.get("notes", type=Text).insert(0, "kept")
    garbage = dict(ydoc_change(task_id, b"\x00"), update=base64.b64encode(b"\xff" * 10).decode())
    answer = await push(client, staff, "phone", [garbage, ydoc_change(task_id, good.get_update())])
    assert [r["status"] for r in answer["results"]] == ["rejected", "applied"]
