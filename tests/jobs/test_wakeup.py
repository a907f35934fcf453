"""The one wake-up mechanism of workers and senders, on SQLite and PostgreSQL: a commit wakes the
listeners of its channel only, a rollback wakes nobody, across engines on the same database."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from rookery.jobs.wakeup import DELIVERIES, JOBS, Doorbell, listening, wake_after_commit
from rookery.store.engine import create_engine, session_factory

pytestmark = pytest.mark.anyio

# Long enough for a NOTIFY to cross a loaded machine; a wake-up that should not come is
# waited for only a fraction of it.
ARRIVES_S = 5.0
ABSENT_S = 0.3


async def test_a_commit_wakes_the_listeners_of_its_channel_only(engine: AsyncEngine) -> None:
    jobs, deliveries = Doorbell(), Doorbell()
    # The committing side has an engine of its own, as another process (or the API) has.
    other = create_engine(engine.url.render_as_string(hide_password=False))
    try:
        async with (
            listening(engine, JOBS, jobs.ring),
            listening(engine, DELIVERIES, deliveries.ring),
        ):
            await jobs.wait(ABSENT_S)  # a fresh LISTEN looks once: drop that
            await deliveries.wait(ABSENT_S)
            async with session_factory(other).begin() as session:
                await session.execute(text("SELECT 1"))
                await wake_after_commit(session, JOBS)
                await wake_after_commit(session, JOBS)  # twice in one transaction: one wake-up

            assert await jobs.wait(ARRIVES_S)
            assert not await deliveries.wait(ABSENT_S)
            assert not await jobs.wait(ABSENT_S)
    finally:
        await other.dispose()


async def test_a_rollback_wakes_nobody(engine: AsyncEngine) -> None:
    bell = Doorbell()
    async with listening(engine, DELIVERIES, bell.ring):
        await bell.wait(ABSENT_S)
        async with session_factory(engine)() as session:
            await session.begin()
            await wake_after_commit(session, DELIVERIES)
            await session.rollback()
        assert not await bell.wait(ABSENT_S)


async def test_a_waiter_cancelled_as_the_bell_rings_is_cancelled() -> None:
    # A stopping loop is cancelled in its wait just as a finishing send rings: the
    # cancellation must win, or the loop runs on and its `stop()` never returns.
    bell = Doorbell()
    waiter = asyncio.create_task(bell.wait(60.0))
    await asyncio.sleep(0)  # the waiter is now waiting
    bell.ring()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter


async def test_a_channel_must_be_a_plain_name(engine: AsyncEngine) -> None:
    with pytest.raises(ValueError, match="not a channel name"):
        async with listening(engine, "jobs; DROP TABLE jobs", Doorbell().ring):
            pass
    async with session_factory(engine)() as session:
        with pytest.raises(ValueError, match="not a channel name"):
            await wake_after_commit(session, "Rookery-Jobs")
