"""Per-connection pipeline state in the database: the sync-state row, cursors, closed days.

The sync-state row is also the pipeline's lock per connection: every transaction that decides
whether a day's summaries go out now (a fetch storing them, the day's close) first locks it, so
that a day is closed exactly once and nothing stored around its close is left undelivered.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from rookery.store.dialect import insert_ignoring_conflict
from rookery.store.tables import SyncCursor, SyncState
from rookery.transform.context import HeightReading

# Heights kept per connection for BMI: a person records few; this bounds a pathological account.
MAX_HEIGHTS: Final = 200


async def _ensure_state(session: AsyncSession, connection_id: uuid.UUID, *, now: datetime) -> None:
    """Create the connection's sync-state row if it has none (in the caller's transaction)."""
    await session.execute(
        insert_ignoring_conflict(
            session,
            SyncState,
            {
                "connection_id": connection_id,
                "heights": [],
                "backfill_steps_total": 0,
                "backfill_steps_done": 0,
                "updated_at": now,
            },
            index_elements=["connection_id"],
        )
    )


async def locked_state(
    session: AsyncSession, connection_id: uuid.UUID, *, now: datetime
) -> SyncState:
    """The connection's sync-state row, created if missing, locked until the transaction ends."""
    query = (
        select(SyncState)
        .where(SyncState.connection_id == connection_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    # Linking creates the row: looking first spares the common case a write.
    state = await session.scalar(query)
    if state is None:
        await _ensure_state(session, connection_id, now=now)
        state = await session.scalar(query)
    assert state is not None  # just ensured, and only a cascade from the connection deletes it
    return state


async def record_error(
    session: AsyncSession, connection_id: uuid.UUID, error: str, *, now: datetime
) -> None:
    """Record the connection's latest fetch error (the sync-status API shows it)."""
    await _set_state(session, connection_id, now=now, last_error=error, last_error_at=now)


async def _set_state(
    session: AsyncSession, connection_id: uuid.UUID, *, now: datetime, **values: Any
) -> None:
    """Set `values` on the connection's sync-state row, creating the row if it has none."""
    statement = (
        update(SyncState)
        .where(SyncState.connection_id == connection_id)
        .values(updated_at=now, **values)
    )
    result = await session.execute(statement)
    if getattr(result, "rowcount", 1) == 0:
        await _ensure_state(session, connection_id, now=now)
        await session.execute(statement)


def heights_of(state: SyncState) -> tuple[HeightReading, ...]:
    """The heights the connection's earlier responses recorded, for BMI."""
    readings: list[HeightReading] = []
    for item in state.heights:
        try:
            readings.append(HeightReading(int(item[0]), Decimal(str(item[1]))))
        except (TypeError, ValueError, IndexError, InvalidOperation):
            continue  # a row written by hand or by a broken version: skip, do not fail the user
    return tuple(readings)


def merge_heights(state: SyncState, new: Iterable[HeightReading]) -> None:
    """Add `new` heights to the state (one per instant, the newest `MAX_HEIGHTS` kept)."""
    by_instant: dict[int, str] = {int(item[0]): str(item[1]) for item in _valid(state.heights)}
    changed = False
    for reading in new:
        value = str(reading.height_m)
        if by_instant.get(reading.at_epoch_s) != value:
            by_instant[reading.at_epoch_s] = value
            changed = True
    if changed:
        kept = sorted(by_instant.items())[-MAX_HEIGHTS:]
        # A new list: the JSON column notices assignment, not mutation.
        state.heights = [[at, value] for at, value in kept]


def _valid(items: list[Any]) -> list[Any]:
    return [item for item in items if isinstance(item, list) and len(item) == 2]


async def cursor_of(session: AsyncSession, connection_id: uuid.UUID, domain: str) -> int | None:
    """The connection's `lastupdate` cursor for `domain` (Withings' epoch seconds), if any."""
    value: int | None = await session.scalar(
        select(SyncCursor.lastupdate_epoch_s).where(
            SyncCursor.connection_id == connection_id, SyncCursor.domain == domain
        )
    )
    return value


async def advance_cursor(
    session: AsyncSession,
    connection_id: uuid.UUID,
    domain: str,
    lastupdate_epoch_s: int,
    *,
    now: datetime,
) -> None:
    """Move the cursor forward to `lastupdate_epoch_s` (never backwards)."""
    await session.execute(
        insert_ignoring_conflict(
            session,
            SyncCursor,
            {
                "connection_id": connection_id,
                "domain": domain,
                "lastupdate_epoch_s": lastupdate_epoch_s,
                "updated_at": now,
            },
            index_elements=["connection_id", "domain"],
        )
    )
    await session.execute(
        update(SyncCursor)
        .where(
            SyncCursor.connection_id == connection_id,
            SyncCursor.domain == domain,
            SyncCursor.lastupdate_epoch_s < lastupdate_epoch_s,
        )
        .values(lastupdate_epoch_s=lastupdate_epoch_s, updated_at=now)
    )
