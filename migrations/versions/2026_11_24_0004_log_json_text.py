"""change log rows and push answers as json text

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 18:00:00

The change log's `data` and a push batch's stored `response` are written once
and read back whole, never searched inside: `json` (text as written) instead
of `jsonb` spares PostgreSQL parsing them on every insert and printing them on
every pull. SQLite stores JSON as text already: nothing to do there.
"""

from collections.abc import Sequence

from alembic import op

from migrations.rls import is_postgres

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (("change_log", "data"), ("push_batches", "response"))


def upgrade() -> None:
    if not is_postgres():
        return
    for table, column in COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE json USING {column}::json")


def downgrade() -> None:
    if not is_postgres():
        return
    for table, column in COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE jsonb USING {column}::jsonb")
