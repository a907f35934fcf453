"""When documents are delivered: events and sleep summaries at once; a day's physical and body
summaries once that day has ended in the user's time zone (plus a grace for late syncs), then
again, as new versions, whenever late data changes them.

A day is *closed* by whichever comes first after its end: its close job (queued, per user and
date, for local midnight + `DAY_CLOSE_GRACE`) or a fetch that stores a summary of it. Closing
inserts the `ClosedDay` row and delivers the day's current summaries; from then on a changed
summary is delivered as it is stored. Both run under the connection's sync-state lock
(`rookery.pipeline.state.locked_state`), so a summary stored around the close is delivered once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rookery.delivery.queue import enqueue_document
from rookery.jobs.kinds import JobKind, Priority
from rookery.jobs.queue import enqueue
from rookery.model.common import DataStructure
from rookery.store.dialect import insert_ignoring_conflict
from rookery.store.documents import NewVersionHook, StoredChange
from rookery.store.tables import Client, ClosedDay, Document, User
from rookery.transform.time import end_of_day

# Withings devices sync some minutes after midnight; waiting a little spares most days a
# second version.
DAY_CLOSE_GRACE: Final = timedelta(minutes=10)
# The structures that wait for their day to end.
DAY_BOUND: Final = frozenset({DataStructure.PHYSICAL_SUMMARY, DataStructure.BODY_SUMMARY})


def close_time(day: date, tz: ZoneInfo) -> datetime:
    """When `day` (a local date in `tz`) counts as ended: its last instant plus the grace."""
    return end_of_day(day, tz) + DAY_CLOSE_GRACE


def delivery_hook(session: AsyncSession, *, client: Client, user: User) -> NewVersionHook:
    """The `store_produced` hook that enqueues each new version's delivery in `session`."""

    async def deliver(change: StoredChange) -> None:
        await _enqueue(
            session,
            client=client,
            user=user,
            document_id=change.document_id,
            document_version=change.document_version,
            body=change.body,
            datetime_string=change.datetime_string,
            data_structure=change.identity.data_structure,
            local_date=change.local_date,
        )

    return deliver


async def is_closed(session: AsyncSession, user_pk: uuid.UUID, day: date) -> bool:
    """Whether the user's `day` has been closed (its summaries delivered)."""
    found = await session.scalar(
        select(ClosedDay.local_date).where(
            ClosedDay.user_pk == user_pk, ClosedDay.local_date == day
        )
    )
    return found is not None


async def close_day(
    session: AsyncSession, *, client: Client, user: User, day: date, now: datetime
) -> int:
    """Close the user's `day` and enqueue the delivery of its current physical and body
    summaries; returns how many (0 when the day was already closed). Caller holds the
    connection's sync-state lock and commits."""
    inserted = await session.scalar(
        insert_ignoring_conflict(
            session,
            ClosedDay,
            {"user_pk": user.id, "local_date": day, "closed_at": now},
            index_elements=["user_pk", "local_date"],
        ).returning(ClosedDay.user_pk)
    )
    if inserted is None:
        return 0
    rows = await session.scalars(
        select(Document).where(
            Document.user_pk == user.id,
            Document.local_date == day,
            Document.data_structure.in_(list(DAY_BOUND)),
        )
    )
    delivered = 0
    for row in rows:
        await _enqueue(
            session,
            client=client,
            user=user,
            document_id=row.id,
            document_version=row.document_version,
            body=row.body_json.encode(),
            datetime_string=row.datetime_string,
            data_structure=row.data_structure,
            local_date=row.local_date,
        )
        delivered += 1
    return delivered


async def schedule_closes(
    session: AsyncSession,
    *,
    connection_id: uuid.UUID,
    user_pk: uuid.UUID,
    days: Iterable[date],
    tz: ZoneInfo,
    now: datetime,
) -> None:
    """Queue the close job of each of the user's `days` for its close time (one per day)."""
    for day in sorted(set(days)):
        await enqueue(
            session,
            JobKind.PIPELINE_CLOSE_DAY,
            {"connection_id": str(connection_id), "local_date": day.isoformat()},
            run_at=max(close_time(day, tz), now),
            priority=Priority.NORMAL,
            dedupe_key=f"{JobKind.PIPELINE_CLOSE_DAY}:{user_pk}:{day.isoformat()}",
            connection_id=connection_id,
            now=now,
        )


async def _enqueue(
    session: AsyncSession,
    *,
    client: Client,
    user: User,
    document_id: int,
    document_version: int,
    body: bytes,
    datetime_string: str | None,
    data_structure: DataStructure,
    local_date: date,
) -> None:
    if datetime_string is None:
        # Every document Rookery builds has one; X-ROOK-HASH cannot be computed without it.
        raise ValueError(f"document {document_id} has no metadata.datetime_string to sign")
    await enqueue_document(
        session,
        client=client,
        user=user,
        document_id=document_id,
        document_version=document_version,
        body=body,
        datetime_string=datetime_string,
        data_structure=data_structure,
        local_date=local_date,
    )
