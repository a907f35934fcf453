"""The pipeline's job handlers and periodic tasks, for `rookery.jobs.handlers`."""

from __future__ import annotations

import uuid
from datetime import date

import structlog

from rookery.jobs.kinds import JobKind
from rookery.jobs.queue import describe_error
from rookery.jobs.registry import JobContext, Park, Registry, Retry
from rookery.pipeline.backfill import run_backfill
from rookery.pipeline.check import CHECK_INTERVAL, run_check, schedule_checks
from rookery.pipeline.days import close_day
from rookery.pipeline.documents import has_intraday, stored_physical_summaries
from rookery.pipeline.fetch import (
    FetchRequest,
    archived_by,
    fetch_and_store,
    load_target,
    run_fetch,
)
from rookery.pipeline.plans import DAY_END_ACTIVITY, Domain
from rookery.pipeline.state import locked_state
from rookery.store.tables import Client, Job, User, WithingsConnection, utc_now

logger = structlog.get_logger(__name__)


def register_jobs(registry: Registry) -> None:
    """Register the pipeline's handlers and its daily safety net."""
    registry.register(JobKind.PIPELINE_FETCH, run_fetch)
    registry.register(JobKind.PIPELINE_BACKFILL, run_backfill)
    registry.register(JobKind.PIPELINE_CLOSE_DAY, run_close_day)
    registry.register(JobKind.PIPELINE_CHECK, run_check)
    registry.every(JobKind.PIPELINE_CHECK, CHECK_INTERVAL, schedule_checks)


async def run_close_day(ctx: JobContext, job: Job) -> None:
    """The `PIPELINE_CLOSE_DAY` handler: close the user's day (deliver its physical and body
    summaries) unless a fetch already did.

    When the day's stored physical summary has no intraday samples (its last sync came before
    midnight, while samples were not worth a call), the day's final activity update is fetched
    first (`DAY_END_ACTIVITY`) and the day closed with it; should that fail for good, the day is
    closed with what is stored, so its summaries are never held back by Withings.
    """
    try:
        connection_id = uuid.UUID(str(job.payload["connection_id"]))
        day = date.fromisoformat(str(job.payload["local_date"]))
    except (KeyError, ValueError) as error:
        raise Park(f"not a close-day payload: {error}") from None
    async with ctx.sessions() as session:
        target = await load_target(session, connection_id)
        summaries = (
            {}
            if target is None
            else await stored_physical_summaries(session, target.user.id, [day])
        )
        prior = await archived_by(session, job) if job.last_error is not None else []
    summary = summaries.get(day)
    if target is not None and summary is not None and not has_intraday(summary):
        request = FetchRequest(connection_id, Domain.ACTIVITY, day.isoformat(), day.isoformat())
        try:
            if await fetch_and_store(ctx, job, request, target, DAY_END_ACTIVITY, prior, close=day):
                return
        except Retry:
            raise
        except Exception as error:
            logger.warning("day_end_fetch_failed", error=describe_error(error))
    now = utc_now()
    async with ctx.sessions.begin() as session:
        await locked_state(session, connection_id, now=now)
        connection = await session.get(WithingsConnection, connection_id)
        user = None if connection is None else await session.get(User, connection.user_pk)
        client = None if user is None else await session.get(Client, user.client_id)
        if user is not None and client is not None:
            await close_day(session, client=client, user=user, day=day, now=now)
        await ctx.complete_in(session)
