"""change log and timeline: no per-row tenant check, indexes that fit the reads

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 18:30:00

Every push writes one change-log entry per applied change and, for a new
task, a timeline entry: the hottest inserts there are. Each row paid a
foreign-key check against tenants that proves nothing new: the log is written
under a lock on the tenant's version row (keyed to tenants), and a timeline
entry's key to its task (tenant_id, task_id) already proves the tenant and
cascades its deletion. The log's index on (tenant_id, task_id, version) served
no query; the conflict inbox reads a row's history by (tenant_id, entity_id,
version), which now has its own index in place of (tenant_id, entity,
entity_id).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("change_log") as batch:
        batch.drop_constraint("fk_change_log_tenant_id_tenants", type_="foreignkey")
        batch.drop_index("ix_change_log_tenant_id_entity_entity_id")
        batch.drop_index("ix_change_log_tenant_id_task_id_version")
        batch.create_index(
            "ix_change_log_tenant_id_entity_id_version", ["tenant_id", "entity_id", "version"]
        )
    with op.batch_alter_table("task_events") as batch:
        batch.drop_constraint("fk_task_events_tenant_id_tenants", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("task_events") as batch:
        batch.create_foreign_key(
            "fk_task_events_tenant_id_tenants",
            "tenants",
            ["tenant_id"],
            ["id"],
            ondelete="CASCADE",
        )
    with op.batch_alter_table("change_log") as batch:
        batch.drop_index("ix_change_log_tenant_id_entity_id_version")
        batch.create_index(
            "ix_change_log_tenant_id_task_id_version", ["tenant_id", "task_id", "version"]
        )
        batch.create_index(
            "ix_change_log_tenant_id_entity_entity_id", ["tenant_id", "entity", "entity_id"]
        )
        batch.create_foreign_key(
            "fk_change_log_tenant_id_tenants",
            "tenants",
            ["tenant_id"],
            ["id"],
            ondelete="CASCADE",
        )
