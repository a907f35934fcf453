"""When a delivery is tried again, and when it is dead (product.md §4; Standard Webhooks' rules).

Pure: the sender asks `judge` what an attempt's outcome means and writes down the answer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from http import HTTPStatus
from typing import Final

# The delays between tries after the first: 9 tries over about 3 days 17 hours, so an endpoint
# that is down for two days still receives everything.
DEFAULT_RETRY_DELAYS: Final = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=24),
    timedelta(hours=48),
)
# ± this fraction of each delay, so that deliveries failed together do not retry together.
DEFAULT_JITTER: Final = 0.1
# How long a dead delivery is kept for redelivery before it is purged.
DEFAULT_DEAD_RETENTION: Final = timedelta(days=30)
_LONGEST_RETRY_AFTER_S: Final = 365 * 24 * 3600


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """The delays between tries (the first try is immediate) and their jitter."""

    delays: tuple[timedelta, ...] = DEFAULT_RETRY_DELAYS
    jitter: float = DEFAULT_JITTER

    def __post_init__(self) -> None:
        if not self.delays or any(delay <= timedelta(0) for delay in self.delays):
            raise ValueError("a retry schedule needs at least one delay, all positive")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter is a fraction in [0, 1)")

    @property
    def max_attempts(self) -> int:
        """Tries in all: the first and one per delay."""
        return len(self.delays) + 1

    def delay_after(self, attempts: int, rng: random.Random) -> timedelta | None:
        """The jittered wait before the next try once `attempts` tries failed; None when that
        was the last."""
        if attempts >= self.max_attempts:
            return None
        base = self.delays[attempts - 1]
        return base * (1 + rng.uniform(-self.jitter, self.jitter))

    def ceiling_after(self, attempts: int) -> timedelta:
        """The longest a receiver's `Retry-After` may push the next try: the following slot's
        delay (the last slot's for the last tries)."""
        return self.delays[min(attempts, len(self.delays) - 1)]


class Verdict(StrEnum):
    """What an attempt's outcome means for its delivery."""

    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class Judgement:
    """A verdict and, for a retry, when."""

    verdict: Verdict
    retry_at: datetime | None = None


def judge(
    schedule: RetrySchedule,
    *,
    attempts: int,
    status_code: int | None,
    retry_after: str | None,
    now: datetime,
    rng: random.Random,
) -> Judgement:
    """The outcome of try number `attempts` (1-based) that got `status_code` (None: no answer
    — a timeout, a refused connection, no URL, an address refused by the SSRF guard).

    Any 2xx is success. 410 Gone is dead at once. Anything else (3xx included: redirects are
    not followed) is retried on the schedule, then dead. A `Retry-After` (seconds or an HTTP
    date) later than the schedule's slot is honoured up to `schedule.ceiling_after`.
    """
    if status_code is not None and 200 <= status_code < 300:
        return Judgement(Verdict.DELIVERED)
    if status_code == HTTPStatus.GONE:
        return Judgement(Verdict.DEAD)
    delay = schedule.delay_after(attempts, rng)
    if delay is None:
        return Judgement(Verdict.DEAD)
    asked = parse_retry_after(retry_after, now) if retry_after is not None else None
    if asked is not None and asked > delay:
        delay = min(asked, schedule.ceiling_after(attempts))
    return Judgement(Verdict.RETRY, retry_at=now + delay)


def parse_retry_after(value: str, now: datetime) -> timedelta | None:
    """A `Retry-After` header as a wait (never negative); None when it is neither a number of
    seconds nor an HTTP date."""
    text = value.strip()
    if text.isdigit():
        # Capped so that an absurd number cannot overflow; the ceiling applies anyway.
        return timedelta(seconds=min(int(text), _LONGEST_RETRY_AFTER_S))
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # "-0000": an HTTP date is GMT by definition
        moment = moment.replace(tzinfo=UTC)
    return max(moment - now, timedelta(0))
