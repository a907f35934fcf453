"""Fixtures of the delivery tests: a loopback receiver, a clock to move by hand, a sender."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx2
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from rookery.delivery.sender import Sender
from rookery.delivery.ssrf import WebhookPolicy
from rookery.delivery.transport import webhook_client
from rookery.store.crypto import TokenCipher
from rookery.store.tables import utc_now
from tests.delivery.receiver import Receiver
from tests.sandbox.servers import serve

SenderFactory = Callable[..., Sender]


class Clock:
    """Real time, moved forward by hand as far as a test needs (no real waiting). Starting at
    the real now matters: Standard Webhooks verifiers check the timestamp against theirs."""

    def __init__(self) -> None:
        self._ahead = timedelta(0)

    @property
    def now(self) -> datetime:
        return utc_now() + self._ahead

    def __call__(self) -> datetime:
        return self.now

    def advance_to(self, moment: datetime) -> None:
        self._ahead += max(moment - self.now, timedelta(0))

    def advance(self, delta: timedelta) -> None:
        self._ahead += delta


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    """A receiver on a free loopback port, and its base URL."""
    app = Receiver()
    with serve(app) as url:
        try:
            yield app, url
        finally:
            app.release()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def webhook_http() -> AsyncIterator[httpx2.AsyncClient]:
    """The production webhook client (pinned transport)."""
    async with webhook_client(max_connections=32) as http:
        yield http


@pytest.fixture
def make_sender(
    engine: AsyncEngine, cipher: TokenCipher, webhook_http: httpx2.AsyncClient, clock: Clock
) -> SenderFactory:
    """`make_sender(**overrides)`: a sender on the test database, loopback allowed, the test's
    clock and a seeded jitter."""

    def build(**overrides: Any) -> Sender:
        options: dict[str, Any] = {
            "engine": engine,
            "cipher": cipher,
            "http": webhook_http,
            "policy": WebhookPolicy(allow_loopback=True),
            "clock": clock,
            "rng": random.Random(7),
        }
        options.update(overrides)
        return Sender(**options)

    return build
