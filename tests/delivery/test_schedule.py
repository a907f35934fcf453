"""The retry schedule: success, retries with jitter, dead, 410, Retry-After."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rookery.delivery.schedule import (
    DEFAULT_RETRY_DELAYS,
    Judgement,
    RetrySchedule,
    Verdict,
    judge,
    parse_retry_after,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SCHEDULE = RetrySchedule()


def verdict(attempts: int, status: int | None, retry_after: str | None = None) -> Judgement:
    return judge(
        SCHEDULE,
        attempts=attempts,
        status_code=status,
        retry_after=retry_after,
        now=NOW,
        rng=random.Random(1),
    )


def test_the_default_delays_are_the_product_contract() -> None:
    assert [delay.total_seconds() for delay in DEFAULT_RETRY_DELAYS] == [
        5,
        300,
        1800,
        7200,
        18000,
        36000,
        86400,
        172800,
    ]
    assert SCHEDULE.max_attempts == 9


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_any_2xx_is_delivered(status: int) -> None:
    assert verdict(1, status) == Judgement(Verdict.DELIVERED)


@pytest.mark.parametrize("status", [None, 301, 302, 400, 404, 429, 500, 503])
def test_anything_else_is_retried(status: int | None) -> None:
    assert verdict(1, status).verdict is Verdict.RETRY


def test_410_is_dead_at_once() -> None:
    assert verdict(1, 410) == Judgement(Verdict.DEAD)


@given(attempts=st.integers(1, 8), seed=st.integers(0, 2**32))
def test_each_retry_follows_its_slot_within_ten_percent(attempts: int, seed: int) -> None:
    judged = judge(
        SCHEDULE,
        attempts=attempts,
        status_code=500,
        retry_after=None,
        now=NOW,
        rng=random.Random(seed),
    )
    assert judged.retry_at is not None
    slot = DEFAULT_RETRY_DELAYS[attempts - 1]
    assert slot * 0.9 <= judged.retry_at - NOW <= slot * 1.1


def test_after_the_last_try_it_is_dead() -> None:
    assert verdict(9, 500) == Judgement(Verdict.DEAD)


def test_retry_after_is_honoured_up_to_the_next_slot() -> None:
    assert verdict(1, 429, "60").retry_at == NOW + timedelta(seconds=60)
    # Longer than the following slot (5 min): capped there.
    assert verdict(1, 429, "86400").retry_at == NOW + timedelta(minutes=5)
    # Shorter than the schedule: the schedule stands.
    later = verdict(2, 503, "1").retry_at
    assert later is not None
    assert later - NOW >= timedelta(minutes=4, seconds=30)


def test_retry_after_as_an_http_date() -> None:
    assert parse_retry_after("Sat, 28 Nov 2026 12:02:00 GMT", NOW) == timedelta(minutes=2)
    assert parse_retry_after("Sat, 28 Nov 2026 11:00:00 GMT", NOW) == timedelta(0)
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after("9" * 40, NOW) == timedelta(days=365)


def test_a_bad_schedule_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one delay"):
        RetrySchedule(delays=())
    with pytest.raises(ValueError, match="jitter"):
        RetrySchedule(jitter=1.5)
