"""What the connection code needs to run: storage, the cipher, a Withings client and a clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import httpx2
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from rookery.config import Settings
from rookery.metrics import Metrics
from rookery.store.crypto import TokenCipher
from rookery.store.tables import utc_now
from rookery.withings.client import CallGate, Exchange, ExchangeRecorder, WithingsClient

if TYPE_CHECKING:
    from rookery.app import Resources


@dataclass(frozen=True, slots=True)
class ConnectionContext:
    """Everything `access_token`, the OAuth callback and the connection jobs use.

    `clock` is the time tokens are judged by (tests pass the sandbox's clock).
    """

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    cipher: TokenCipher
    withings: WithingsClient
    clock: Callable[[], datetime] = field(default=utc_now)

    def now(self) -> datetime:
        """The current instant, aware, by `clock`."""
        return self.clock()

    @classmethod
    def from_resources(
        cls,
        resources: Resources,
        *,
        recorder: ExchangeRecorder | None = None,
        gate: CallGate | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> ConnectionContext:
        """The context of a running process (server, worker, CLI); every Withings call it
        makes is counted in the process's metrics, then passed to `recorder` (and each is
        first put to `gate`, when given)."""
        counted = _counting(resources.metrics, recorder)
        return cls(
            settings=resources.settings,
            engine=resources.engine,
            sessions=resources.sessions,
            cipher=resources.cipher,
            withings=withings_client(
                resources.settings, resources.http, recorder=counted, gate=gate
            ),
            clock=clock,
        )


def _counting(metrics: Metrics, recorder: ExchangeRecorder | None) -> ExchangeRecorder:
    if recorder is None:
        return metrics.record_withings_call

    async def record(exchange: Exchange) -> None:
        await metrics.record_withings_call(exchange)
        await recorder(exchange)

    return record


def withings_client(
    settings: Settings,
    http: httpx2.AsyncClient,
    *,
    recorder: ExchangeRecorder | None = None,
    gate: CallGate | None = None,
) -> WithingsClient:
    """The Withings client for `settings` on the shared HTTP client `http`."""
    return WithingsClient(
        http,
        api_url=str(settings.withings_api_url),
        client_id=settings.withings_client_id,
        client_secret=settings.withings_client_secret.get_secret_value(),
        recorder=recorder,
        gate=gate,
    )
