"""clients/python/README.md's example runs as written, against the real app.

The ```python block of its "Use" section is run as it stands, in its own
process (as a user would paste it), with the environment it documents
pointing at the app: a technician with a task assigned starts it where they
stand, writes a note, records a purchase and a receipt with where and when,
syncs and stays live for a moment. What the server then holds is checked,
on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from tests.support.factories import PASSWORD, make_tenant, signed_in
from tests.support.media import new_task

README = Path(__file__).resolve().parents[3] / "clients" / "python" / "README.md"
Sessions = async_sessionmaker[AsyncSession]


def use_example() -> str:
    text = README.read_text()
    section = text[text.index("## Use\n") :]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found is not None
    return found.group(1)


async def test_the_readme_example_runs_as_written(
    client: Any, sessions: Sessions, tmp_path: Path
) -> None:
    tenant = await make_tenant(sessions, time_zone="Asia/Riyadh")
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    tech = await signed_in(client, sessions, Role.TECHNICIAN, tenant, display_name="Omar")
    task_id = await new_task(client, staff, tech)
    script = tmp_path / "example.py"
    script.write_text(use_example())
    env = {
        **os.environ,
        "SYNCD_URL": str(client.make_url("")).rstrip("/"),
        "SYNCD_TENANT": tenant.slug,
        "SYNCD_EMAIL": tech.email,
        "SYNCD_PASSWORD": PASSWORD,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()
    assert "JOB-000001 in_progress" in out.decode(), out.decode()
    assert (tmp_path / "phone.db").exists()

    timeline = await client.get(f"/tasks/{task_id}/timeline", headers=staff.headers)
    items = {item["kind"]: item for item in (await timeline.json())["items"]}
    for kind in ("started", "note", "purchase_added", "receipt_added"):
        assert items[kind]["geo"] == {"lat": 24.7136, "lng": 46.6753, "accuracy_m": 8}, kind
    for kind in ("started", "purchase_added", "receipt_added"):
        assert items[kind]["client_time"] is not None, kind
    assert items["note"]["payload"] == {"text": "seal cracked"}
