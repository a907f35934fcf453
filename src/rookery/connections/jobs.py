"""The connection's jobs: subscribe a linked user to Withings notifications, revoke a grant.

Both talk to Withings, so both run as durable jobs: a failure is retried later (a 601 defers by
Withings' own wait), never lost, and the user's request that caused them has long returned.
Every request they make takes a grant from the deployment's rate limit first (the one after a
401 too; a token refresh takes its own, in `tokens`), and defers the job when none is free.
"""

from __future__ import annotations

import uuid
from typing import Final, NoReturn

import structlog
from sqlalchemy import select

from rookery.connections.context import ConnectionContext
from rookery.connections.deployment import notify_callback_url
from rookery.connections.tokens import NotLinkedError, access_token, force_refresh
from rookery.jobs import ratelimit
from rookery.jobs.kinds import JobKind
from rookery.jobs.registry import JobContext, Park, Registry, Retry
from rookery.store.enums import ConnectionState
from rookery.store.tables import Job, WithingsConnection
from rookery.withings.codes import APPLIS, SUBSCRIBED_APPLIS, Appli, Scope
from rookery.withings.errors import (
    WithingsAuthError,
    WithingsInvalidParams,
    WithingsRateLimited,
)

logger = structlog.get_logger(__name__)

SUBSCRIPTION_COMMENT: Final = "Rookery"
# The data categories, and first the user category (appli 46, user.info): it carries Withings'
# own unlink notice, which unlinks the user here as a disconnect does.
CONNECTION_APPLIS: Final = (Appli.USER, *SUBSCRIBED_APPLIS)


def register_jobs(registry: Registry) -> None:
    """Register the handlers of `WITHINGS_SUBSCRIBE` and `WITHINGS_REVOKE`."""
    registry.register(JobKind.WITHINGS_SUBSCRIBE, subscribe)
    registry.register(JobKind.WITHINGS_REVOKE, revoke)


def applis_for(scopes: list[str] | tuple[str, ...]) -> tuple[Appli, ...]:
    """The notification categories Rookery subscribes to for these granted scopes, in order."""
    granted = {Scope(scope) for scope in scopes if scope in Scope.__members__.values()}
    return tuple(appli for appli in CONNECTION_APPLIS if APPLIS[appli].scope in granted)


async def subscribe(ctx: JobContext, job: Job) -> None:
    """Subscribe the connection to each category its scopes allow and it lacks, one after the
    other (Withings HEAD-probes the callback on each), recording each success as it comes, so a
    retry resumes where this run stopped. Nothing to do once the connection is unlinked."""
    connection_id = uuid.UUID(str(job.payload["connection_id"]))
    context = ConnectionContext.from_resources(ctx.resources)
    async with ctx.sessions() as session:
        connection = await session.get(WithingsConnection, connection_id)
        if connection is None or connection.state is not ConnectionState.LINKED:
            return
        missing = [
            a for a in applis_for(connection.scopes) if a not in connection.subscribed_applis
        ]
        callback = await notify_callback_url(session, ctx.cipher, ctx.settings)
        await session.commit()  # the notification token, if this created it
    for appli in missing:
        try:
            await _subscribe_one(ctx, job, context, connection_id, appli, callback)
        except NotLinkedError:
            return  # unlinked, or the grant died meanwhile: nothing left to subscribe
        except WithingsRateLimited as limited:
            await _hold(ctx, limited)
        if not await _record(context, connection_id, appli):
            return
    logger.info("withings_subscribed", connection_id=str(connection_id), applis=missing)


async def _subscribe_one(
    ctx: JobContext,
    job: Job,
    context: ConnectionContext,
    connection_id: uuid.UUID,
    appli: Appli,
    callback: str,
) -> None:
    token = await access_token(context, connection_id)
    # After the token: a refresh deferred for want of a grant leaves this one unspent.
    await _take_call(ctx, job)
    try:
        await context.withings.notify_subscribe(
            token, callbackurl=callback, appli=appli, comment=SUBSCRIPTION_COMMENT
        )
    except WithingsAuthError:
        token = await force_refresh(context, connection_id, rejected_token=token)
        await _take_call(ctx, job)  # the second try is a call of its own
        await context.withings.notify_subscribe(
            token, callbackurl=callback, appli=appli, comment=SUBSCRIPTION_COMMENT
        )


async def _record(context: ConnectionContext, connection_id: uuid.UUID, appli: Appli) -> bool:
    """Add `appli` to what the connection is subscribed to; False if it is no longer linked."""
    async with context.sessions() as session, session.begin():
        connection = await session.scalar(
            select(WithingsConnection)
            .where(WithingsConnection.id == connection_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if connection is None or connection.state is not ConnectionState.LINKED:
            return False
        if appli not in connection.subscribed_applis:
            # A new list: the JSON column notices assignment, not mutation.
            connection.subscribed_applis = sorted([*connection.subscribed_applis, int(appli)])
    return True


async def revoke(ctx: JobContext, job: Job) -> None:
    """Revoke the Withings grant of `withings_userid` (Withings drops its subscriptions with
    it), unless a connection to that account is linked again by now (relinked, or linked by
    another client's user: the grant and subscriptions are shared by our app)."""
    withings_userid = int(job.payload["withings_userid"])
    async with ctx.sessions() as session:
        still_linked = await session.scalar(
            select(WithingsConnection.id).where(
                WithingsConnection.withings_userid == withings_userid,
                WithingsConnection.state == ConnectionState.LINKED,
            )
        )
    if still_linked is not None:
        logger.info("withings_revoke_skipped", reason="linked again")
        return
    context = ConnectionContext.from_resources(ctx.resources)
    await _take_call(ctx, job)
    try:
        await context.withings.revoke(str(withings_userid))
    except WithingsRateLimited as limited:
        await _hold(ctx, limited)
    except WithingsInvalidParams as refused:
        # Retrying the same request will not help; keep it visible instead.
        raise Park(f"Withings refused the revoke: {refused}") from None
    logger.info("withings_grant_revoked", job_id=job.id)


async def _take_call(ctx: JobContext, job: Job) -> None:
    """Take one call from the deployment's Withings limit, or defer the job until one is free."""
    wait_s = await ratelimit.acquire(
        ctx.engine, per_minute=ctx.settings.withings_rate_limit_per_minute, priority=job.priority
    )
    if wait_s > 0:
        raise Retry(wait_s, "Withings rate limit (shared budget)")


async def _hold(ctx: JobContext, limited: WithingsRateLimited) -> NoReturn:
    """Withings said 601: nobody calls for its wait, and this job comes back after it."""
    await ratelimit.hold(ctx.engine, wait_s=limited.wait_seconds)
    raise Retry(limited.wait_seconds, "Withings rate limit (601)")
