"""Withings calls of one job: each one paid for from the deployment's rate limit, recorded for the
archive, with the connection's token (refreshed once after a 401).

The client puts every request to this module's gate before making it, continuation pages
included: a request an earlier run of the job was already answered (its archive, `prior`) is
answered from there, without a call; any other takes a grant from `rookery.jobs.ratelimit`
first. So a job deferred halfway, which runs again from the start, pays only for what it had not
got. When no grant is free, or Withings answers 601, the job is deferred (`Retry`) instead of
waiting in a worker; a 601 also stops every process calling Withings for its `wait_seconds`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TypeVar

from rookery.connections.context import ConnectionContext
from rookery.connections.tokens import access_token, force_refresh
from rookery.jobs import ratelimit
from rookery.jobs.registry import JobContext, Retry
from rookery.pipeline.rebuild import RawCall
from rookery.store.tables import WithingsConnection
from rookery.withings.client import OAUTH2_SERVICE, Exchange, WithingsClient
from rookery.withings.errors import WithingsAuthError, WithingsRateLimited

T = TypeVar("T")

RequestKey = tuple[str, str, tuple[tuple[str, str], ...]]


class JobCalls:
    """The Withings calls of one job for one connection; `exchanges` holds every exchange made
    (token refreshes included), in order, for the archive. `prior` are the exchanges of the
    job's earlier runs, whose answers are reused."""

    def __init__(
        self,
        ctx: JobContext,
        *,
        connection_id: uuid.UUID,
        priority: int,
        loaded: WithingsConnection | None = None,
        prior: Iterable[RawCall] = (),
    ) -> None:
        self._ctx = ctx
        self._connection_id = connection_id
        self._priority = priority
        self._loaded = loaded
        self._answered = answered_requests(prior)
        self._token: str | None = None
        self.exchanges: list[Exchange] = []
        self.connection = ConnectionContext.from_resources(
            ctx.resources, recorder=self._record, gate=self._gate
        )

    @property
    def withings(self) -> WithingsClient:
        """The Withings client whose calls are recorded here."""
        return self.connection.withings

    @property
    def calls_made(self) -> int:
        """How many requests reached (or tried to reach) Withings."""
        return len(self.exchanges)

    async def call(self, request: Callable[[str], Awaitable[T]]) -> T:
        """Run `request(access_token)`, each of its calls once a grant is free: a 401 refreshes
        the token and tries once more; a 601 holds the deployment's calls and defers the job
        (`Retry`).

        Raises `Retry` when the rate limit has no grant now, `NotLinkedError` when the
        connection has no usable grant, and the `WithingsError` of a failed call.
        """
        # The token before any grant: a refresh it needs pays for itself, and may defer first.
        if self._token is None:
            self._token = await access_token(
                self.connection, self._connection_id, loaded=self._loaded
            )
        token = self._token
        try:
            try:
                return await request(token)
            except WithingsAuthError:
                token = await force_refresh(
                    self.connection, self._connection_id, rejected_token=token
                )
                self._token = token
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

    async def _gate(self, service: str, action: str, params: Mapping[str, str]) -> str | None:
        if service == OAUTH2_SERVICE:
            return None  # token calls take their own grant (`rookery.connections.tokens`)
        answered = self._answered.get(request_key(service, action, params))
        if answered is None:
            await self.take_grant()
        return answered

    async def _record(self, exchange: Exchange) -> None:
        self.exchanges.append(exchange)


def request_key(service: str, action: str, params: Mapping[str, str]) -> RequestKey:
    """What identifies a request among a job's exchanges."""
    return service, action, tuple(sorted(params.items()))


def answered_requests(calls: Iterable[RawCall]) -> dict[RequestKey, str]:
    """The bodies of the requests among `calls` that Withings answered with data (HTTP 200,
    status 0): what running the same request again would only repeat."""
    answered: dict[RequestKey, str] = {}
    for call in calls:
        if call.http_status != 200 or call.response_text is None:
            continue
        if _status(call.response_text) == 0:
            answered[request_key(call.service, call.action, call.params)] = call.response_text
    return answered


def _status(text: str) -> object:
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return payload.get("status") if isinstance(payload, dict) else None
