"""The queue's own upkeep: finished jobs are deleted after `DONE_RETENTION`, parked ones kept."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from rookery.jobs.kinds import JobKind, Priority
from rookery.jobs.queue import enqueue, prune_finished
from rookery.jobs.registry import JobContext, Registry
from rookery.store.tables import Job, utc_now

logger = structlog.get_logger(__name__)

DONE_RETENTION: Final = timedelta(days=7)
PRUNE_INTERVAL: Final = timedelta(hours=1)


async def prune_jobs(ctx: JobContext, job: Job) -> None:
    """Delete the jobs that finished more than `DONE_RETENTION` ago."""
    async with ctx.sessions.begin() as session:
        pruned = await prune_finished(session, older_than=utc_now() - DONE_RETENTION)
        await ctx.complete_in(session)
    logger.info("jobs.pruned", jobs=pruned)


async def schedule_prune(session: AsyncSession, now: datetime) -> None:
    """Queue this period's prune (one at a time, whatever the schedulers)."""
    await enqueue(
        session, JobKind.PRUNE_JOBS, {}, priority=Priority.BACKFILL, dedupe_key=JobKind.PRUNE_JOBS
    )


def register_jobs(registry: Registry) -> None:
    """The queue's own handlers and periodic tasks."""
    registry.register(JobKind.PRUNE_JOBS, prune_jobs)
    registry.every(JobKind.PRUNE_JOBS, PRUNE_INTERVAL, schedule_prune)
