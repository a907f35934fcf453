"""SQLite's refresh lease, against the sandbox over real HTTP: a refresh holds it across its
Withings call, a running lease defers other refreshes without a call (or a rate-limit grant), an
expired one (its holder crashed) is taken over, and a failed call clears it at once.

PostgreSQL locks the row instead and writes no lease; the refresh across processes is tested on
both engines in test_life.py."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import update

from rookery.app import HTTP_TIMEOUT, Resources
from rookery.connections import tokens
from rookery.connections.context import ConnectionContext
from rookery.connections.tokens import (
    LEASE_RETRY_S,
    REFRESH_CALL_LIMIT,
    REFRESH_LEASE,
    RefreshLeased,
    access_token,
    force_refresh,
)
from rookery.jobs.registry import Retry
from rookery.sandbox.oauth import REPEAT_WINDOW_S
from rookery.store.tables import WithingsConnection
from rookery.withings.client import Exchange
from rookery.withings.errors import WithingsUnavailable
from tests.connections.stack import (
    Browser,
    Stack,
    connection_row,
    enable_withings,
    new_client,
    window_grants,
)

pytestmark = pytest.mark.anyio


def _sqlite_only(stack: Stack) -> None:
    if stack.settings.is_postgresql:
        pytest.skip("PostgreSQL holds the row lock across a refresh, not a lease")


async def _link(stack: Stack, resources: Resources, browser: Browser) -> WithingsConnection:
    client = await new_client(resources)
    await enable_withings(stack, client)
    assert "result=connected" in await browser.link(client, "user-1")
    connection = await connection_row(resources, client, "user-1")
    assert connection is not None
    return connection


async def _stored(resources: Resources, connection: WithingsConnection) -> WithingsConnection:
    async with resources.sessions() as session:
        stored = await session.get(WithingsConnection, connection.id)
    assert stored is not None
    return stored


async def _lease_until(resources: Resources, connection: WithingsConnection) -> datetime | None:
    return (await _stored(resources, connection)).refresh_lease_until


async def _hold_lease(
    resources: Resources, connection: WithingsConnection, until: datetime
) -> None:
    """As another process's refresh leaves the row: leased until `until`."""
    async with resources.sessions.begin() as session:
        await session.execute(
            update(WithingsConnection)
            .where(WithingsConnection.id == connection.id)
            .values(refresh_lease_until=until)
        )


def _watching_the_lease(
    stack: Stack, resources: Resources, connection: WithingsConnection, seen: list[datetime | None]
) -> ConnectionContext:
    """A context that notes the stored lease whenever Withings answers a refresh."""

    async def note_lease(exchange: Exchange) -> None:
        if exchange.action == "requesttoken":
            seen.append(await _lease_until(resources, connection))

    return ConnectionContext.from_resources(resources, recorder=note_lease, clock=stack.sandbox_now)


def test_the_lease_outlasts_the_longest_refresh_call() -> None:
    # The HTTP client's own timeouts end a slow call before the refresh's bound does...
    assert REFRESH_CALL_LIMIT.total_seconds() >= (HTTP_TIMEOUT.connect or 0) + (
        HTTP_TIMEOUT.read or 0
    )
    # ...and the bound ends it before the lease does.
    assert REFRESH_LEASE > REFRESH_CALL_LIMIT


async def test_a_running_lease_defers_the_refresh_without_a_withings_call(
    stack: Stack, resources: Resources, browser: Browser
) -> None:
    _sqlite_only(stack)
    connection = await _link(stack, resources, browser)
    stack.advance(3 * 3600)
    ctx = stack.context(resources)
    lease = stack.sandbox_now() + timedelta(seconds=30)
    await _hold_lease(resources, connection, lease)
    grants = await window_grants(resources)

    with pytest.raises(RefreshLeased) as deferred:
        await access_token(ctx, connection.id)
    with pytest.raises(RefreshLeased):
        await force_refresh(ctx, connection.id, rejected_token="any")

    assert isinstance(deferred.value, Retry)  # a job raising it is deferred, not failed
    assert deferred.value.after_s == LEASE_RETRY_S
    assert len(stack.calls("requesttoken")) == 1  # only the code exchange
    assert await window_grants(resources) == grants  # deferred before taking a grant
    stored = await _stored(resources, connection)
    assert stored.refresh_token_encrypted == connection.refresh_token_encrypted
    assert stored.access_token_encrypted == connection.access_token_encrypted
    assert stored.refresh_lease_until == lease
    # A lease about to run out: asked again when it does.
    stack.advance(29.5)
    with pytest.raises(RefreshLeased) as deferred:
        await access_token(ctx, connection.id)
    assert deferred.value.after_s == pytest.approx(0.5)


async def test_a_lease_taken_after_the_first_look_is_seen_under_the_write_lock(
    stack: Stack, resources: Resources, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sqlite_only(stack)
    connection = await _link(stack, resources, browser)
    stack.advance(3 * 3600)
    take_grant = tokens._take_grant

    async def grant_then_another_process_leases(ctx: ConnectionContext) -> None:
        # The race: another process claims the lease between this one's first look at the row
        # (no lease yet) and its re-read under SQLite's write lock.
        await take_grant(ctx)
        await _hold_lease(resources, connection, stack.sandbox_now() + REFRESH_LEASE)

    monkeypatch.setattr(tokens, "_take_grant", grant_then_another_process_leases)
    grants = await window_grants(resources)

    with pytest.raises(RefreshLeased):
        await access_token(stack.context(resources), connection.id)

    assert len(stack.calls("requesttoken")) == 1  # only the code exchange
    assert await window_grants(resources) == grants + 1  # taken, left unused
    assert await _lease_until(resources, connection) == stack.sandbox_now() + REFRESH_LEASE


async def test_an_expired_lease_is_taken_over(
    stack: Stack, resources: Resources, browser: Browser
) -> None:
    _sqlite_only(stack)
    connection = await _link(stack, resources, browser)
    stack.advance(3 * 3600)
    # Its holder crashed: the lease ran out and nobody cleared it.
    await _hold_lease(resources, connection, stack.sandbox_now())
    seen: list[datetime | None] = []
    ctx = _watching_the_lease(stack, resources, connection, seen)

    token = await access_token(ctx, connection.id)

    assert len(stack.calls("requesttoken")) == 2
    assert seen == [stack.sandbox_now() + REFRESH_LEASE]  # taken over for the call
    assert await _lease_until(resources, connection) is None
    assert await ctx.withings.getdevice(token) is not None


async def test_a_failed_refresh_clears_its_lease_and_the_next_goes_ahead(
    stack: Stack, resources: Resources, browser: Browser
) -> None:
    _sqlite_only(stack)
    connection = await _link(stack, resources, browser)
    stack.advance(3 * 3600)
    stack.control("POST", "faults", kind="http_5xx", count=1, path="/v2/oauth2")
    seen: list[datetime | None] = []
    ctx = _watching_the_lease(stack, resources, connection, seen)

    with pytest.raises(WithingsUnavailable):
        await access_token(ctx, connection.id)

    assert seen == [stack.sandbox_now() + REFRESH_LEASE]  # held during the call
    assert await _lease_until(resources, connection) is None
    # Well within the lease it would have held: the next refresh need not wait for it.
    stack.advance(REPEAT_WINDOW_S)
    token = await access_token(ctx, connection.id)
    assert seen[1:] == [stack.sandbox_now() + REFRESH_LEASE]
    assert await _lease_until(resources, connection) is None
    assert await ctx.withings.getdevice(token) is not None
    assert len(stack.calls("requesttoken")) == 3


async def test_a_refresh_clears_only_its_own_lease(
    stack: Stack, resources: Resources, browser: Browser
) -> None:
    _sqlite_only(stack)
    connection = await _link(stack, resources, browser)
    stack.advance(3 * 3600)
    next_lease = stack.sandbox_now() + 2 * REFRESH_LEASE

    async def lease_taken_over(exchange: Exchange) -> None:
        # As if this refresh had overrun its lease and another process had taken it over.
        if exchange.action == "requesttoken":
            await _hold_lease(resources, connection, next_lease)

    ctx = ConnectionContext.from_resources(
        resources, recorder=lease_taken_over, clock=stack.sandbox_now
    )

    await access_token(ctx, connection.id)

    assert await _lease_until(resources, connection) == next_lease


async def test_a_refresh_call_outrunning_its_bound_gives_up_before_its_lease_ends(
    stack: Stack, resources: Resources, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sqlite_only(stack)
    # The bound, shortened from its 40 s so that the test need not wait them out.
    monkeypatch.setattr(tokens, "REFRESH_CALL_LIMIT", timedelta(seconds=1))
    connection = await _link(stack, resources, browser)
    stack.advance(3 * 3600)
    stack.control("POST", "faults", kind="timeout", count=1, path="/v2/oauth2", hang_s=60)

    with pytest.raises(WithingsUnavailable, match="no answer within the refresh lease"):
        await access_token(stack.context(resources), connection.id)

    stored = await _stored(resources, connection)
    assert stored.refresh_lease_until is None
    assert stored.refresh_token_encrypted == connection.refresh_token_encrypted
