"""Withings calls of one job: each one paid for from the deployment's rate limit, recorded for the
archive, with the connection's token (refreshed once after a 401).

Every HTTP call takes a grant from `rookery.jobs.ratelimit` first, continuation pages included
(the recorder takes the next page's grant before the client asks for it). When no grant is free,
or Withings answers 601, the job is deferred (`Retry`) instead of waiting in a worker; a 601
also stops every process calling Withings for its `wait_seconds`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

from rookery.connections.context import ConnectionContext
from rookery.connections.tokens import access_token, force_refresh
from rookery.jobs import ratelimit
from rookery.jobs.registry import JobContext, Retry
from rookery.store.tables import WithingsConnection
from rookery.withings.client import Exchange, WithingsClient
from rookery.withings.errors import WithingsAuthError, WithingsRateLimited
from rookery.withings.responses import Endpoint

T = TypeVar("T")

_PAGED: Final = frozenset(
    (endpoint.service, endpoint.action)
    for endpoint in (
        Endpoint.GETMEAS,
        Endpoint.GETACTIVITY,
        Endpoint.GETWORKOUTS,
        Endpoint.SLEEP_GETSUMMARY,
        Endpoint.HEART_LIST,
    )
)


class JobCalls:
    """The Withings calls of one job for one connection; `exchanges` holds every exchange made
    (token refreshes included), in order, for the archive."""

    def __init__(
        self,
        ctx: JobContext,
        *,
        connection_id: uuid.UUID,
        priority: int,
        loaded: WithingsConnection | None = None,
    ) -> None:
        self._ctx = ctx
        self._connection_id = connection_id
        self._priority = priority
        self._loaded = loaded
        self._token: str | None = None
        self.exchanges: list[Exchange] = []
        self.connection = ConnectionContext.from_resources(ctx.resources, recorder=self._record)

    @property
    def withings(self) -> WithingsClient:
        """The Withings client whose calls are recorded here."""
        return self.connection.withings

    @property
    def calls_made(self) -> int:
        """How many requests reached (or tried to reach) Withings."""
        return len(self.exchanges)

    async def call(self, request: Callable[[str], Awaitable[T]]) -> T:
        """Run `request(access_token)` once a grant is free: a 401 refreshes the token and tries
        once more; a 601 holds the deployment's calls and defers the job (`Retry`).

        Raises `Retry` when the rate limit has no grant now, `NotLinkedError` when the
        connection has no usable grant, and the `WithingsError` of a failed call.
        """
        # The token first: a refresh it needs pays for itself, and may defer the job before
        # this call's grant is taken.
        token = self._token or await access_token(
            self.connection, self._connection_id, loaded=self._loaded
        )
        self._token = token
        await self.take_grant()
        try:
            try:
                return await request(token)
            except WithingsAuthError:
                token = await force_refresh(
                    self.connection, self._connection_id, rejected_token=token
                )
                self._token = token
                await self.take_grant()
                return await request(token)
        except WithingsRateLimited as limited:
            await ratelimit.hold(self._ctx.engine, wait_s=limited.wait_seconds)
            raise Retry(limited.wait_seconds, "Withings rate limit (601)") from None

    async def take_grant(self) -> None:
        """Take one call from the deployment's Withings budget, or defer the job."""
        wait_s = await ratelimit.acquire(
            self._ctx.engine,
            per_minute=self._ctx.settings.withings_rate_limit_per_minute,
            priority=self._priority,
        )
        if wait_s > 0:
            raise Retry(wait_s, "Withings rate limit (shared budget)")

    async def _record(self, exchange: Exchange) -> None:
        self.exchanges.append(exchange)
        if (exchange.service, exchange.action) in _PAGED and _has_more(exchange.response_text):
            # The client asks for the next page as soon as this returns: pay for it first.
            await self.take_grant()


def _has_more(text: str | None) -> bool:
    if text is None or '"more"' not in text:
        return False
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):
        return False
    body = payload.get("body") if isinstance(payload, dict) else None
    return (
        isinstance(payload, dict)
        and payload.get("status") == 0
        and isinstance(body, dict)
        and bool(body.get("more"))
    )
