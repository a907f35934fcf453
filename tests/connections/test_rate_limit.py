"""Every Withings call of the connection code counts against the deployment's rate limit, on
SQLite and PostgreSQL: the code exchange, token refreshes (at notification priority, never
waiting on the row lock), subscribe calls; and a missing grant defers instead of calling."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rookery.app import Resources
from rookery.connections.tokens import RefreshDeferred, access_token, force_refresh
from rookery.jobs import ratelimit
from rookery.jobs.kinds import Priority
from rookery.jobs.registry import JobContext, Retry
from rookery.pipeline.calls import JobCalls
from rookery.store.tables import WithingsConnection
from rookery.withings.errors import WithingsRateLimited
from rookery.withings.responses import MeasureGroupsPage
from tests.conftest import SettingsFactory
from tests.connections.stack import (
    Browser,
    Stack,
    connection_row,
    enable_withings,
    new_client,
    run_connection_jobs,
    start_stack,
    window_grants,
)

pytestmark = pytest.mark.anyio

PER_MINUTE = 4


@pytest.fixture
def stack(make_settings: SettingsFactory, database_url: str) -> Iterator[Stack]:
    """The usual stack with a rate limit small enough to run out of in a test."""
    with ExitStack() as exits:
        yield start_stack(
            exits, make_settings, database_url, withings_rate_limit_per_minute=PER_MINUTE
        )


async def _take(resources: Resources, priority: int) -> float:
    return await ratelimit.acquire(resources.engine, per_minute=PER_MINUTE, priority=priority)


async def _link(stack: Stack, resources: Resources, browser: Browser) -> WithingsConnection:
    client = await new_client(resources)
    await enable_withings(stack, client)
    assert "result=connected" in await browser.link(client, "user-1")
    connection = await connection_row(resources, client, "user-1")
    assert connection is not None
    return connection


async def test_the_code_exchange_and_refreshes_count_and_refreshes_go_before_backfill(
    stack: Stack, resources: Resources, browser: Browser
) -> None:
    connection = await _link(stack, resources, browser)
    assert await window_grants(resources) == 1  # the code exchange
    ctx = stack.context(resources)
    stack.advance(3 * 3600)

    token = await access_token(ctx, connection.id)

    assert await window_grants(resources) == 2
    assert len(stack.calls("requesttoken")) == 2
    # Backfill may take the window only down to its reserve (1 of 4)...
    assert await _take(resources, Priority.BACKFILL) == 0
    assert await _take(resources, Priority.BACKFILL) > 0
    # ...which a refresh, at notification priority, may use.
    renewed = await force_refresh(ctx, connection.id, rejected_token=token)
    assert renewed != token
    assert await window_grants(resources) == PER_MINUTE
    assert len(stack.calls("requesttoken")) == 3


async def test_a_refresh_without_a_free_call_defers_and_changes_nothing(
    stack: Stack, resources: Resources, browser: Browser
) -> None:
    connection = await _link(stack, resources, browser)
    while await _take(resources, Priority.NOTIFICATION) == 0:
        pass
    ctx = stack.context(resources)
    token = await access_token(ctx, connection.id)  # still fresh: no call, no grant needed

    with pytest.raises(RefreshDeferred) as deferred:
        await force_refresh(ctx, connection.id, rejected_token=token)

    assert isinstance(deferred.value, Retry)  # a job raising it is deferred, not failed
    # At most a window and a second: grants are counted per second.
    assert 0 < deferred.value.after_s <= ratelimit.WINDOW_S + 1
    assert len(stack.calls("requesttoken")) == 1  # only the code exchange
    stored = await connection_row_by_id(resources, connection)
    assert stored.refresh_token_encrypted == connection.refresh_token_encrypted
    assert await window_grants(resources) == PER_MINUTE


async def test_a_refresh_never_waits_for_a_grant_behind_the_row_lock(
    stack: Stack, resources: Resources, browser: Browser
) -> None:
    if not stack.settings.is_postgresql:
        pytest.skip("SQLite leases instead: test_refresh_lease.py defers before the grant")
    connection = await _link(stack, resources, browser)
    while await _take(resources, Priority.NOTIFICATION) == 0:
        pass
    ctx = stack.context(resources)
    stack.advance(3 * 3600)
    async with resources.sessions() as holder, holder.begin():
        # Another process is in the middle of a refresh (PostgreSQL: it holds the row lock).
        await _lock_row(holder, connection)
        started = time.monotonic()
        with pytest.raises(RefreshDeferred):
            await access_token(ctx, connection.id)
        assert time.monotonic() - started < 2


async def test_a_601_on_a_refresh_holds_every_call_of_the_deployment(
    stack: Stack, resources: Resources, browser: Browser
) -> None:
    connection = await _link(stack, resources, browser)
    stack.advance(3 * 3600)
    stack.control("POST", "faults", kind="rate_limit", count=1, path="/v2/oauth2", wait_seconds=30)

    with pytest.raises(WithingsRateLimited):
        await access_token(stack.context(resources), connection.id)

    wait_s = await _take(resources, Priority.NOTIFICATION)
    assert 20 < wait_s <= 30


async def test_subscribe_calls_count_and_the_job_defers_when_the_limit_is_spent(
    stack: Stack, resources: Resources, browser: Browser
) -> None:
    connection = await _link(stack, resources, browser)  # 1 call: the code exchange

    outcomes = await run_connection_jobs(resources)

    assert outcomes == ["withings.subscribe: retry (Withings rate limit (shared budget))"]
    subscribed = sorted(s["appli"] for s in stack.sandbox_user()["subscriptions"])
    assert len(subscribed) == PER_MINUTE - 1
    stored = await connection_row_by_id(resources, connection)
    assert stored.subscribed_applis == subscribed  # a retry resumes after these
    assert len(stack.calls("subscribe", "/notify")) == PER_MINUTE - 1


async def test_a_consent_fails_cleanly_when_no_call_is_free_for_the_code(
    stack: Stack, resources: Resources, browser: Browser
) -> None:
    client = await new_client(resources)
    await enable_withings(stack, client)
    while await _take(resources, Priority.NOTIFICATION) == 0:
        pass

    location = await browser.link(client, "user-1")

    assert location.endswith("result=failed")
    assert stack.calls("requesttoken") == []
    assert await connection_row(resources, client, "user-1") is None


async def connection_row_by_id(
    resources: Resources, connection: WithingsConnection
) -> WithingsConnection:
    """The stored row of `connection`, read afresh."""
    async with resources.sessions() as session:
        stored = await session.get(WithingsConnection, connection.id)
    assert stored is not None
    return stored


async def _lock_row(session: AsyncSession, connection: WithingsConnection) -> None:
    await session.execute(
        select(WithingsConnection.id)
        .where(WithingsConnection.id == connection.id)
        .with_for_update()
    )


async def test_a_job_run_again_pays_only_for_the_requests_it_had_no_answer_to(
    stack: Stack, resources: Resources, browser: Browser
) -> None:
    connection = await _link(stack, resources, browser)
    ctx = JobContext(resources, job_id=1, owner="test")
    end = datetime.fromtimestamp(stack.sandbox_now().timestamp(), UTC)
    day = partial(_getmeas, start=end - timedelta(days=1), end=end)
    first = JobCalls(ctx, connection_id=connection.id, priority=Priority.NOTIFICATION)
    measures = await first.call(partial(day, first))
    assert len(first.exchanges) == 1
    grants, made = await window_grants(resources), len(stack.calls("getmeas", "/measure"))

    # The job's next run, with the first's exchanges as its archive: the same request is
    # answered from there, with no call and no grant...
    again = JobCalls(
        ctx, connection_id=connection.id, priority=Priority.NOTIFICATION, prior=first.exchanges
    )
    assert await again.call(partial(day, again)) == measures
    assert again.exchanges == []
    assert len(stack.calls("getmeas", "/measure")) == made
    assert await window_grants(resources) == grants
    # ...and a request it has no answer to (a window widened meanwhile) is made and paid for.
    week = partial(_getmeas, start=end - timedelta(days=7), end=end)
    await again.call(partial(week, again))
    assert len(again.exchanges) == 1
    assert len(stack.calls("getmeas", "/measure")) == made + 1
    assert await window_grants(resources) == grants + 1


async def _getmeas(
    calls: JobCalls, token: str, *, start: datetime, end: datetime
) -> MeasureGroupsPage:
    return await calls.withings.getmeas(token, startdate=start, enddate=end)
