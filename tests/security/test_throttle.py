"""Repeated failures to prove a secret are slowed down (`rookery.api.throttle`): the client API's
Basic auth, the dashboard sign-in, the Withings notification token and the `/metrics` token."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx2
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rookery.api.throttle import SOURCE_LIMIT, FailureThrottle, Limit
from rookery.config import Settings
from rookery.connections.deployment import notify_token
from rookery.store.clients import NewClient
from rookery.store.crypto import TokenCipher
from tests.conftest import SettingsFactory

pytestmark = pytest.mark.anyio

ClientFactory = Callable[..., Awaitable[NewClient]]
ADMIN_TOKEN = "operator-token-for-throttle-tests-0123"
DATA_SOURCES = "/api/v1/client/data_sources"


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def settings(make_settings: SettingsFactory, database_url: str) -> Settings:
    return make_settings(database_url, admin_token=ADMIN_TOKEN)


@pytest.fixture
def clock(app: FastAPI) -> Clock:
    """The app's throttle, with the product's limits, on a clock the test moves."""
    clock = Clock()
    app.state.throttle = FailureThrottle(clock=clock)
    return clock


@pytest.fixture
async def from_elsewhere(
    app: FastAPI, api: httpx2.AsyncClient
) -> AsyncIterator[httpx2.AsyncClient]:
    """A client of the same app whose requests come from another address."""
    transport = httpx2.ASGITransport(app=app, client=("192.0.2.7", 4000))
    async with httpx2.AsyncClient(transport=transport, base_url=str(api.base_url)) as client:
        yield client


async def test_a_source_is_locked_out_after_repeated_wrong_secrets_then_let_back_in(
    api: httpx2.AsyncClient,
    from_elsewhere: httpx2.AsyncClient,
    new_client: ClientFactory,
    clock: Clock,
) -> None:
    alice, bob = await new_client(name="Alice"), await new_client(name="Bob")
    alice_auth = (str(alice.client_uuid), alice.secret_key)
    for attempt in range(SOURCE_LIMIT.max_failures):
        wrong = await api.get(DATA_SOURCES, auth=(str(bob.client_uuid), f"guess-{attempt}"))
        assert wrong.status_code == 401, attempt

    # Locked out: even the right secret is not looked at, from this address.
    refused = await api.get(DATA_SOURCES, auth=alice_auth)
    assert refused.status_code == 429
    assert refused.json()["error"] == "Too Many Requests"
    assert int(refused.headers["Retry-After"]) == SOURCE_LIMIT.lockout_s
    # Another address, and the client whose uuid was guessed at (below its own limit), go on.
    assert (await from_elsewhere.get(DATA_SOURCES, auth=alice_auth)).status_code == 200
    bob_auth = (str(bob.client_uuid), bob.secret_key)
    assert (await from_elsewhere.get(DATA_SOURCES, auth=bob_auth)).status_code == 200

    clock.now += SOURCE_LIMIT.lockout_s - 1
    assert (await api.get(DATA_SOURCES, auth=alice_auth)).status_code == 429
    assert (await api.get(DATA_SOURCES, auth=alice_auth)).headers["Retry-After"] == "1"
    clock.now += 1
    assert (await api.get(DATA_SOURCES, auth=alice_auth)).status_code == 200


async def test_failures_spread_beyond_the_window_never_lock_and_success_resets_nothing(
    api: httpx2.AsyncClient, new_client: ClientFactory, clock: Clock
) -> None:
    alice = await new_client(name="Alice")
    alice_auth = (str(alice.client_uuid), alice.secret_key)
    wrong = (str(alice.client_uuid), "wrong")
    for _ in range(3):
        for _ in range(SOURCE_LIMIT.max_failures - 1):
            assert (await api.get(DATA_SOURCES, auth=wrong)).status_code == 401
        clock.now += SOURCE_LIMIT.window_s
    assert (await api.get(DATA_SOURCES, auth=alice_auth)).status_code == 200

    # A success in between does not clear the count: the limit is reached all the same.
    for _ in range(SOURCE_LIMIT.max_failures - 1):
        assert (await api.get(DATA_SOURCES, auth=wrong)).status_code == 401
    assert (await api.get(DATA_SOURCES, auth=alice_auth)).status_code == 200
    assert (await api.get(DATA_SOURCES, auth=wrong)).status_code == 401
    assert (await api.get(DATA_SOURCES, auth=alice_auth)).status_code == 429


async def test_a_credential_guessed_at_from_many_sources_is_locked_out_everywhere(
    app: FastAPI, new_client: ClientFactory, api: httpx2.AsyncClient
) -> None:
    credential_limit = Limit(max_failures=6, window_s=300.0, lockout_s=60.0)
    app.state.throttle = FailureThrottle(credential_limit=credential_limit)
    alice = await new_client(name="Alice")
    for attempt in range(credential_limit.max_failures):
        transport = httpx2.ASGITransport(app=app, client=(f"198.51.100.{attempt}", 4000))
        async with httpx2.AsyncClient(transport=transport, base_url=str(api.base_url)) as http:
            guess = await http.get(DATA_SOURCES, auth=(str(alice.client_uuid).upper(), "guess"))
            assert guess.status_code == 401
    # The same uuid in another spelling is the same credential.
    locked = await api.get(DATA_SOURCES, auth=(str(alice.client_uuid), alice.secret_key))
    assert locked.status_code == 429
    assert locked.headers["Retry-After"] == "60"


async def test_the_dashboard_sign_in_is_locked_out_after_repeated_failures(
    api: httpx2.AsyncClient, new_client: ClientFactory, clock: Clock
) -> None:
    alice = await new_client(name="Alice")
    for attempt in range(SOURCE_LIMIT.max_failures):
        failed = await _sign_in(api, admin_token=f"guess-{attempt}")
        assert failed.status_code == 401, attempt
    refused = await _sign_in(api, client_uuid=str(alice.client_uuid), secret_key=alice.secret_key)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == str(int(SOURCE_LIMIT.lockout_s))
    assert "Too many attempts" in refused.text
    assert "rookery_dashboard=" not in refused.headers.get("set-cookie", "")
    clock.now += SOURCE_LIMIT.lockout_s
    signed_in = await _sign_in(api, admin_token=ADMIN_TOKEN)
    assert signed_in.status_code == 303


async def test_wrong_notification_tokens_lock_the_source_out(
    api: httpx2.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    cipher: TokenCipher,
    clock: Clock,
) -> None:
    async with sessions.begin() as session:
        token = await notify_token(session, cipher)
    form = {"userid": "999", "appli": "1", "startdate": "1700000000", "enddate": "1700000060"}
    for attempt in range(SOURCE_LIMIT.max_failures):
        wrong = await api.post(f"/withings/notify?token=guess{attempt}", data=form)
        assert wrong.status_code == 401, attempt
    refused = await api.post(f"/withings/notify?token={token}", data=form)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == str(int(SOURCE_LIMIT.lockout_s))
    clock.now += SOURCE_LIMIT.lockout_s
    assert (await api.post(f"/withings/notify?token={token}", data=form)).status_code == 200


async def test_wrong_metrics_tokens_are_locked_out(api: httpx2.AsyncClient, clock: Clock) -> None:
    for attempt in range(SOURCE_LIMIT.max_failures):
        wrong = await api.get("/metrics", headers={"Authorization": f"Bearer guess-{attempt}"})
        assert wrong.status_code == 401, attempt
    right = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert (await api.get("/metrics", headers=right)).status_code == 429
    clock.now += SOURCE_LIMIT.lockout_s
    assert (await api.get("/metrics", headers=right)).status_code == 200


def test_the_number_of_remembered_keys_is_bounded() -> None:
    throttle = FailureThrottle(max_tracked_keys=100)
    for address in range(1000):
        throttle.record_failure(f"10.0.{address // 256}.{address % 256}")
    for _ in range(SOURCE_LIMIT.max_failures):
        throttle.record_failure("203.0.113.1")
    assert throttle.refusal("203.0.113.1") is not None
    assert throttle.refusal("10.0.0.0") is None


async def _sign_in(api: httpx2.AsyncClient, **credentials: str) -> httpx2.Response:
    form = await api.get("/dashboard/login")
    token = re.search(r'name="token" value="([^"]+)"', form.text)
    assert token is not None
    return await api.post("/dashboard/login", data={"token": token.group(1), **credentials})
