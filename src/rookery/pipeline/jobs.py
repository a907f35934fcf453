"""The pipeline's job handlers and periodic tasks, for `rookery.jobs.handlers`."""

from __future__ import annotations

import uuid
from datetime import date

from rookery.jobs.kinds import JobKind
from rookery.jobs.registry import JobContext, Park, Registry
from rookery.pipeline.backfill import run_backfill
from rookery.pipeline.check import CHECK_INTERVAL, run_check, schedule_checks
from rookery.pipeline.days import close_day
from rookery.pipeline.fetch import run_fetch
from rookery.pipeline.state import locked_state
from rookery.store.tables import Client, Job, User, WithingsConnection, utc_now


def register_jobs(registry: Registry) -> None:
    """Register the pipeline's handlers and its daily safety net."""
    registry.register(JobKind.PIPELINE_FETCH, run_fetch)
    registry.register(JobKind.PIPELINE_BACKFILL, run_backfill)
    registry.register(JobKind.PIPELINE_CLOSE_DAY, run_close_day)
    registry.register(JobKind.PIPELINE_CHECK, run_check)
    registry.every(JobKind.PIPELINE_CHECK, CHECK_INTERVAL, schedule_checks)


async def run_close_day(ctx: JobContext, job: Job) -> None:
    """The `PIPELINE_CLOSE_DAY` handler: close the user's day (deliver its physical and body
    summaries) unless a fetch already did."""
    try:
        connection_id = uuid.UUID(str(job.payload["connection_id"]))
        day = date.fromisoformat(str(job.payload["local_date"]))
    except (KeyError, ValueError) as error:
        raise Park(f"not a close-day payload: {error}") from None
    now = utc_now()
    async with ctx.sessions.begin() as session:
        await locked_state(session, connection_id, now=now)
        connection = await session.get(WithingsConnection, connection_id)
        user = None if connection is None else await session.get(User, connection.user_pk)
        client = None if user is None else await session.get(Client, user.client_id)
        if user is not None and client is not None:
            await close_day(session, client=client, user=user, day=day, now=now)
        await ctx.complete_in(session)
