"""The Python client's collaborative notes: written offline, merged live.

A technician's phone writes a task's notes while offline (queued as a `ydoc`
change, durable in its file: a restarted client still shows them); the push
delivers them to a dispatcher editing the same notes live; the dispatcher's
own words reach the phone by `fetch`, and both hold the same merged text.
Another tenant's technician cannot open the notes. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from syncd_client import Credentials, LocalStore, ProblemError, SyncClient
from tests.support.factories import PASSWORD, make_tenant, signed_in
from tests.support.media import new_task
from tests.support.yjs import open_editor

Sessions = async_sessionmaker[AsyncSession]


async def test_notes_written_offline_reach_a_live_editor_and_merge(
    client: Any, sessions: Sessions, tmp_path: Path
) -> None:
    tenant = await make_tenant(sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    tech = await signed_in(client, sessions, Role.TECHNICIAN, tenant)
    task_id = await new_task(client, staff, tech)
    base, credentials = str(client.make_url("/")), Credentials(tech.email, PASSWORD)

    phone = LocalStore(tmp_path / "phone.db", client_id="phone-1")
    async with SyncClient(base, tenant.slug, phone, credentials=credentials) as device:
        notes = device.notes(task_id)
        notes.edit(lambda text: text.insert(0, "Seal worn. "))  # offline: queued only
        assert notes.text == "Seal worn. "
    phone.close()

    phone = LocalStore(tmp_path / "phone.db", client_id="phone-1")  # the app restarted
    async with SyncClient(base, tenant.slug, phone, credentials=credentials) as device:
        notes = device.notes(task_id)
        assert notes.text == "Seal worn. "  # its own edit, from the outbox
        office = await open_editor(client, staff, f"task:{task_id}:notes")
        await device.login(tech.email, PASSWORD)
        assert await device.push() == 1
        await office.until(lambda: str(office.text) == "Seal worn. ")
        watcher = await open_editor(client, staff, f"task:{task_id}:notes")
        await office.insert(len(str(office.text)), "Ordered a new one.")
        # The room stores an update, then applies and relays it (group commit): once
        # another editor has it, a new reader gets it too.
        await watcher.until(lambda: str(watcher.text) == "Seal worn. Ordered a new one.")
        await watcher.ws.close()

        merged = await notes.fetch()
        assert merged == "Seal worn. Ordered a new one."
        notes.edit(lambda text: text.insert(0, "Visit 2: "))
        assert await device.push() == 1
        await office.until(lambda: str(office.text) == "Visit 2: Seal worn. Ordered a new one.")
        await office.ws.close()

    stranger = await signed_in(client, sessions, Role.TECHNICIAN, await make_tenant(sessions))
    other = LocalStore(tmp_path / "other.db", client_id="phone-2")
    async with SyncClient(
        base, stranger.tenant.slug, other, credentials=Credentials(stranger.email, PASSWORD)
    ) as device:
        await device.login(stranger.email, PASSWORD)
        with pytest.raises(ProblemError) as refused:
            await device.notes(task_id).fetch()
        assert refused.value.status == 404  # another tenant's task: none of theirs
