"""sync rejections

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 09:28:05.224184
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations.rls import enable_tenant_rls, is_postgres

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sync_rejections",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.String(length=100), nullable=False),
        sa.Column("batch_id", sa.String(length=100), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column(
            "change",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "problem",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_sync_rejections_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_sync_rejections")),
    )
    with op.batch_alter_table("sync_rejections", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sync_rejections_tenant_id_status_created_at"),
            ["tenant_id", "status", "created_at"],
            unique=False,
        )

    if is_postgres():
        enable_tenant_rls("sync_rejections")


def downgrade() -> None:
    with op.batch_alter_table("sync_rejections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_rejections_tenant_id_status_created_at"))

    op.drop_table("sync_rejections")
