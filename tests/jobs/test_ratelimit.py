"""The shared Withings rate limit: the window rule for every input, and atomic grants in the
database across processes on both engines."""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from rookery.config import Settings
from rookery.jobs.kinds import Priority
from rookery.jobs.ratelimit import (
    WINDOW_S,
    Buckets,
    acquire,
    ahead_in_window,
    decide,
    hold,
    reserve_for,
    used_in_window,
)
from rookery.store.tables import RateLimit, utc_now
from tests.jobs.conftest import process_environ

REPOSITORY = Path(__file__).resolve().parents[2]


@given(
    per_minute=st.integers(min_value=1, max_value=30),
    requests=st.lists(
        st.tuples(st.floats(min_value=0, max_value=20, allow_nan=False), st.booleans()),
        max_size=200,
    ),
)
def test_no_rolling_minute_ever_holds_more_grants_than_the_limit(
    per_minute: int, requests: list[tuple[float, bool]]
) -> None:
    grants: Buckets = []
    granted: list[float] = []
    now_s = 0.0
    for step_s, backfill in requests:
        now_s += step_s
        priority = Priority.BACKFILL if backfill else Priority.NOTIFICATION
        reserve = reserve_for(priority, per_minute, ahead_in_window(grants, now_s))
        in_window = sum(1 for grant in granted if grant > now_s - WINDOW_S)
        grants, wait_s = decide(
            grants, now_s=now_s, per_minute=per_minute, reserve=reserve, ahead=not backfill
        )
        assert len(grants) <= WINDOW_S + 1  # bounded by the window, whatever the limit
        if wait_s == 0:
            # Backfill leaves the reserve to notifications.
            assert in_window < per_minute - reserve
            granted.append(now_s)
        else:
            # Refused only when the window, or the second before it, holds the allowed calls: a
            # second's grants count until all of it has left the window.
            in_window_or_its_last_second = sum(
                1 for grant in granted if grant > now_s - WINDOW_S - 1
            )
            assert in_window_or_its_last_second >= per_minute - reserve
            # Asking again once the wait is over succeeds (up to float rounding): the reserve
            # only shrinks as the window's grants leave it.
            later = now_s + wait_s
            retried = decide(
                grants,
                now_s=later,
                per_minute=per_minute,
                reserve=reserve_for(priority, per_minute, ahead_in_window(grants, later)),
            )
            assert retried[1] <= 1e-3
    for start in granted:
        assert sum(1 for grant in granted if start <= grant < start + WINDOW_S) <= per_minute


def test_instants_stored_before_buckets_count_one_grant_each() -> None:
    instants = [100.2, 100.7, 130.5]
    assert used_in_window(instants, now_s=150.0) == 3
    # 100.7's second has wholly left the window only at 161.
    assert used_in_window(instants, now_s=160.5) == 3
    assert used_in_window(instants, now_s=161.0) == 1
    kept, wait_s = decide(instants, now_s=150.0, per_minute=3)
    assert (kept, wait_s) == ([[100, 2, 0], [130, 1, 0]], 11.0)
    kept, wait_s = decide(instants, now_s=150.0, per_minute=4)
    assert (kept, wait_s) == ([[100, 2, 0], [130, 1, 0], [150, 1, 0]], 0.0)


def test_backfill_leaves_what_notifications_use_plus_a_margin_up_to_a_fifth() -> None:
    assert reserve_for(Priority.NOTIFICATION, 120) == 0
    assert reserve_for(Priority.NORMAL, 120, ahead_in_window=50) == 0
    # Nothing else calling: backfill may take all but the margin (5 %).
    assert reserve_for(Priority.BACKFILL, 120) == 6
    # Notifications took 10 calls of the window: they keep those and the margin...
    assert reserve_for(Priority.BACKFILL, 120, ahead_in_window=10) == 16
    # ...up to a fifth of the window.
    assert reserve_for(Priority.BACKFILL, 120, ahead_in_window=40) == 24
    assert reserve_for(Priority.BACKFILL, 3) == 1
    assert reserve_for(Priority.BACKFILL, 1) == 0


def test_grants_ahead_of_backfill_are_counted_in_their_buckets() -> None:
    kept, _ = decide([[100, 2]], now_s=100.5, per_minute=10, ahead=True)
    kept, _ = decide(kept, now_s=101.0, per_minute=10)
    assert kept == [[100, 3, 1], [101, 1, 0]]
    assert ahead_in_window(kept, now_s=101.0) == 1
    assert ahead_in_window(kept, now_s=161.0) == 0  # second 100 has left the window


@pytest.mark.anyio
async def test_grants_follow_the_window_and_notifications_go_before_backfill(
    engine: AsyncEngine,
) -> None:
    start = utc_now()
    waits = [
        await acquire(
            engine, per_minute=10, priority=Priority.BACKFILL, now=start + timedelta(seconds=n)
        )
        for n in range(10)
    ]
    # With nothing else calling, backfill stops at 9 of 10: the margin is kept.
    assert waits[:9] == [0.0] * 9
    # When the first grant's second has left the window (grants are counted per second).
    assert WINDOW_S - 9 <= waits[9] <= WINDOW_S - 9 + 1
    at = start + timedelta(seconds=10)
    assert await acquire(engine, per_minute=10, now=at) == 0.0  # the margin, for a notification
    notification_wait = await acquire(engine, per_minute=10, now=at)
    backfill_wait = await acquire(engine, per_minute=10, priority=Priority.BACKFILL, now=at)
    assert WINDOW_S - 10 <= notification_wait <= WINDOW_S - 10 + 1
    # Backfill now also leaves the call notifications took: it waits for more to leave.
    assert backfill_wait > notification_wait
    # Once the first grant's second has left the window, it has room again.
    assert await acquire(engine, per_minute=10, now=start + timedelta(seconds=61)) == 0.0


@pytest.mark.anyio
async def test_a_601_holds_every_caller_until_wait_seconds_have_passed(
    engine: AsyncEngine,
) -> None:
    now = utc_now()
    await hold(engine, wait_s=30, now=now)
    await hold(engine, wait_s=5, now=now)  # a shorter hold does not shorten the first
    for priority in (Priority.NOTIFICATION, Priority.BACKFILL):
        wait_s = await acquire(engine, per_minute=100, priority=priority, now=now)
        assert wait_s == pytest.approx(30)
    assert await acquire(engine, per_minute=100, now=now + timedelta(seconds=31)) == 0.0


@pytest.mark.anyio
async def test_concurrent_processes_never_exceed_the_limit(
    settings: Settings, engine: AsyncEngine
) -> None:
    per_minute, processes, tries = 40, 4, 25
    runs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.jobs.processes",
            "acquire",
            str(per_minute),
            str(tries),
            cwd=REPOSITORY,
            env=process_environ(settings),
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(processes)
    ]
    granted = []
    for run in runs:
        async with asyncio.timeout(100):
            out, _ = await run.communicate()
        assert run.returncode == 0
        granted.append(int(out.decode().strip()))
    # 100 calls wanted at once by 4 processes: exactly the minute's 40 were granted.
    assert sum(granted) == per_minute
    async with engine.connect() as connection:
        recorded = await connection.scalar(select(RateLimit.recent_grants_epoch_s))
    assert recorded is not None
    assert used_in_window(recorded, time.time()) == per_minute
    seconds = [second for second, *_ in recorded]
    assert max(seconds) - min(seconds) < WINDOW_S
