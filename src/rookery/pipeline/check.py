"""The safety net for lost notifications (Withings drops subscriptions after failed deliveries,
and notifications get lost): once a day per linked connection, re-subscribe what Withings no
longer lists, and pull each domain's changes since its cursor (`lastupdate`).

The daily task only queues one check job per connection; each check queues one `lastupdate`
fetch per domain, at backfill priority, so the sweep never crowds out fresh notifications.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Final

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rookery.connections.deployment import notify_callback_url
from rookery.connections.jobs import applis_for
from rookery.connections.links import connection_payload
from rookery.connections.tokens import NotLinkedError
from rookery.jobs.kinds import JobKind, Priority
from rookery.jobs.queue import enqueue
from rookery.jobs.registry import JobContext, Park
from rookery.pipeline.calls import JobCalls
from rookery.pipeline.fetch import FetchRequest, load_target
from rookery.pipeline.plans import domains_for
from rookery.pipeline.state import cursor_of
from rookery.store.enums import ConnectionState
from rookery.store.tables import Job, WithingsConnection, utc_now

logger = structlog.get_logger(__name__)

CHECK_INTERVAL: Final = timedelta(days=1)


async def schedule_checks(session: AsyncSession, now: datetime) -> None:
    """The daily task: queue a check of every linked connection (one each, whatever runs)."""
    connections = await session.scalars(
        select(WithingsConnection.id).where(WithingsConnection.state == ConnectionState.LINKED)
    )
    for connection_id in connections:
        await enqueue(
            session,
            JobKind.PIPELINE_CHECK,
            {"connection_id": str(connection_id)},
            priority=Priority.BACKFILL,
            dedupe_key=f"{JobKind.PIPELINE_CHECK}:{connection_id}",
            connection_id=connection_id,
            now=now,
        )


async def run_check(ctx: JobContext, job: Job) -> None:
    """The `PIPELINE_CHECK` handler (see the module docstring)."""
    try:
        connection_id = uuid.UUID(str(job.payload["connection_id"]))
    except (KeyError, ValueError) as error:
        raise Park(f"not a check payload: {error}") from None
    async with ctx.sessions() as session:
        target = await load_target(session, connection_id)
        callback = await notify_callback_url(session, ctx.cipher, ctx.settings)
        await session.commit()  # the notification token, if this created it
    if target is None:
        return
    connection = target.connection
    calls = JobCalls(ctx, connection_id=connection_id, priority=job.priority, loaded=connection)
    try:
        listed = await calls.call(lambda token: calls.withings.notify_list(token))
    except NotLinkedError:
        return
    subscribed = {profile.appli for profile in listed if profile.callbackurl == callback}
    expected = set(applis_for(connection.scopes))
    missing = sorted(expected - subscribed)
    now = utc_now()
    async with ctx.sessions.begin() as session:
        current = await session.get(WithingsConnection, connection_id, with_for_update=True)
        if current is None or current.state is not ConnectionState.LINKED:
            await ctx.complete_in(session)
            return
        if missing:
            # What Withings lists is the truth: the subscribe job adds what is not recorded.
            current.subscribed_applis = sorted(int(a) for a in expected & subscribed)
            await enqueue(
                session,
                JobKind.WITHINGS_SUBSCRIBE,
                connection_payload(connection_id),
                dedupe_key=f"{JobKind.WITHINGS_SUBSCRIBE}:{connection_id}",
                connection_id=connection_id,
                now=now,
            )
        for domain in domains_for(current.scopes):
            cursor = await cursor_of(session, connection_id, domain)
            if cursor is None:
                cursor = int((now - timedelta(days=max(ctx.settings.backfill_days, 1))).timestamp())
            request = FetchRequest(connection_id, domain, lastupdate=cursor)
            await enqueue(
                session,
                JobKind.PIPELINE_FETCH,
                request.payload(),
                priority=Priority.BACKFILL,
                dedupe_key=f"{JobKind.PIPELINE_CHECK}:{connection_id}:{domain}",
                connection_id=connection_id,
                now=now,
            )
        await ctx.complete_in(session)
    logger.info("connection_checked", resubscribe=[int(a) for a in missing])
