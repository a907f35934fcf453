"""Alembic migrations, applied from code (no alembic.ini): `await upgrade(engine_or_url)`."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from rookery.store.engine import create_engine

# Revision files are named by date, so the folder lists them in the order they were written.
FILE_TEMPLATE = "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s"


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for Rookery's migrations, bound to `connection` if given."""
    config = Config()
    config.set_main_option("script_location", "rookery.store:migrations")
    config.set_main_option("file_template", FILE_TEMPLATE)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def upgrade(target: AsyncEngine | str | URL, revision: str = "heads") -> None:
    """Apply pending migrations up to `revision` (default: every head), in one transaction."""
    engine = target if isinstance(target, AsyncEngine) else create_engine(target)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade, revision)
    finally:
        if engine is not target:
            await engine.dispose()


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)
