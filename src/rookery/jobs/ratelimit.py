"""One Withings rate limit for the whole deployment, kept in the database.

Withings allows an application `ROOKERY_WITHINGS_RATE_LIMIT_PER_MINUTE` calls a minute, whatever
the number of workers. Every process asks `acquire` before a call: a sliding window over the
instants of the calls granted in the last 60 seconds (one row, locked while it is read and
written, so grants are atomic across processes on both engines). A sliding window rather than a
token bucket: a full bucket of N plus N refilled tokens can grant 2N calls within one minute,
the window never grants more than N in any 60 seconds.

Notifications go first: a job of `Priority.BACKFILL` is granted a call only while more than
`NOTIFICATION_RESERVE_FRACTION` of the window is left, so a backfill never starves fresh data.
A 601 from Withings calls `hold`: nobody calls until its `wait_seconds` have passed.

`acquire` never sleeps: it returns the seconds to wait, and the job defers itself
(`raise Retry(after_s, ...)`) instead of holding a worker. Call it outside any open transaction
(on SQLite it takes the write lock).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from rookery.jobs.kinds import Priority
from rookery.store.dialect import insert_ignoring_conflict
from rookery.store.tables import RateLimit, utc_now

WITHINGS: Final = "withings"
WINDOW_S: Final = 60.0
# Share of each window's calls that backfill leaves to notifications.
NOTIFICATION_RESERVE_FRACTION: Final = 0.2
# The smallest wait reported, so that a caller never spins on a rounding error.
_MIN_WAIT_S: Final = 0.001


def reserve_for(priority: int, per_minute: int) -> int:
    """How many of a window's `per_minute` calls a job of `priority` must leave unused."""
    if priority >= Priority.NORMAL:
        return 0
    return min(per_minute - 1, max(1, math.floor(per_minute * NOTIFICATION_RESERVE_FRACTION)))


def decide(
    grants_s: Sequence[float],
    *,
    now_s: float,
    per_minute: int,
    reserve: int = 0,
    blocked_until_s: float | None = None,
) -> tuple[list[float], float]:
    """The sliding window's rule, pure: given the granted instants (Unix seconds), grant one
    more at `now_s` or not. Returns the grants to keep (with `now_s` when granted) and the
    seconds to wait (0 when granted)."""
    recent = sorted(grant for grant in grants_s if grant > now_s - WINDOW_S)
    if blocked_until_s is not None and now_s < blocked_until_s:
        return recent, max(blocked_until_s - now_s, _MIN_WAIT_S)
    allowed = per_minute - reserve
    if len(recent) < allowed:
        return [*recent, now_s], 0.0
    # The window must lose its oldest grants until one slot is free.
    frees_at = recent[len(recent) - allowed] + WINDOW_S
    return recent, max(frees_at - now_s, _MIN_WAIT_S)


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
        grants_s, blocked_until = await _locked_row(connection, name, now)
        kept, wait_s = decide(
            grants_s,
            now_s=now.timestamp(),
            per_minute=per_minute,
            reserve=reserve_for(priority, per_minute),
            blocked_until_s=None if blocked_until is None else blocked_until.timestamp(),
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
) -> tuple[list[float], datetime | None]:
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
    grants, blocked_until = row
    return [float(grant) for grant in grants], blocked_until
