"""schema versions: a task's scheduled window, and each device's app schema

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-06 04:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WINDOW = (
    "(scheduled_start IS NULL) = (scheduled_end IS NULL)"
    " AND (scheduled_end IS NULL OR scheduled_end >= scheduled_start)"
)


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scheduled_start", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("scheduled_end", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_check_constraint(op.f("ck_tasks_scheduled_window"), WINDOW)
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("schema", sa.Integer(), nullable=True))
    # Every device seen so far runs an app older than schema 2: it speaks schema 1.
    op.execute("UPDATE devices SET schema = 1")


def downgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("schema")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_tasks_scheduled_window"), type_="check")
        batch_op.drop_column("scheduled_end")
        batch_op.drop_column("scheduled_start")
