"""The backfill: on linking, the connection's last `ROOKERY_BACKFILL_DAYS` days, one ranged fetch
per data domain its scopes allow (date ranges, never a call per day; sleep `get` only for the
nights that exist), at backfill priority, so the rate limit serves notifications first.

Its progress (fetches done out of fetches queued) is on the connection's sync state.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import structlog

from rookery.jobs.kinds import JobKind, Priority
from rookery.jobs.queue import enqueue
from rookery.jobs.registry import JobContext, Park
from rookery.pipeline.fetch import FetchRequest, load_target
from rookery.pipeline.plans import PLANS, Domain, WindowKind, domains_for
from rookery.pipeline.state import locked_state
from rookery.store.tables import BackfillStatus, Job, WithingsConnection, utc_now

logger = structlog.get_logger(__name__)


def backfill_requests(
    connection_id: uuid.UUID, domains: tuple[Domain, ...], *, days: int, now: datetime
) -> list[FetchRequest]:
    """The fetches of a backfill of `days` days up to `now`, one per domain. Date windows are
    UTC dates one day wider on each side: the user's zone is not known yet."""
    start = now - timedelta(days=days)
    requests: list[FetchRequest] = []
    for domain in domains:
        if PLANS[domain].window is WindowKind.DATE:
            first = start.astimezone(UTC).date() - timedelta(days=1)
            last = now.astimezone(UTC).date() + timedelta(days=1)
            requests.append(
                FetchRequest(
                    connection_id, domain, first.isoformat(), last.isoformat(), backfill=True
                )
            )
        else:
            requests.append(
                FetchRequest(
                    connection_id,
                    domain,
                    int(start.timestamp()),
                    int(now.timestamp()),
                    backfill=True,
                )
            )
    return requests


async def run_backfill(ctx: JobContext, job: Job) -> None:
    """The `PIPELINE_BACKFILL` handler: queue the connection's backfill fetches and start its
    progress, in one transaction."""
    try:
        connection_id = uuid.UUID(str(job.payload["connection_id"]))
    except (KeyError, ValueError) as error:
        raise Park(f"not a backfill payload: {error}") from None
    now = utc_now()
    async with ctx.sessions.begin() as session:
        target = await load_target(session, connection_id)
        connection = await session.get(WithingsConnection, connection_id)
        if target is None or connection is None:
            return
        domains = domains_for(connection.scopes) if ctx.settings.backfill_days > 0 else ()
        requests = backfill_requests(
            connection_id, domains, days=ctx.settings.backfill_days, now=now
        )
        state = await locked_state(session, connection_id, now=now)
        state.backfill_status = BackfillStatus.RUNNING if requests else BackfillStatus.DONE
        state.backfill_steps_total = len(requests)
        state.backfill_steps_done = 0
        state.backfill_started_at = now
        state.backfill_finished_at = None if requests else now
        for request in requests:
            await enqueue(
                session,
                JobKind.PIPELINE_FETCH,
                request.payload(),
                priority=Priority.BACKFILL,
                dedupe_key=f"{JobKind.PIPELINE_BACKFILL}:{connection_id}:{request.domain}",
                connection_id=connection_id,
                now=now,
            )
        await ctx.complete_in(session)
    logger.info("backfill_started", domains=[request.domain.value for request in requests])
