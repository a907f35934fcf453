"""`rookery worker`: a job worker and the scheduler, until SIGINT or SIGTERM (scale-out: run
any number of them against one PostgreSQL)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from rookery.config import Settings


def worker(
    concurrency: Annotated[
        int, typer.Option(help="Jobs run at the same time by this process.", min=1, max=256)
    ] = 4,
) -> None:
    """Run jobs and periodic tasks until stopped (SIGINT, SIGTERM); unfinished jobs go back to
    the queue. The database must be migrated (`rookery db upgrade`, or `rookery serve`)."""
    # Imported here so that other commands start without loading the database stack.
    import anyio

    from rookery.config import load_settings
    from rookery.runtime import tune_gc
    from rookery.store.crypto import load_cipher

    settings = load_settings()
    load_cipher(settings)
    tune_gc()
    anyio.run(_work, settings, concurrency)


async def _work(settings: Settings, concurrency: int) -> None:
    import signal

    import anyio

    from rookery.app import open_resources
    from rookery.config import ConfigError
    from rookery.delivery.sender import open_sender
    from rookery.jobs.worker import run_jobs

    async with open_resources(settings) as resources:
        async with resources.engine.connect() as connection:
            if await connection.run_sync(_needs_migration):
                # Several workers starting together must not race to migrate: one command does.
                raise ConfigError(
                    "ROOKERY_DATABASE_URL: the database is not migrated to this version of "
                    "Rookery: run `rookery db upgrade` first"
                )
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with open_sender(resources), anyio.create_task_group() as group:
                group.start_soon(lambda: run_jobs(resources, concurrency=concurrency))
                async for _ in signals:
                    group.cancel_scope.cancel()
                    break


def _needs_migration(connection: Connection) -> bool:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from rookery.store.migrate import alembic_config

    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    return set(MigrationContext.configure(connection).get_current_heads()) != heads
