"""docs/protocol.md is a contract: its push example, sent as it stands by a
technician whose tenant is at version 40, is answered exactly as documented."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from syncd.sync.cursor import Cursor
from tests.conftest import make_tenant
from tests.factories import signed_in
from tests.sync_helpers import action, push, upsert

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def json_blocks(section: str) -> list[Any]:
    """The ```json blocks of one `## ` section of docs/protocol.md, parsed."""
    text = DOC.read_text()
    start = text.index(f"\n## {section}\n")
    end = text.find("\n## ", start + 1)
    body = text[start : end if end != -1 else None]
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", body, re.S)]


async def test_the_push_example_is_answered_as_documented(
    client: Any, sessions: async_sessionmaker[AsyncSession]
) -> None:
    request, answer = json_blocks("Push")[:2]
    task_id = uuid.UUID(request["changes"][0]["id"])
    tenant = await make_tenant(sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    tech = await signed_in(client, sessions, Role.TECHNICIAN, tenant)
    # The task, assigned to the technician (versions 1-5), then edits up to 40.
    await push(client, staff, "dash", [upsert("task", task_id, "dash", title="Pump")])
    await push(
        client,
        staff,
        "dash",
        [action(task_id, "assign", "dash", fields={"user_id": str(tech.user_id)})],
    )
    edits = [upsert("task", task_id, "dash", title=f"Pump {n}") for n in range(35)]
    assert (await push(client, staff, "dash", edits))["cursor"] == Cursor.at(40).encode()

    got = await push(client, tech, request["client_id"], request["changes"], request["batch_id"])
    assert got == answer
