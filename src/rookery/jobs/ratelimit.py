"""One Withings rate limit for the whole deployment, kept in the database.

Withings allows an application `ROOKERY_WITHINGS_RATE_LIMIT_PER_MINUTE` calls a minute, whatever
the number of workers. Every process asks `acquire` before a call: a sliding window over the
calls granted in the last 60 seconds (one row, locked while it is read and written, so grants
are atomic across processes on both engines). A sliding window rather than a token bucket: a
full bucket of N plus N refilled tokens can grant 2N calls within one minute, the window never
grants more than N in any 60 seconds. The row counts grants per second (`[second, count,
of them ahead of backfill]`), at most 61 entries whatever the limit: a list of every instant
would cost each call the whole minute's grants to read and write (3,000 at 50 calls a second).
A second's grants count until all of that second has left the window, so a refusal errs by
less than a second, never a grant.

Notifications go first: a job of `Priority.BACKFILL` leaves them as many calls as they took in
the window plus a margin (`IDLE_RESERVE_FRACTION`), at most `NOTIFICATION_RESERVE_FRACTION` of
it, so a backfill never starves fresh data and still uses the calls nobody else wants (a fixed
fifth would leave it 80 % of the rate when nothing else calls).
A 601 from Withings calls `hold`: nobody calls until its `wait_seconds` have passed.

`acquire` never sleeps: it returns the seconds to wait, and the job defers itself
(`raise Retry(after_s, ...)`) instead of holding a worker. Call it outside any open transaction
(on SQLite it takes the write lock).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from rookery.jobs.kinds import Priority
from rookery.store.dialect import insert_ignoring_conflict
from rookery.store.tables import RateLimit, utc_now

WITHINGS: Final = "withings"
WINDOW_S: Final = 60.0
# Share of each window's calls that backfill leaves to notifications: at most, and at least
# (added to what they used in the window).
NOTIFICATION_RESERVE_FRACTION: Final = 0.2
IDLE_RESERVE_FRACTION: Final = 0.05
# The smallest wait reported, so that a caller never spins on a rounding error.
_MIN_WAIT_S: Final = 0.001


def reserve_for(priority: int, per_minute: int, ahead_in_window: int = 0) -> int:
    """How many of a window's `per_minute` calls a job of `priority` must leave unused, when
    work ahead of backfill took `ahead_in_window` of the window's calls."""
    if priority >= Priority.NORMAL:
        return 0
    most = min(per_minute - 1, max(1, math.floor(per_minute * NOTIFICATION_RESERVE_FRACTION)))
    least = min(most, max(1, math.floor(per_minute * IDLE_RESERVE_FRACTION)))
    return min(most, least + ahead_in_window)


Buckets = list[list[int]]
"""The grants of the window: `[Unix second, grants in that second, of them ahead of backfill]`,
oldest first."""


def decide(
    buckets: Sequence[Sequence[float]] | Sequence[float],
    *,
    now_s: float,
    per_minute: int,
    reserve: int = 0,
    blocked_until_s: float | None = None,
    ahead: bool = False,
) -> tuple[Buckets, float]:
    """The sliding window's rule, pure: given the grants so far (per-second buckets), grant one
    more at `now_s` or not (`ahead`: for work that goes before backfill). Returns the buckets
    to keep (with the grant when granted) and the seconds to wait (0 when granted). Plain
    instants and `[second, count]` pairs (the earlier formats) are read as grants of backfill's
    rank."""
    recent = _in_window(buckets, now_s)
    if blocked_until_s is not None and now_s < blocked_until_s:
        return recent, max(blocked_until_s - now_s, _MIN_WAIT_S)
    allowed = per_minute - reserve
    over = sum(bucket[1] for bucket in recent) - allowed
    if over < 0:
        second = math.floor(now_s)
        if not recent or recent[-1][0] != second:
            recent.append([second, 0, 0])
        recent[-1][1] += 1
        recent[-1][2] += int(ahead)
        return recent, 0.0
    # The window must lose its oldest buckets until one grant is free: `over + 1` grants.
    leaving = 0
    for second, count, _ in recent:
        leaving += count
        if leaving > over:
            return recent, max(second + 1 + WINDOW_S - now_s, _MIN_WAIT_S)
    raise AssertionError("unreachable: the window holds more than `over` grants")


def used_in_window(buckets: Sequence[Sequence[float]] | Sequence[float], now_s: float) -> int:
    """How many grants the window counts at `now_s`."""
    return sum(bucket[1] for bucket in _in_window(buckets, now_s))


def ahead_in_window(buckets: Sequence[Sequence[float]] | Sequence[float], now_s: float) -> int:
    """How many of them went to work ahead of backfill."""
    return sum(bucket[2] for bucket in _in_window(buckets, now_s))


def _in_window(buckets: Sequence[Sequence[float]] | Sequence[float], now_s: float) -> Buckets:
    """The buckets still (partly) inside the window, oldest first, merged per second."""
    merged: dict[int, list[int]] = {}
    for item in buckets:
        if isinstance(item, int | float):
            second, count, ahead = math.floor(item), 1, 0
        else:
            second, count = int(item[0]), int(item[1])
            ahead = int(item[2]) if len(item) > 2 else 0
        # A second counts until all of it has left the window.
        if second + 1 > now_s - WINDOW_S:
            bucket = merged.setdefault(second, [second, 0, 0])
            bucket[1] += count
            bucket[2] += ahead
    return [merged[second] for second in sorted(merged)]


async def acquire(
    engine: AsyncEngine,
    *,
    per_minute: int,
    priority: int = Priority.NOTIFICATION,
    now: datetime | None = None,
    name: str = WITHINGS,
) -> float:
    """Take one call from the shared limit: 0.0 when the call may go now (it is counted), else
    the seconds to wait before asking again (nothing counted)."""
    if per_minute < 1:
        raise ValueError(f"per_minute must be at least 1, got {per_minute}")
    now = now or utc_now()
    async with engine.begin() as connection:
        buckets, blocked_until = await _locked_row(connection, name, now)
        now_s = now.timestamp()
        kept, wait_s = decide(
            buckets,
            now_s=now_s,
            per_minute=per_minute,
            reserve=reserve_for(priority, per_minute, ahead_in_window(buckets, now_s)),
            blocked_until_s=None if blocked_until is None else blocked_until.timestamp(),
            ahead=priority >= Priority.NORMAL,
        )
        if wait_s == 0:
            await connection.execute(
                update(RateLimit)
                .where(RateLimit.name == name)
                .values(recent_grants_epoch_s=kept, updated_at=now)
            )
    return wait_s


async def hold(
    engine: AsyncEngine, *, wait_s: float, now: datetime | None = None, name: str = WITHINGS
) -> None:
    """The service refused a call for being over its limit: grant nothing for `wait_s`."""
    now = now or utc_now()
    until = now + timedelta(seconds=max(wait_s, 0.0))
    async with engine.begin() as connection:
        await _locked_row(connection, name, now)
        await connection.execute(
            update(RateLimit)
            .where(
                RateLimit.name == name,
                or_(RateLimit.blocked_until.is_(None), RateLimit.blocked_until < until),
            )
            .values(blocked_until=until, updated_at=now)
        )


async def _locked_row(
    connection: AsyncConnection, name: str, now: datetime
) -> tuple[list[Any], datetime | None]:
    query = (
        select(RateLimit.recent_grants_epoch_s, RateLimit.blocked_until)
        .where(RateLimit.name == name)
        .with_for_update()
    )
    row = (await connection.execute(query)).one_or_none()
    if row is None:
        await connection.execute(
            insert_ignoring_conflict(
                connection,
                RateLimit,
                {"name": name, "recent_grants_epoch_s": [], "updated_at": now},
                index_elements=["name"],
            )
        )
        row = (await connection.execute(query)).one()
    buckets, blocked_until = row
    return list(buckets), blocked_until
