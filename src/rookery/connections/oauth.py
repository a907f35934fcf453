"""Withings consent: single-use states, the authorization URL, and the callback's outcome.

A state is 32 random bytes, kept only as its SHA-256, bound to the client, the user and the
redirect URL it was issued for, valid `STATE_LIFETIME`, and deleted by its first use (the
DELETE … RETURNING decides, so two callbacks racing with one state cannot both win). The callback
exchanges the code at once (codes live 30 s) and stores the connection in the transaction that
also queues what follows from it (`links.link`).

The exchange counts against the deployment's Withings rate limit like every call. A user is
waiting and the code expires soon, so it cannot be deferred as a job is: the callback waits up to
`CODE_GRANT_WAIT_S` for a free call, then fails the consent cleanly (the user tries again).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import structlog
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from rookery.config import Settings
from rookery.connections.context import ConnectionContext
from rookery.connections.links import link
from rookery.jobs import ratelimit
from rookery.jobs.kinds import Priority
from rookery.store.clients import is_data_source_enabled
from rookery.store.enums import DataSource
from rookery.store.tables import Client, OAuthState
from rookery.withings.codes import Scope
from rookery.withings.errors import WithingsError, WithingsInvalidGrant, WithingsRateLimited

logger = structlog.get_logger(__name__)

CALLBACK_PATH: Final = "/withings/oauth/callback"
# Long enough for a user to read the consent page and log in; the code itself lives 30 s.
STATE_LIFETIME: Final = timedelta(minutes=30)
_STATE_BYTES: Final = 32
# What Rookery reads: measures and ECG (user.metrics); activity, workouts, sleep (user.activity);
# user.info for Withings' own unlink notification (appli 46), as Home Assistant requests it.
REQUESTED_SCOPES: Final = (Scope.INFO, Scope.METRICS, Scope.ACTIVITY)
# The longest the callback waits for a free Withings call before giving up (codes live 30 s).
CODE_GRANT_WAIT_S: Final = 10.0


class ConsentResult(StrEnum):
    """How a consent ended, as shown to the user and passed on to `redirect_url` (`result=`)."""

    CONNECTED = "connected"
    DENIED = "denied"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class PendingConsent:
    """What a state was issued for."""

    client_id: uuid.UUID
    user_id: str
    redirect_url: str | None


@dataclass(frozen=True, slots=True)
class ConsentOutcome:
    """Where the callback sends the user: the connections page or `redirect_url`."""

    pending: PendingConsent
    result: ConsentResult


def callback_url(settings: Settings) -> str:
    """The `redirect_uri` registered with Withings."""
    return settings.public_url_for(CALLBACK_PATH)


def authorization_url(settings: Settings, state: str) -> str:
    """Withings' consent page for a fresh `state`."""
    query = urlencode(
        {
            "response_type": "code",
            "client_id": settings.withings_client_id,
            "scope": ",".join(scope.value for scope in REQUESTED_SCOPES),
            "redirect_uri": callback_url(settings),
            "state": state,
        }
    )
    return f"{settings.withings_authorize_url}?{query}"


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


async def issue_state(
    session: AsyncSession,
    *,
    client_id: uuid.UUID,
    user_id: str,
    redirect_url: str | None,
    now: datetime,
) -> str:
    """A fresh single-use state bound to client, user and redirect URL (checked by the caller).

    Expired states are swept on the way. Caller commits.
    """
    await session.execute(delete(OAuthState).where(OAuthState.expires_at <= now))
    state = secrets.token_urlsafe(_STATE_BYTES)
    session.add(
        OAuthState(
            state_sha256=_digest(state),
            client_id=client_id,
            user_id=user_id,
            redirect_url=redirect_url,
            created_at=now,
            expires_at=now + STATE_LIFETIME,
        )
    )
    await session.flush()
    return state


async def authorization_url_for(
    session: AsyncSession,
    settings: Settings,
    *,
    client_id: uuid.UUID,
    user_id: str,
    redirect_url: str | None,
    now: datetime,
) -> str:
    """Withings' consent page with a fresh state for this client, user and redirect URL."""
    state = await issue_state(
        session, client_id=client_id, user_id=user_id, redirect_url=redirect_url, now=now
    )
    return authorization_url(settings, state)


async def consume_state(
    session: AsyncSession, state: str, *, now: datetime
) -> PendingConsent | None:
    """What `state` was issued for, if ours, unused and unexpired; used up either way."""
    if not state or len(state) > 200:
        return None
    row = (
        await session.execute(
            delete(OAuthState)
            .where(OAuthState.state_sha256 == _digest(state))
            .returning(
                OAuthState.client_id,
                OAuthState.user_id,
                OAuthState.redirect_url,
                OAuthState.expires_at,
            )
        )
    ).one_or_none()
    if row is None or row.expires_at <= now:
        return None
    return PendingConsent(
        client_id=row.client_id, user_id=row.user_id, redirect_url=row.redirect_url
    )


async def complete_consent(
    ctx: ConnectionContext, *, state: str, code: str | None, error: str | None
) -> ConsentOutcome | None:
    """Finish a consent at the callback: None when the state is unknown, used or expired
    (there is nowhere safe to send the user); otherwise where to send them, and how it went.

    The state is used up and committed first, so it cannot be replayed even if what follows
    fails. A code is exchanged at once; a link is committed with its jobs and events.
    """
    async with ctx.sessions() as session, session.begin():
        pending = await consume_state(session, state, now=ctx.now())
    if pending is None:
        return None
    if error is not None or not code:
        # Withings sends `error=access_denied` when the user refuses.
        result = ConsentResult.DENIED if error == "access_denied" else ConsentResult.FAILED
        return ConsentOutcome(pending, result)
    async with ctx.sessions() as session:
        client = await session.get(Client, pending.client_id)
        enabled = client is not None and await is_data_source_enabled(
            session, client.id, DataSource.WITHINGS
        )
    if client is None or not enabled:
        return ConsentOutcome(pending, ConsentResult.FAILED)
    if not await _take_code_grant(ctx):
        logger.warning("withings_code_exchange_rate_limited", client_id=str(pending.client_id))
        return ConsentOutcome(pending, ConsentResult.FAILED)
    try:
        tokens = await ctx.withings.exchange_code(code, callback_url(ctx.settings))
    except WithingsInvalidGrant:
        logger.info("withings_code_refused", client_id=str(pending.client_id))
        return ConsentOutcome(pending, ConsentResult.FAILED)
    except WithingsError as failure:
        if isinstance(failure, WithingsRateLimited):
            await ratelimit.hold(ctx.engine, wait_s=failure.wait_seconds)
        logger.warning(
            "withings_code_exchange_failed",
            client_id=str(pending.client_id),
            error=type(failure).__name__,
        )
        return ConsentOutcome(pending, ConsentResult.FAILED)
    async with ctx.sessions() as session, session.begin():
        client = await session.get(Client, pending.client_id)
        if client is None:  # deleted while Withings answered
            return ConsentOutcome(pending, ConsentResult.FAILED)
        await link(
            session,
            ctx.cipher,
            client=client,
            user_id=pending.user_id,
            tokens=tokens,
            now=ctx.now(),
        )
    return ConsentOutcome(pending, ConsentResult.CONNECTED)


async def _take_code_grant(ctx: ConnectionContext) -> bool:
    """Take a call from the deployment's Withings limit for a code exchange, waiting up to
    `CODE_GRANT_WAIT_S`; False when none came free in time."""
    deadline = time.monotonic() + CODE_GRANT_WAIT_S
    while True:
        wait_s = await ratelimit.acquire(
            ctx.engine,
            per_minute=ctx.settings.withings_rate_limit_per_minute,
            priority=Priority.NOTIFICATION,
        )
        if wait_s == 0:
            return True
        if time.monotonic() + wait_s > deadline:
            return False
        await asyncio.sleep(wait_s)


def with_result(url: str, result: str) -> str:
    """`url` with `data_source=Withings&result=<result>` added to its query."""
    parts = urlsplit(url)
    query = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if key not in {"result", "data_source"}
    ]
    query += [("data_source", DataSource.WITHINGS.value), ("result", result)]
    return urlunsplit(parts._replace(query=urlencode(query)))
