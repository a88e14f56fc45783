"""Row-level security helpers shared by revisions (PostgreSQL only).

Frozen on purpose: revisions depend on this SQL staying what it was.
"""

from __future__ import annotations

from alembic import op

TENANT_ROLE = "syncd_tenant"
CURRENT_TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"
PLATFORM = f"current_setting('app.platform', true) = 'on' AND current_user <> '{TENANT_ROLE}'"


def is_postgres() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def enable_tenant_rls(table: str, key: str = "tenant_id") -> None:
    """FORCE row-level security on `table`: the tenant role sees its tenant's rows only."""
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} TO {TENANT_ROLE} "
        f"USING ({key} = {CURRENT_TENANT}) WITH CHECK ({key} = {CURRENT_TENANT})"
    )
    op.execute(
        f"CREATE POLICY platform_access ON {table} USING ({PLATFORM}) WITH CHECK ({PLATFORM})"
    )
