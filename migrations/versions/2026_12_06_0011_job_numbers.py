"""job numbers: a human number per tenant on every task (JOB-000123)

The tenant's last number lives on its version counter row (locked by every
write, so two writes never take the same number); tasks that exist get
numbers in the order they were created.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tenant_versions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("job_number", sa.BigInteger(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("job_number", sa.String(length=20), nullable=True))
    if op.get_bind().dialect.name == "postgresql":  # every tenant's rows, whoever migrates
        op.execute("SET LOCAL app.platform = 'on'")
    # Existing tasks, numbered per tenant in the order they were created.
    op.execute(
        """
        UPDATE tasks SET job_number = (
            SELECT 'JOB-' || substr('000000' || numbered.n, -6, 6)
            FROM (
                SELECT id, tenant_id, ROW_NUMBER() OVER (
                    PARTITION BY tenant_id ORDER BY created_at, id
                ) AS n
                FROM tasks
            ) AS numbered
            WHERE numbered.id = tasks.id AND numbered.tenant_id = tasks.tenant_id
        )
        """
        if op.get_bind().dialect.name == "sqlite"
        else """
        UPDATE tasks SET job_number = 'JOB-' || lpad(numbered.n::text, 6, '0')
        FROM (
            SELECT id, tenant_id, ROW_NUMBER() OVER (
                PARTITION BY tenant_id ORDER BY created_at, id
            ) AS n
            FROM tasks
        ) AS numbered
        WHERE numbered.id = tasks.id AND numbered.tenant_id = tasks.tenant_id
        """
    )
    op.execute(
        "UPDATE tenant_versions SET job_number ="
        " (SELECT count(*) FROM tasks WHERE tasks.tenant_id = tenant_versions.tenant_id)"
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            batch_op.f("uq_tasks_tenant_id_job_number"), ["tenant_id", "job_number"]
        )


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_tasks_tenant_id_job_number"), type_="unique")
        batch_op.drop_column("job_number")
    with op.batch_alter_table("tenant_versions", schema=None) as batch_op:
        batch_op.drop_column("job_number")
