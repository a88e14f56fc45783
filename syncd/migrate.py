"""Run alembic from syncd: upgrade, downgrade and the programmatic config."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

import migrations

FILE_TEMPLATE = "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.set_main_option("file_template", FILE_TEMPLATE)
    config.attributes["database_url"] = database_url
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade the database behind `engine` (usable inside a running event loop)."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: _with(config, sync, command.upgrade, revision))


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: _with(config, sync, command.downgrade, revision))


def _with(
    config: Config, connection: Connection, fn: Callable[[Config, str], None], revision: str
) -> None:
    config.attributes["connection"] = connection
    fn(config, revision)
