"""From one job's raw Withings exchanges to stored versions and queued deliveries.

The documents come from `rookery.pipeline.rebuild.produce_documents` (what replay uses too),
with one difference that needs the database: a day's body summary is rebuilt from all of that
day's stored body events, not only from the events of the response at hand, so a second weigh-in
of the day updates the summary instead of replacing it with a summary of one weigh-in.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rookery.model.common import DataStructure, RookDocument
from rookery.model.structures import parse_document
from rookery.pipeline.days import (
    DAY_BOUND,
    close_day,
    close_time,
    delivery_hook,
    is_closed,
    schedule_closes,
)
from rookery.store.documents import StoredChange, store_produced
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


async def store_documents(
    session: AsyncSession,
    *,
    client: Client,
    user: User,
    connection_id: uuid.UUID,
    produced: Sequence[Produced],
    ctx: UserContext,
    now: datetime,
) -> Stored:
    """Store `produced` for the user and queue what must be delivered now (see
    `rookery.pipeline.days`), in the caller's transaction; the caller holds the connection's
    sync-state lock and commits."""
    hook = delivery_hook(session, client=client, user=user)
    immediate = [item for item in produced if item.identity.data_structure not in DAY_BOUND]
    changes: list[StoredChange] = await store_produced(
        session,
        client_id=client.id,
        user_pk=user.id,
        produced=immediate,
        deliver=True,
        on_new_version=hook,
    )
    delivered = len(changes)
    body_days = {
        item.local_date
        for item in immediate
        if item.identity.source_key.startswith(BODY_EVENT_KEY_PREFIX)
    }
    summaries = [
        item for item in produced if item.identity.data_structure is DataStructure.PHYSICAL_SUMMARY
    ]
    summaries.extend(await _body_summaries(session, user, body_days, ctx))
    new_versions = len(changes)
    closed = 0
    tz = ctx.timezone
    open_days: list[date] = []
    for day in sorted({item.local_date for item in summaries}):
        of_day = [item for item in summaries if item.local_date == day]
        if await is_closed(session, user.id, day):
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
        if close_time(day, tz) <= now:
            delivered += await close_day(session, client=client, user=user, day=day, now=now)
            closed += 1
        else:
            open_days.append(day)
    await schedule_closes(
        session, connection_id=connection_id, user_pk=user.id, days=open_days, tz=tz, now=now
    )
    return Stored(new_versions=new_versions, delivered_now=delivered, days_closed=closed)


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
