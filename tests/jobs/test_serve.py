"""`rookery serve` runs the worker and the scheduler in its own process unless told not to."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from rookery.app import create_app
from rookery.config import Settings
from rookery.jobs import JobKind, enqueue
from rookery.store.engine import session_factory
from rookery.store.enums import JobStatus
from tests.jobs.conftest import eventually, load_job

pytestmark = pytest.mark.anyio


async def test_the_app_runs_jobs_while_it_runs(settings: Settings, engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    app = create_app(settings, with_worker=True)
    async with app.router.lifespan_context(app):
        async with sessions.begin() as session:
            job_id = await enqueue(session, JobKind.PRUNE_JOBS, {})

        async def done() -> bool:
            return (await load_job(sessions, job_id)).status is JobStatus.DONE

        await eventually(done, timeout_s=10)


async def test_without_the_worker_jobs_wait(settings: Settings, engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with sessions.begin() as session:
            job_id = await enqueue(session, JobKind.PRUNE_JOBS, {})
        await asyncio.sleep(0.5)  # time enough for a worker, had one been started
    assert (await load_job(sessions, job_id)).status is JobStatus.QUEUED
