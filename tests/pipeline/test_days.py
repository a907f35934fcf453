"""A user's day end to end: its summaries delivered when it closes at local midnight, a late
change as a new version, intraday samples of finished days; and the daily safety net."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from rookery.config import Settings
from rookery.jobs.kinds import JobKind
from rookery.pipeline.check import schedule_checks
from rookery.pipeline.days import close_time
from rookery.sandbox.synth import Population, generate_population
from rookery.store.enums import JobStatus
from rookery.store.tables import Job, utc_now
from rookery.transform.time import end_of_day, start_of_day
from rookery.withings.codes import ActivityBrand
from tests.pipeline.harness import Deployment, deployment, new_user_id, now_utc, weights

pytestmark = pytest.mark.timeout(300)


def _physical(stack: Deployment) -> dict[str, list[dict[str, Any]]]:
    """The delivered physical summaries by local date, in arrival order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for document in stack.data():
        if document["data_structure"] == "physical_summary":
            summary = document["physical_health"]["summary"]["physical_summary"]
            out.setdefault(summary["metadata"]["datetime_string"][:10], []).append(summary)
    return out


def _account_far_from_midnight(population: Population) -> tuple[int, ZoneInfo]:
    """An account whose local time is not near midnight, so that its day neither ends nor
    starts while the test runs, and whose watch recorded yesterday and has recorded today: a day
    the watch was not worn (or not yet, early in the morning) has no activity row, so nothing to
    deliver and no day to close."""
    for account in population.accounts:
        tz = ZoneInfo(account.timezone)
        local_now = population.now_utc.astimezone(tz)
        today = local_now.date()
        watch_days = {
            row["date"]
            for row in population.user(account.userid).activities
            if row["brand"] == ActivityBrand.WITHINGS
        }
        wanted = {(today - timedelta(days=1)).isoformat(), today.isoformat()}
        if 1 <= local_now.hour <= 21 and wanted <= watch_days:
            return account.userid, tz
    raise AssertionError("no synthetic account is far from midnight with watch days")


@pytest.mark.parametrize(
    "now",
    # 01:47Z on 2026-11-28: Kolkata (07:17) is the first account far from midnight, but it did
    # not wear its watch on the 27th; 04:47Z: St John's (01:17) has no row for the 28th yet;
    # then a week of times of day.
    [datetime(2026, 11, 28, 1, 47, tzinfo=UTC), datetime(2026, 11, 28, 4, 47, tzinfo=UTC)]
    + [datetime(2026, 11, 28, tzinfo=UTC) + timedelta(minutes=m) for m in range(0, 7 * 1440, 97)],
)
def test_the_account_followed_has_an_ended_day_to_deliver(now: datetime) -> None:
    population = generate_population(6, 31, now_utc=now, history_days=4)
    userid, tz = _account_far_from_midnight(population)
    today = now.astimezone(tz).date()
    days = {row["date"] for row in population.user(userid).activities}
    assert {(today - timedelta(days=1)).isoformat(), today.isoformat()} <= days


async def _close_jobs(session: AsyncSession) -> dict[str, tuple[int, datetime, JobStatus]]:
    rows = await session.scalars(select(Job).where(Job.kind == JobKind.PIPELINE_CLOSE_DAY))
    return {str(row.payload["local_date"]): (row.id, row.run_at, row.status) for row in rows}


def test_a_day_closes_at_local_midnight_and_a_late_change_is_a_new_version(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    population = generate_population(6, 31, now_utc=now_utc(), history_days=4)
    userid, tz = _account_far_from_midnight(population)
    with deployment(make_settings, database_url, population, backfill_days=2) as stack:
        user_id = new_user_id()
        stack.link(user_id, userid)
        stack.wait_backfill(user_id)
        stack.settle()
        today = population.now_utc.astimezone(tz).date()
        yesterday = today - timedelta(days=1)
        physical = _physical(stack)
        assert yesterday.isoformat() in physical, "an ended day is delivered as it is fetched"
        assert today.isoformat() not in physical, "today waits for its end"
        _assert_intraday_of(stack, population, userid, yesterday, tz, physical)

        # Today's close job waits for local midnight (plus the grace for late syncs).
        jobs = stack.query(_close_jobs)
        job_id, run_at, status = jobs[today.isoformat()]
        assert status is JobStatus.QUEUED
        assert run_at == close_time(today, tz)
        assert run_at - end_of_day(today, tz) == timedelta(minutes=10)

        # Drive the clock to that instant: the job falls due, the day's summaries go out.
        stack.query(
            lambda session: session.execute(
                update(Job).where(Job.id == job_id).values(run_at=utc_now())
            )
        )
        stack.wait_for(
            lambda: today.isoformat() in _physical(stack), timeout_s=60, what="the day closed"
        )
        stack.settle()
        (closed,) = _physical(stack)[today.isoformat()]

        # A late change of the closed day: delivered at once, as a new version.
        steps = _change_today(stack, population, userid, today, tz)
        stack.wait_for(
            lambda: len(_physical(stack)[today.isoformat()]) == 2, timeout_s=60, what="version 2"
        )
        stack.settle()
        first, second = _physical(stack)[today.isoformat()]
        assert first == closed
        assert second["distance"]["steps_int"] == steps
        versions = [
            d["document_version"]
            for d in stack.data()
            if d["data_structure"] == "physical_summary"
            and d["physical_health"]["summary"]["physical_summary"]["metadata"][
                "datetime_string"
            ].startswith(today.isoformat())
        ]
        assert versions == [versions[0], versions[0] + 1]


def _assert_intraday_of(
    stack: Deployment,
    population: Population,
    userid: int,
    day: date,
    tz: ZoneInfo,
    physical: dict[str, list[dict[str, Any]]],
) -> None:
    """The ended day's summary carries the sandbox's intraday steps of that day."""
    start_s = int(start_of_day(day, tz).timestamp())
    end_s = int(end_of_day(day, tz).timestamp())
    user = population.user(userid)
    samples = {
        stamp: sample
        for at_s in range(start_s, end_s, 86_400)
        for stamp, sample in population.intraday(user, at_s, min(at_s + 86_400, end_s)).items()
    }
    expected = sorted(int(stamp) for stamp, sample in samples.items() if "steps" in sample)
    summary = physical[day.isoformat()][-1]
    got = summary["distance"]["steps_granular_data_array"]
    assert len(got) == len(expected)
    intraday_calls = [c for c in stack.calls() if c["action"] == "getintradayactivity"]
    # Only finished days are worth an intraday call: never today's.
    assert intraday_calls
    # At most one per ended day of the backfill's window (two days, one wider each side), two
    # on a DST day.
    assert len(intraday_calls) <= 2 * 4


def _change_today(
    stack: Deployment, population: Population, userid: int, today: date, tz: ZoneInfo
) -> int:
    """Change (or add) today's activity row in the sandbox, which notifies; its new steps."""
    user = population.user(userid)
    rows = [row for row in user.activities if row["date"] == today.isoformat()]
    if rows:
        steps = int(rows[-1].get("steps") or 0) + 1234
        stack.control(
            "PATCH",
            f"users/{userid}/records/activities/{today.isoformat()}",
            changes={"steps": steps},
        )
    else:
        steps = 4321
        stack.control(
            "POST",
            f"users/{userid}/records",
            kind="activities",
            record={"date": today.isoformat(), "steps": steps, "timezone": str(tz), "brand": 1},
        )
    return steps


def test_the_daily_check_resubscribes_and_pulls_what_changed(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    population = generate_population(1, 32, now_utc=now_utc(), history_days=2)
    account = population.accounts[0]
    with deployment(make_settings, database_url, population, backfill_days=1) as stack:
        user_id = new_user_id()
        stack.link(user_id, account.userid)
        stack.wait_backfill(user_id)
        stack.settle()
        subscribed = {s["appli"] for s in stack.subscriptions(account.userid)}
        assert subscribed

        # Withings drops the subscriptions; a weigh-in then reaches nobody.
        stack.control("POST", "faults", kind="lost_subscription", userid=account.userid)
        assert stack.subscriptions(account.userid) == []
        taken_s = int(stack.control("GET", "clock")["now"])
        stack.control(
            "POST",
            f"users/{account.userid}/records",
            kind="measuregrps",
            record={"date": taken_s, "measures": [{"value": 77777, "type": 1, "unit": -3}]},
        )
        stack.settle()
        assert 77.777 not in weights(stack.data()).values()

        # The daily task.
        stack.query(lambda session: schedule_checks(session, utc_now()))
        stack.wait_for(
            lambda: 77.777 in weights(stack.data()).values(), timeout_s=60, what="the pull"
        )
        stack.wait_for(
            lambda: {s["appli"] for s in stack.subscriptions(account.userid)} == subscribed,
            timeout_s=60,
            what="the subscriptions back",
        )
        stack.settle()
        # The weigh-in came once.
        assert len([d for d in stack.data() if 77.777 in weights([d]).values()]) == 1
