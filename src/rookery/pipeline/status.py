"""A user's sync status, read for the client API: connection, backfill, latest activity."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, ScalarSelect, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from rookery.errors import NotFoundError
from rookery.jobs.kinds import JobKind
from rookery.store.enums import ConnectionState, JobStatus
from rookery.store.tables import (
    BackfillStatus,
    Delivery,
    DeliveryStatus,
    Job,
    SyncState,
    User,
    WithingsConnection,
    WithingsNotification,
    utc_now,
)


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """Where one user's Withings sync stands. `backfill_status` is None before any backfill;
    `pending_fetches` counts the fetches queued or running now."""

    connection_state: ConnectionState | None
    timezone: str | None
    backfill_status: BackfillStatus | None
    backfill_steps_done: int
    backfill_steps_total: int
    backfill_started_at: datetime | None
    backfill_finished_at: datetime | None
    last_notification_at: datetime | None
    last_fetch_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    pending_fetches: int


async def sync_status(session: AsyncSession, *, client_id: uuid.UUID, user_id: str) -> SyncStatus:
    """The sync status of the client's user `user_id`; `NotFoundError` for a user the client
    does not have."""
    user = await session.scalar(
        select(User).where(User.client_id == client_id, User.user_id == user_id)
    )
    if user is None:
        raise NotFoundError(f"no user {user_id!r}")
    connection = await session.scalar(
        select(WithingsConnection).where(WithingsConnection.user_pk == user.id)
    )
    state = None if connection is None else await session.get(SyncState, connection.id)
    pending = 0
    if connection is not None:
        pending = (
            await session.scalar(
                select(func.count())
                .select_from(Job)
                .where(
                    Job.connection_id == connection.id,
                    Job.kind == JobKind.PIPELINE_FETCH,
                    Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]),
                )
            )
            or 0
        )
    return SyncStatus(
        connection_state=None if connection is None else connection.state,
        timezone=None if state is None else state.timezone,
        backfill_status=None if state is None else state.backfill_status,
        backfill_steps_done=0 if state is None else state.backfill_steps_done,
        backfill_steps_total=0 if state is None else state.backfill_steps_total,
        backfill_started_at=None if state is None else state.backfill_started_at,
        backfill_finished_at=None if state is None else state.backfill_finished_at,
        last_notification_at=None
        if connection is None
        else await session.scalar(select(last_notified_at(connection.withings_userid))),
        last_fetch_at=None if state is None else state.last_fetch_at,
        last_error=None if state is None else state.last_error,
        last_error_at=None if state is None else state.last_error_at,
        pending_fetches=pending,
    )


def last_notified_at(
    withings_userid: ColumnElement[int] | QueryableAttribute[int] | int,
) -> ScalarSelect[datetime]:
    """When Withings last notified about the account (a scalar subquery; NULL for none): read
    from the notifications themselves, so that storing one writes no other row."""
    return (
        select(func.max(WithingsNotification.received_at))
        .where(WithingsNotification.withings_userid == withings_userid)
        .scalar_subquery()
    )


async def work_due(session: AsyncSession) -> int:
    """How many jobs are due or running (day closes apart: they wait for their day's end) and
    how many deliveries wait for their first try: 0 once the pipeline has caught up."""
    jobs = await session.scalar(
        select(func.count())
        .select_from(Job)
        .where(
            Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]),
            Job.kind != JobKind.PIPELINE_CLOSE_DAY,
            Job.run_at <= utc_now(),
        )
    )
    deliveries = await session.scalar(
        select(func.count()).select_from(Delivery).where(Delivery.status == DeliveryStatus.PENDING)
    )
    return int(jobs or 0) + int(deliveries or 0)
