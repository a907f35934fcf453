"""Access tokens: the stored one while it is fresh, else refreshed, one refresh at a time.

Withings refresh tokens rotate on every refresh and are single use, so two processes refreshing
the same connection at once would burn each other's token (and trip Withings' "same arguments
within 10 s" 601). One refresh per connection runs at a time:

* PostgreSQL: the connection row is locked (`SELECT … FOR UPDATE`) for the whole refresh, so
  the lock holds across every process and machine of the deployment;
* SQLite: the database write lock cannot be held across the Withings call (it would stall every
  other writer meanwhile), yet several processes may run jobs on one file (`rookery serve` and a
  worker, or two workers). A refresh takes an in-process lock per connection (the cheap wait
  within a process), then a lease on the row: in one transaction (SQLite's `BEGIN IMMEDIATE`
  holds the write lock, so the read and the write are one step for every process) it re-reads
  the row and, unless another process's lease is still running, writes `refresh_lease_until`
  and commits; it calls Withings, then in a second transaction stores the tokens and clears the
  lease. A refresh that finds the lease held does not call Withings: it raises `RefreshLeased`
  (a `Retry`: a job defers itself for a couple of seconds, by when the holder has stored the new
  token, which the next try finds). The lease runs `REFRESH_LEASE`, longer than the call may
  take (`REFRESH_CALL_LIMIT` bounds it), so a holder that crashed holds nobody back for longer;
  a failed call clears it at once, so the retry need not wait for its expiry. Leases are judged
  by the same clock as token expiry.

Either way the row is re-read once the lock is held — another process may just have refreshed —
and the rotated refresh token is committed before the new access token is handed out. A refresh
that fails for a transient reason (Withings unavailable, a timeout, a 601) raises and leaves the
connection as it was (on SQLite, its lease cleared), to be retried; only `WithingsInvalidGrant`
means the grant is dead: the connection is marked `needs_relink` and the client is told
(`extraction_failed`). On SQLite, a connection relinked while Withings answered keeps its newer
grant: the refreshed one is dropped.

A refresh is a Withings call like any other: it takes a grant from the deployment's rate limit
(`rookery.jobs.ratelimit`) at notification priority (a refresh unblocks every call of the
connection, so backfill's reserve rule does not apply), and a 601 holds the whole deployment.
The grant is taken before the row lock or the lease, never while holding either: `acquire` does
not wait, and when no grant is free the refresh raises `RefreshDeferred` (a `Retry`, so a job
defers itself) without touching the connection. A lease already seen held before the grant
defers the refresh without taking one. Of two processes racing to refresh, the one that finds
the token already replaced (or, on SQLite, the lease taken) once it holds the lock leaves its
grant unused (counted, never exceeded).

No token is ever logged.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Final

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rookery.connections.context import ConnectionContext
from rookery.connections.links import mark_needs_relink
from rookery.errors import ConflictError, NotFoundError
from rookery.jobs import ratelimit
from rookery.jobs.kinds import Priority
from rookery.jobs.registry import Retry
from rookery.jobs.shield import to_completion
from rookery.store.enums import ConnectionState
from rookery.store.tables import WithingsConnection
from rookery.withings.client import OAUTH2_SERVICE
from rookery.withings.errors import WithingsInvalidGrant, WithingsRateLimited, WithingsUnavailable
from rookery.withings.responses import TokenSet

logger = structlog.get_logger(__name__)

# Refresh this long before the access token expires, so that a call started just before expiry
# does not fail with a 401 midway.
REFRESH_MARGIN: Final = timedelta(minutes=5)

# SQLite: the longest a refresh waits for Withings while its lease keeps other processes out.
# Above what `rookery.app.HTTP_TIMEOUT` gives one call (10 s to connect, 30 s to read), so that
# the HTTP client's own timeout ends a slow call first; this bound holds whatever the phases add.
REFRESH_CALL_LIMIT: Final = timedelta(seconds=40)
# A lease outlasts the call by the time its two commits may take: a live holder never overruns
# it, and a holder that crashed holds nobody back for longer.
REFRESH_LEASE: Final = REFRESH_CALL_LIMIT + timedelta(seconds=10)
# How soon a refresh that found the lease held asks again: a refresh takes about a second.
LEASE_RETRY_S: Final = 2.0

# One asyncio.Lock per (event loop, connection): a lock belongs to the loop it first waits on.
_local_locks: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[uuid.UUID, asyncio.Lock]
] = weakref.WeakKeyDictionary()


class NotLinkedError(ConflictError):
    """The connection has no usable grant: unlinked, or waiting for the user to link again."""

    def __init__(self, connection_id: uuid.UUID, state: ConnectionState) -> None:
        super().__init__(f"the Withings connection is {state.value}")
        self.connection_id = connection_id
        self.state = state


class RefreshDeferred(Retry):
    """No Withings call is free for a refresh now: nothing was changed; ask again after
    `after_s` seconds (a job raising it is deferred, not failed)."""

    def __init__(self, after_s: float) -> None:
        super().__init__(after_s, "Withings rate limit (shared budget): token refresh")


class RefreshLeased(Retry):
    """Another process is refreshing the connection's tokens (SQLite's refresh lease): Withings
    was not called and nothing was changed; ask again after `after_s` seconds, by when the new
    token is stored (a job raising it is deferred, not failed)."""

    def __init__(self, after_s: float) -> None:
        super().__init__(after_s, "token refresh under way in another process")


async def access_token(
    ctx: ConnectionContext,
    connection_id: uuid.UUID,
    *,
    loaded: WithingsConnection | None = None,
) -> str:
    """A valid access token for the connection, refreshed first when it expires within
    `REFRESH_MARGIN`. `loaded` is the connection's row if the caller has just read it (its
    token is used without reading it again; if another process has rotated it meanwhile,
    Withings' 401 leads to `force_refresh`, which finds the new one).

    Raises `NotLinkedError` (unlinked or needs re-link, including when this refresh found the
    grant dead), `NotFoundError` for an unknown connection, `RefreshDeferred` when a refresh is
    due and the rate limit has no call free, `RefreshLeased` when another process is refreshing
    (SQLite), and the `WithingsError` of a refresh that failed for a transient reason (retry
    later; nothing was changed; a 601 also holds the deployment's calls for its wait).
    """
    if loaded is None:
        async with ctx.sessions() as session:
            loaded = await _get(session, connection_id)
    token = _usable_token(ctx, loaded, rejected=None)
    if token is not None:
        return token
    return await _refresh(ctx, connection_id, rejected=None)


async def force_refresh(
    ctx: ConnectionContext, connection_id: uuid.UUID, *, rejected_token: str
) -> str:
    """A new access token after Withings answered 401 to `rejected_token`.

    If another process already replaced that token, its token is returned and Withings is not
    called. Raises as `access_token` does.
    """
    return await _refresh(ctx, connection_id, rejected=rejected_token)


async def _refresh(
    ctx: ConnectionContext, connection_id: uuid.UUID, *, rejected: str | None
) -> str:
    async with _local_lock(connection_id):
        async with ctx.sessions() as session:
            connection = await _get(session, connection_id)
        token = _usable_token(ctx, connection, rejected=rejected)
        if token is not None:
            return token  # replaced meanwhile (this process, or another): no call needed
        _defer_to_lease_holder(ctx, connection)  # before the grant, which it would waste
        await _take_grant(ctx)
        try:
            async with ctx.sessions() as session:
                if ctx.settings.is_postgresql:
                    return await _refresh_holding_row_lock(ctx, session, connection_id, rejected)
                return await _refresh_under_lease(ctx, session, connection_id, rejected)
        except WithingsRateLimited as limited:
            # Held once the row lock is released: `hold` is a transaction of its own.
            await ratelimit.hold(ctx.engine, wait_s=limited.wait_seconds)
            raise


async def _take_grant(ctx: ConnectionContext) -> None:
    """Count the refresh against the deployment's Withings limit, or raise `RefreshDeferred`."""
    wait_s = await ratelimit.acquire(
        ctx.engine,
        per_minute=ctx.settings.withings_rate_limit_per_minute,
        priority=Priority.NOTIFICATION,
    )
    if wait_s > 0:
        logger.info("withings_refresh_deferred", wait_s=round(wait_s, 3))
        raise RefreshDeferred(wait_s)


async def _refresh_holding_row_lock(
    ctx: ConnectionContext, session: AsyncSession, connection_id: uuid.UUID, rejected: str | None
) -> str:
    async with session.begin():
        connection = await _get(session, connection_id, lock=True)
        token = _usable_token(ctx, connection, rejected=rejected)
        if token is not None:
            return token
        tokens = await _call_refresh(ctx, connection)
        if tokens is None:
            await mark_needs_relink(session, connection, now=ctx.now())
        else:
            _store(ctx, connection, tokens)
    # Committed: the rotated refresh token is safe before its access token is used.
    if tokens is None:
        raise NotLinkedError(connection_id, ConnectionState.NEEDS_RELINK)
    return tokens.access_token


async def _refresh_under_lease(
    ctx: ConnectionContext, session: AsyncSession, connection_id: uuid.UUID, rejected: str | None
) -> str:
    async with session.begin():
        connection = await _get(session, connection_id, lock=True)
        token = _usable_token(ctx, connection, rejected=rejected)
        if token is not None:
            return token
        _defer_to_lease_holder(ctx, connection)
        seen_refresh = _plain(ctx, connection.refresh_token_encrypted)
        lease = ctx.now() + REFRESH_LEASE
        connection.refresh_lease_until = lease
    # Committed: from here on, other processes defer instead of refreshing the same token.
    try:
        tokens = await _call_refresh_within_lease(ctx, connection)
    except BaseException:
        # Nothing to store: let the next try in now rather than at the lease's expiry.
        await to_completion(_release_lease_alone(session, connection_id, lease))
        raise
    async with session.begin():
        connection = await _get(session, connection_id, lock=True)
        _release_lease(connection, lease)
        # Relinked (or unlinked) while Withings answered: the stored grant is newer than the one
        # just refreshed, so it wins; a dead old grant says nothing about it. Plaintexts are
        # compared: a key rotation re-encrypts the same token meanwhile.
        relinked = _plain(ctx, connection.refresh_token_encrypted) != seen_refresh
        if not relinked:
            if tokens is None:
                await mark_needs_relink(session, connection, now=ctx.now())
            else:
                _store(ctx, connection, tokens)
    # Committed (the lease cleared with it), before any token is handed out.
    if relinked:
        token = _usable_token(ctx, connection, rejected=None)
        if token is None:
            raise NotLinkedError(connection_id, connection.state)
        return token
    if tokens is None:
        raise NotLinkedError(connection_id, ConnectionState.NEEDS_RELINK)
    return tokens.access_token


async def _call_refresh_within_lease(
    ctx: ConnectionContext, connection: WithingsConnection
) -> TokenSet | None:
    """`_call_refresh`, given up (as a transient failure) at `REFRESH_CALL_LIMIT`, so that the
    call ends before its lease does."""
    try:
        async with asyncio.timeout(REFRESH_CALL_LIMIT.total_seconds()):
            return await _call_refresh(ctx, connection)
    except TimeoutError as error:
        raise WithingsUnavailable(
            f"Withings {OAUTH2_SERVICE} requesttoken: no answer within the refresh lease",
            service=OAUTH2_SERVICE,
            action="requesttoken",
        ) from error


def _defer_to_lease_holder(ctx: ConnectionContext, connection: WithingsConnection) -> None:
    """Raise `RefreshLeased` while another process's refresh lease on the connection runs."""
    lease = connection.refresh_lease_until
    if lease is None:
        return
    remaining_s = (lease - ctx.now()).total_seconds()
    if remaining_s > 0:
        logger.info("withings_refresh_leased", connection_id=str(connection.id))
        raise RefreshLeased(min(LEASE_RETRY_S, remaining_s))


def _release_lease(connection: WithingsConnection, lease: datetime) -> None:
    # Only this refresh's own lease: had it expired, another process might hold the next one.
    if connection.refresh_lease_until == lease:
        connection.refresh_lease_until = None


async def _release_lease_alone(
    session: AsyncSession, connection_id: uuid.UUID, lease: datetime
) -> None:
    async with session.begin():
        _release_lease(await _get(session, connection_id, lock=True), lease)


async def _call_refresh(ctx: ConnectionContext, connection: WithingsConnection) -> TokenSet | None:
    """The new token pair, or None when Withings says the grant is dead; transient errors raise."""
    assert connection.refresh_token_encrypted is not None  # checked by `_usable_token`
    refresh_token = ctx.cipher.decrypt(connection.refresh_token_encrypted)
    try:
        tokens = await ctx.withings.refresh_token(refresh_token)
    except WithingsInvalidGrant:
        logger.warning("withings_refresh_refused", connection_id=str(connection.id))
        return None
    logger.info("withings_token_refreshed", connection_id=str(connection.id))
    return tokens


def _plain(ctx: ConnectionContext, ciphertext: str | None) -> str | None:
    return None if ciphertext is None else ctx.cipher.decrypt(ciphertext)


def _store(ctx: ConnectionContext, connection: WithingsConnection, tokens: TokenSet) -> None:
    connection.access_token_encrypted = ctx.cipher.encrypt(tokens.access_token)
    connection.refresh_token_encrypted = ctx.cipher.encrypt(tokens.refresh_token)
    connection.access_token_expires_at = ctx.now() + timedelta(seconds=tokens.expires_in)


def _usable_token(
    ctx: ConnectionContext, connection: WithingsConnection, *, rejected: str | None
) -> str | None:
    """The stored access token if it may be used now, None if a refresh is due; raises
    `NotLinkedError` when there is no grant to refresh."""
    if connection.state is not ConnectionState.LINKED or connection.refresh_token_encrypted is None:
        raise NotLinkedError(connection.id, connection.state)
    if connection.access_token_encrypted is None or connection.access_token_expires_at is None:
        return None
    if connection.access_token_expires_at - REFRESH_MARGIN <= ctx.now():
        return None
    token = ctx.cipher.decrypt(connection.access_token_encrypted)
    return None if token == rejected else token


async def _get(
    session: AsyncSession, connection_id: uuid.UUID, *, lock: bool = False
) -> WithingsConnection:
    query = select(WithingsConnection).where(WithingsConnection.id == connection_id)
    if lock:
        query = query.with_for_update()
    connection = await session.scalar(query.execution_options(populate_existing=True))
    if connection is None:
        raise NotFoundError(f"no Withings connection {connection_id}")
    return connection


@asynccontextmanager
async def _local_lock(connection_id: uuid.UUID) -> AsyncIterator[None]:
    locks = _local_locks.setdefault(asyncio.get_running_loop(), {})
    lock = locks.setdefault(connection_id, asyncio.Lock())
    async with lock:
        yield
