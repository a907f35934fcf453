"""Fixtures of the job tests: the app's resources on the test database, and a worker runner."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from rookery.app import Resources, open_resources
from rookery.config import Settings
from rookery.jobs.worker import Worker
from rookery.store.tables import Job


@pytest.fixture
async def resources(settings: Settings, engine: AsyncEngine) -> AsyncIterator[Resources]:
    """The process resources (their own engine) on the migrated test database."""
    async with open_resources(settings) as opened:
        yield opened


def process_environ(settings: Settings) -> dict[str, str]:
    """The environment of a child process that uses the test's database and keys."""
    assert settings.encryption_keys is not None
    return {
        **os.environ,
        "ROOKERY_DATABASE_URL": settings.database_url,
        "ROOKERY_ENCRYPTION_KEYS": settings.encryption_keys.get_secret_value(),
        "ROOKERY_DATA_DIR": str(settings.resolved_data_dir),
    }


@asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[asyncio.Task[None]]:
    """Run `worker` while the block runs; cancel it (cleanly) afterwards."""
    task = asyncio.create_task(worker.run())
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout_s: float = 10.0, step_s: float = 0.05
) -> None:
    """Wait until `check()` holds; fail after `timeout_s`."""
    async with asyncio.timeout(timeout_s):
        while not await check():  # noqa: ASYNC110 - the condition is in the database
            await asyncio.sleep(step_s)


async def load_job(sessions: async_sessionmaker[AsyncSession], job_id: int) -> Job:
    """The job row as it stands now."""
    async with sessions() as session:
        job = await session.get(Job, job_id)
    assert job is not None
    return job


async def count_rows(sessions: async_sessionmaker[AsyncSession], *where: Any) -> int:
    """How many jobs match `where`."""
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Job).where(*where)) or 0)
