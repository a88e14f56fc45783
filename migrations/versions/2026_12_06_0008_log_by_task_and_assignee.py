"""change log: read a technician's share by task and by assignee

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-06 02:00:00

A technician's pull and live feed read the change-log entries of their tasks
and the entries that assign or unassign them, never the whole tenant's log
(FIELD-NOTES: a technician's share cannot be read by scanning it). Entries of
a task are found by (tenant_id, task_id, version); an assignment's entry now
names its technician in `assignee_id`, found by a partial index on
(tenant_id, assignee_id, version).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("change_log") as batch:
        batch.add_column(sa.Column("assignee_id", sa.Uuid(), nullable=True))
        batch.create_index(
            "ix_change_log_tenant_id_task_id_version", ["tenant_id", "task_id", "version"]
        )
        batch.create_index(
            "ix_change_log_assignee",
            ["tenant_id", "assignee_id", "version"],
            postgresql_where=sa.text("assignee_id IS NOT NULL"),
            sqlite_where=sa.text("assignee_id IS NOT NULL"),
        )
    # Entries written before: an assignment's technician is in its row's JSON.
    data = "CAST(data AS TEXT)" if op.get_bind().dialect.name == "sqlite" else "data::json"
    user = (
        f"json_extract({data}, '$.user_id')"
        if op.get_bind().dialect.name == "sqlite"
        else f"({data} ->> 'user_id')::uuid"
    )
    op.execute(f"UPDATE change_log SET assignee_id = {user} WHERE entity = 'task_assignment'")


def downgrade() -> None:
    with op.batch_alter_table("change_log") as batch:
        batch.drop_index("ix_change_log_assignee")
        batch.drop_index("ix_change_log_tenant_id_task_id_version")
        batch.drop_column("assignee_id")
