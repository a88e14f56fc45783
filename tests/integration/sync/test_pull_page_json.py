"""A page of the change log as every-row readers get it: on PostgreSQL the
database writes each change's JSON (storage.log_reads.read_log_changes); it
must be byte for byte what the Python shaping of the same entries encodes to,
whatever the row holds, and hold only the reader's tenant's changes."""

from __future__ import annotations

import uuid

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from storage import log_reads
from storage.models import ChangeLogEntry
from storage.unit_of_work import TenantUnitOfWork
from tests.support.factories import signed_in
from tests.support.sync import hlc, push, upsert

TITLES = (
    'quotes " and \\ backslash',
    "line\nbreak\ttab \u2028 separator",
    "إصلاح المكيف في الطابق الثاني",
    "emoji \U0001f527 and control \x01",
)


async def test_database_built_changes_match_the_python_shaping(
    client: object, sessions: async_sessionmaker[AsyncSession]
) -> None:
    admin = await signed_in(client, sessions, Role.ADMIN)
    other = await signed_in(client, sessions, Role.ADMIN)
    ids = [uuid.uuid4() for _ in TITLES]
    changes = [upsert("task", i, "dev-a", title=t) for i, t in zip(ids, TITLES, strict=True)]
    await push(client, admin, "dev-a", changes)
    gone = {"entity": "task", "id": str(ids[0]), "op": "delete", "hlc": hlc("dev-a")}
    await push(client, admin, "dev-a", [{**gone, "base_version": 0}])
    await push(client, other, "dev-b", [upsert("task", uuid.uuid4(), "dev-b", title="theirs")])

    async with TenantUnitOfWork(sessions, admin.tenant.id) as uow:
        built, built_to, built_full = await log_reads.read_log_changes(uow.session, 0, 100)
        entries, shaped_to, shaped_full = await log_reads.read_log(uow.session, 0, 100)
        shaped = [log_reads.pulled_from_log(entry) for entry in entries]
        partial, _, more = await log_reads.read_log_changes(uow.session, 0, 3)

    assert orjson.dumps(built) == orjson.dumps(shaped)
    # And it is what the log holds, read and decoded by the ORM, not only the same text.
    async with TenantUnitOfWork(sessions, admin.tenant.id) as uow:
        logged = [
            {
                "version": e.version,
                "entity": e.entity,
                "id": str(e.entity_id),
                "op": e.op,
                "data": e.data,
            }
            for e in await uow.session.scalars(select(ChangeLogEntry).order_by("version"))
        ]
    assert orjson.loads(orjson.dumps(built)) == logged
    assert (built_to, built_full) == (shaped_to, shaped_full)
    decoded = orjson.loads(orjson.dumps(built))
    assert {c["data"].get("title") for c in decoded if c["entity"] == "task"} >= set(TITLES)
    assert "delete" in {c["op"] for c in decoded}
    assert "theirs" not in {c["data"].get("title") for c in decoded}  # the other tenant's
    assert [c["version"] for c in decoded] == sorted(c["version"] for c in decoded)
    assert len(partial) == 3
    assert more
