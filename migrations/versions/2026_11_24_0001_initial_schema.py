"""initial schema: every table, and row-level security on PostgreSQL

Revision ID: 0001
Revises:
Create Date: 2026-11-24 08:58:46.838534
"""

from collections.abc import Sequence

from alembic import op

from migrations.initial_dependent_tables import create_dependent_tables
from migrations.initial_tenant_tables import create_tenant_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Tenant tables at this revision (frozen here: later revisions add their own).
TENANT_TABLES = (
    "audit_log",
    "change_log",
    "conflicts",
    "devices",
    "media_assets",
    "purchases",
    "push_batches",
    "receipts",
    "refresh_tokens",
    "reports",
    "task_assignments",
    "task_events",
    "tasks",
    "tenant_versions",
    "users",
    "ydoc_updates",
    "ydocs",
)
TENANT_ROLE = "syncd_tenant"
CURRENT_TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"
PLATFORM = f"current_setting('app.platform', true) = 'on' AND current_user <> '{TENANT_ROLE}'"


def _enable_rls(table: str, key: str = "tenant_id") -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} TO {TENANT_ROLE} "
        f"USING ({key} = {CURRENT_TENANT}) WITH CHECK ({key} = {CURRENT_TENANT})"
    )
    op.execute(
        f"CREATE POLICY platform_access ON {table} USING ({PLATFORM}) WITH CHECK ({PLATFORM})"
    )


def _upgrade_postgres() -> None:
    """Wall 2: the tenant role sees only the rows of app.tenant_id."""
    op.execute(
        f"""
        DO $$ BEGIN
            CREATE ROLE {TENANT_ROLE} NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END $$
        """
    )
    op.execute(
        f"""
        DO $$ BEGIN
            IF NOT pg_has_role(current_user, '{TENANT_ROLE}', 'MEMBER') THEN
                EXECUTE format('GRANT {TENANT_ROLE} TO %I', current_user);
            END IF;
        END $$
        """
    )
    op.execute(f"GRANT USAGE ON SCHEMA public TO {TENANT_ROLE}")
    op.execute(
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {TENANT_ROLE}"
    )
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {TENANT_ROLE}")
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {TENANT_ROLE}"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {TENANT_ROLE}"
    )
    for table in TENANT_TABLES:
        _enable_rls(table)
    _enable_rls("tenants", key="id")


def _downgrade_postgres() -> None:
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {TENANT_ROLE}"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM {TENANT_ROLE}"
    )
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {TENANT_ROLE}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {TENANT_ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {TENANT_ROLE}")


def upgrade() -> None:
    create_tenant_tables()
    create_dependent_tables()

    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgres()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _downgrade_postgres()
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_receipts_tenant_id_task_id"))
        batch_op.drop_index(batch_op.f("ix_receipts_tenant_id_purchase_id"))

    op.drop_table("receipts")
    with op.batch_alter_table("task_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_events_tenant_id_task_id_server_time"))

    op.drop_table("task_events")
    with op.batch_alter_table("task_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_assignments_tenant_id_user_id"))

    op.drop_table("task_assignments")
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refresh_tokens_tenant_id_user_id"))
        batch_op.drop_index(batch_op.f("ix_refresh_tokens_tenant_id_family_id"))

    op.drop_table("refresh_tokens")
    with op.batch_alter_table("purchases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_purchases_tenant_id_task_id"))

    op.drop_table("purchases")
    op.drop_table("devices")
    op.drop_table("ydocs")
    with op.batch_alter_table("ydoc_updates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ydoc_updates_tenant_id_name_id"))

    op.drop_table("ydoc_updates")
    op.drop_table("users")
    op.drop_table("tenant_versions")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tasks_tenant_id_version"))
        batch_op.drop_index(batch_op.f("ix_tasks_tenant_id_status"))

    op.drop_table("tasks")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reports_tenant_id_task_id"))

    op.drop_table("reports")
    op.drop_table("push_batches")
    with op.batch_alter_table("media_assets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_media_assets_tenant_id_status_created_at"))
        batch_op.drop_index(batch_op.f("ix_media_assets_tenant_id_owner_type_owner_id"))

    op.drop_table("media_assets")
    with op.batch_alter_table("conflicts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conflicts_tenant_id_status_created_at"))
        batch_op.drop_index(batch_op.f("ix_conflicts_tenant_id_entity_entity_id"))

    op.drop_table("conflicts")
    with op.batch_alter_table("change_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_change_log_tenant_id_task_id_version"))
        batch_op.drop_index(batch_op.f("ix_change_log_tenant_id_entity_entity_id"))

    op.drop_table("change_log")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_tenant_id_created_at"))

    op.drop_table("audit_log")
    op.drop_table("tenants")
