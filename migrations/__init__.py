"""alembic migrations for syncd (SQLite and PostgreSQL); run with `syncd migrate`."""
