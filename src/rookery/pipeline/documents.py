"""From one job's raw Withings exchanges to stored versions and queued deliveries.

The documents come from `rookery.pipeline.rebuild.produce_documents` (what replay uses too),
with two differences that need the database, which replay gets by storing through this module
as well: a day's body summary is rebuilt from all of that day's stored body events, not only
from the events of the response at hand, so a second weigh-in of the day updates the summary
instead of replacing it with a summary of one weigh-in; and a physical summary fetched without
intraday samples does not replace the stored one that has them while the activity row is the
same.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rookery.model.common import DataStructure, RookDocument
from rookery.model.physical import PhysicalSummaryDocument
from rookery.model.structures import parse_document
from rookery.pipeline.days import (
    DAY_BOUND,
    close_day,
    close_time,
    delivery_hook,
    is_closed,
    schedule_closes,
)
from rookery.store.documents import NewVersionHook, StoredChange, store_produced
from rookery.store.tables import Client, Document, User
from rookery.transform.context import Produced, UserContext
from rookery.transform.measure import body_summary

# The source keys of body events (one measure group each); `rookery.transform.measure` names them.
BODY_EVENT_KEY_PREFIX: Final = "grpid:"


@dataclass(frozen=True, slots=True)
class Stored:
    """What storing one job's documents did."""

    new_versions: int
    delivered_now: int
    days_closed: int
    # Documents built but equal to their stored version (nothing written).
    unchanged: int = 0


async def store_documents(
    session: AsyncSession,
    *,
    client: Client,
    user: User,
    connection_id: uuid.UUID,
    produced: Sequence[Produced],
    ctx: UserContext,
    now: datetime,
    deliver: bool = True,
    on_new_version: NewVersionHook | None = None,
) -> Stored:
    """Store `produced` for the user, in the caller's transaction; the caller holds the
    connection's sync-state lock and commits.

    The day's body summaries are rebuilt from every body event stored for those days, and a
    physical summary that only repeats the stored one without its intraday detail is left out
    (`repeats_without_detail`). When `deliver`, what must go out now is queued through
    `on_new_version` (default: the client's webhook) and the days are closed or scheduled as
    `rookery.pipeline.days` says; otherwise the versions are only stored (a silent replay).
    """
    hook = (
        on_new_version
        if on_new_version is not None
        else delivery_hook(session, client=client, user=user)
    )
    immediate = [item for item in produced if item.identity.data_structure not in DAY_BOUND]
    changes: list[StoredChange] = await store_produced(
        session,
        client_id=client.id,
        user_pk=user.id,
        produced=immediate,
        deliver=deliver,
        on_new_version=hook,
    )
    delivered = len(changes) if deliver else 0
    body_days = {
        item.local_date
        for item in immediate
        if item.identity.source_key.startswith(BODY_EVENT_KEY_PREFIX)
    }
    summaries = await _new_physical_summaries(session, user, produced)
    summaries.extend(await _body_summaries(session, user, body_days, ctx))
    new_versions = len(changes)
    closed = 0
    tz = ctx.timezone
    open_days: list[date] = []
    for day in sorted({item.local_date for item in summaries}):
        of_day = [item for item in summaries if item.local_date == day]
        if deliver and await is_closed(session, user.id, day):
            day_changes = await store_produced(
                session,
                client_id=client.id,
                user_pk=user.id,
                produced=of_day,
                deliver=True,
                on_new_version=hook,
            )
            delivered += len(day_changes)
            new_versions += len(day_changes)
            continue
        day_changes = await store_produced(
            session, client_id=client.id, user_pk=user.id, produced=of_day, deliver=False
        )
        new_versions += len(day_changes)
        if not deliver:
            continue
        if close_time(day, tz) <= now:
            delivered += await close_day(session, client=client, user=user, day=day, now=now)
            closed += 1
        else:
            open_days.append(day)
    if deliver:
        await schedule_closes(
            session, connection_id=connection_id, user_pk=user.id, days=open_days, tz=tz, now=now
        )
    unchanged = len(immediate) + len(summaries) - new_versions
    return Stored(
        new_versions=new_versions,
        delivered_now=delivered,
        days_closed=closed,
        unchanged=max(unchanged, 0),
    )


def repeats_without_detail(new: Produced, previous: RookDocument) -> bool:
    """Whether `new`, a day's physical summary, only repeats `previous` minus its intraday
    samples: the same Withings activity row, built without `getintradayactivity` (intraday is
    fetched only when a finished day's row changes), where `previous` has the samples. Such a
    summary must not replace the one with the samples."""
    new_parts = _activity_parts(new.document)
    old_parts = _activity_parts(previous)
    if new_parts is None or old_parts is None:
        return False
    (new_row, new_detailed), (old_row, old_detailed) = new_parts, old_parts
    return not new_detailed and old_detailed and new_row == old_row


def has_intraday(document: RookDocument) -> bool:
    """Whether a physical summary carries intraday samples (steps or heart rate)."""
    parts = _activity_parts(document)
    return parts is not None and parts[1]


def activity_row(document: RookDocument) -> object:
    """The Withings activity row a physical summary was built from (None for another
    document, or one built from intraday samples alone)."""
    parts = _activity_parts(document)
    return None if parts is None else parts[0]


async def stored_physical_summaries(
    session: AsyncSession, user_pk: uuid.UUID, days: Iterable[date]
) -> dict[date, RookDocument]:
    """The user's stored physical summaries of `days`, by day."""
    wanted = sorted({day.isoformat() for day in days})
    if not wanted:
        return {}
    rows = await session.scalars(
        select(Document).where(
            Document.user_pk == user_pk,
            Document.data_structure == DataStructure.PHYSICAL_SUMMARY,
            Document.source_key.in_(wanted),
        )
    )
    return {row.local_date: parse_document(row.body_json) for row in rows}


def _activity_parts(document: RookDocument) -> tuple[object, bool] | None:
    """A physical summary's Withings activity row and whether it has intraday samples."""
    if not isinstance(document, PhysicalSummaryDocument):
        return None
    summary = document.physical_health.summary.physical_summary
    raw = summary.non_structured_data_array
    detailed = bool(
        summary.distance.steps_granular_data_array or summary.heart_rate.hr_granular_data_array
    )
    return (raw[0] if raw else None), detailed


async def _new_physical_summaries(
    session: AsyncSession, user: User, produced: Sequence[Produced]
) -> list[Produced]:
    """The physical summaries of `produced`, minus those that repeat the stored ones without
    their intraday samples."""
    summaries = [
        item for item in produced if item.identity.data_structure is DataStructure.PHYSICAL_SUMMARY
    ]
    stored = await stored_physical_summaries(session, user.id, (s.local_date for s in summaries))
    return [
        item
        for item in summaries
        if (previous := stored.get(item.local_date)) is None
        or not repeats_without_detail(item, previous)
    ]


async def _body_summaries(
    session: AsyncSession, user: User, days: set[date], ctx: UserContext
) -> list[Produced]:
    """The body summary of each of `days`, from every body event stored for it (latest
    versions, this transaction's included)."""
    if not days:
        return []
    rows = await session.scalars(
        select(Document).where(
            Document.user_pk == user.id,
            Document.local_date.in_(sorted(days)),
            Document.source_key.startswith(BODY_EVENT_KEY_PREFIX),
        )
    )
    by_day: dict[date, list[RookDocument]] = {}
    for row in rows:
        by_day.setdefault(row.local_date, []).append(parse_document(row.body_json))
    out: list[Produced] = []
    for day in sorted(by_day):
        summary = body_summary(day, by_day[day], ctx, ctx.timezone)
        if summary is not None:
            out.append(summary)
    return out
