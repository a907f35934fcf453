"""Periodic tasks run once per period for the whole deployment, with several schedulers."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rookery.app import Resources, open_resources
from rookery.config import Settings
from rookery.jobs import enqueue
from rookery.jobs.registry import PeriodicTask
from rookery.jobs.scheduler import Scheduler, period_start
from rookery.store.tables import Job

pytestmark = pytest.mark.anyio

TICK = "test.tick"


async def _tick(session: AsyncSession, now: datetime) -> None:
    # No dedupe key: a period run twice would show as two jobs.
    await enqueue(session, TICK, {"period": period_start(now, INTERVAL).isoformat()})


INTERVAL = timedelta(milliseconds=250)


async def test_two_schedulers_run_each_period_once(
    resources: Resources, settings: Settings
) -> None:
    task = PeriodicTask("test.tick", INTERVAL, _tick)
    async with open_resources(settings) as other:
        schedulers = [
            Scheduler(resources.sessions, [task], owner="a"),
            Scheduler(other.sessions, [task], owner="b"),
        ]
        runs = [asyncio.create_task(scheduler.run()) for scheduler in schedulers]
        await asyncio.sleep(1.6)
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
    async with resources.sessions() as session:
        periods = Counter(
            job.payload["period"]
            for job in await session.scalars(select(Job).where(Job.kind == TICK))
        )
    assert len(periods) >= 4
    assert set(periods.values()) == {1}, periods


async def test_a_period_runs_once_and_a_failing_task_skips_its_period(
    resources: Resources,
) -> None:
    failures = 0

    async def broken(session: AsyncSession, now: datetime) -> None:
        nonlocal failures
        failures += 1
        await enqueue(session, TICK, {"rolled": "back"})
        raise RuntimeError("task bug")

    hourly = timedelta(hours=1)
    scheduler = Scheduler(
        resources.sessions,
        [PeriodicTask("test.hourly", hourly, _tick), PeriodicTask("test.broken", hourly, broken)],
        owner="a",
    )
    at = datetime(2026, 11, 28, 10, 15, tzinfo=UTC)
    assert await scheduler.run_due(at) == ["test.hourly"]
    assert await scheduler.run_due(at + timedelta(minutes=30)) == []
    assert await scheduler.run_due(at + timedelta(minutes=45)) == ["test.hourly"]
    # The broken task was tried once per period, and what it enqueued rolled back.
    assert failures == 2
    async with resources.sessions() as session:
        payloads = [job.payload for job in await session.scalars(select(Job))]
    assert {"rolled": "back"} not in payloads
    assert len(payloads) == 2


def test_periods_are_aligned_on_the_epoch() -> None:
    at = datetime(2026, 11, 28, 10, 59, 59, tzinfo=UTC)
    assert period_start(at, timedelta(hours=1)) == datetime(2026, 11, 28, 10, tzinfo=UTC)
    assert period_start(at, timedelta(days=1)) == datetime(2026, 11, 28, tzinfo=UTC)
