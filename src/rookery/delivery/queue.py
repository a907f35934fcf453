"""Deliveries in the database: enqueueing (in the caller's transaction), reading, redelivery
and purging. The sender (`rookery.delivery.sender`) does the sending."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

from sqlalchemy import delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from rookery.delivery.events import ClientEvent, ClientEventMessage, EventLevel
from rookery.errors import InvalidInputError, NotFoundError
from rookery.jobs.wakeup import DELIVERIES, wake_after_commit
from rookery.model.common import DataStructure
from rookery.store.enums import DataSource
from rookery.store.tables import (
    Client,
    Delivery,
    DeliveryAttempt,
    DeliveryKind,
    DeliveryStatus,
    User,
    utc_now,
)
from rookery.store.users import find_user, get_user

OPEN_STATUSES: Final = (DeliveryStatus.PENDING, DeliveryStatus.FAILED)
MAX_PAGE_SIZE: Final = 200
# The longest span one range redelivery may cover.
MAX_REDELIVERY_DAYS: Final = 366


async def enqueue_document(
    session: AsyncSession,
    *,
    client: Client,
    user: User,
    document_id: int,
    document_version: int,
    body: bytes,
    datetime_string: str,
    data_structure: DataStructure,
    local_date: date,
) -> Delivery:
    """Add the data-webhook delivery of one document version to the session's transaction;
    the senders are woken when it commits.

    `body` is sent byte for byte; `datetime_string` is what X-ROOK-HASH signs (the document's
    `metadata.datetime_string`, an event's own); `local_date` is the day range redelivery finds
    it by. The client's URL is read when sending, so a URL set later still applies.
    """
    delivery = Delivery(
        client_id=client.id,
        user_pk=user.id,
        user_id=user.user_id,
        kind=DeliveryKind.DATA,
        document_id=document_id,
        document_version=document_version,
        data_structure=data_structure,
        local_date=local_date,
        datetime_string=datetime_string,
        body=body,
    )
    return await _enqueue(session, delivery)


async def enqueue_client_event(
    session: AsyncSession,
    *,
    client: Client,
    user_id: str,
    action: ClientEvent,
    level: EventLevel,
    message: str,
    data_source: DataSource = DataSource.WITHINGS,
    at: datetime | None = None,
) -> Delivery:
    """Add a notification-webhook message about `user_id` to the session's transaction; the
    senders are woken when it commits. `at` (aware; default now) is the message's `datetime`."""
    event = ClientEventMessage(
        client_uuid=str(client.id),
        user_id=user_id,
        data_source=data_source.value,
        action=action,
        level=level,
        message=message,
        at=at or utc_now(),
    )
    user = await find_user(session, client.id, user_id)
    delivery = Delivery(
        client_id=client.id,
        user_pk=None if user is None else user.id,
        user_id=user_id,
        kind=DeliveryKind.NOTIFICATION,
        event=action.value,
        datetime_string=event.datetime_string,
        body=event.body(),
    )
    return await _enqueue(session, delivery)


async def _enqueue(session: AsyncSession, delivery: Delivery) -> Delivery:
    delivery.id = uuid.uuid4()
    delivery.status = DeliveryStatus.PENDING
    delivery.attempts = 0
    delivery.created_at = utc_now()
    delivery.next_attempt_at = delivery.created_at
    session.add(delivery)
    await session.flush()
    await wake_after_commit(session, DELIVERIES)
    return delivery


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    """One page of a client's deliveries, newest first, and the cursor of the next page."""

    deliveries: Sequence[Delivery]
    next_cursor: str | None


async def list_deliveries(
    session: AsyncSession,
    client_id: uuid.UUID,
    *,
    status: DeliveryStatus | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> DeliveryPage:
    """The client's deliveries, newest first, `limit` at a time (1..200), optionally of one
    status. Raises `InvalidInputError` for a cursor this function did not hand out."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInputError(f"limit must be between 1 and {MAX_PAGE_SIZE}")
    query = select(Delivery).where(Delivery.client_id == client_id)
    if status is not None:
        query = query.where(Delivery.status == status)
    if cursor is not None:
        created_at, delivery_id = _decode_cursor(cursor)
        query = query.where(tuple_(Delivery.created_at, Delivery.id) < (created_at, delivery_id))
    rows = list(
        await session.scalars(
            query.order_by(Delivery.created_at.desc(), Delivery.id.desc()).limit(limit + 1)
        )
    )
    page = rows[:limit]
    next_cursor = _encode_cursor(page[-1]) if len(rows) > limit else None
    return DeliveryPage(deliveries=page, next_cursor=next_cursor)


def _encode_cursor(last: Delivery) -> str:
    raw = f"{last.created_at.isoformat()}|{last.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, delivery_id = raw.split("|")
        moment = datetime.fromisoformat(created_at)
        if moment.tzinfo is None:
            raise ValueError("naive cursor")
        return moment, uuid.UUID(delivery_id)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise InvalidInputError("cursor is not one this API handed out") from None


async def get_delivery(
    session: AsyncSession, client_id: uuid.UUID, delivery_id: uuid.UUID
) -> Delivery:
    """The client's delivery with this id; raises `NotFoundError` (also for another client's)."""
    delivery = await session.get(Delivery, delivery_id)
    if delivery is None or delivery.client_id != client_id:
        raise NotFoundError(f"no delivery {delivery_id}")
    return delivery


async def attempts_of(session: AsyncSession, delivery_id: uuid.UUID) -> Sequence[DeliveryAttempt]:
    """Every try of a delivery, first first."""
    rows = await session.scalars(
        select(DeliveryAttempt)
        .where(DeliveryAttempt.delivery_id == delivery_id)
        .order_by(DeliveryAttempt.attempt, DeliveryAttempt.id)
    )
    return rows.all()


async def redeliver(
    session: AsyncSession, client_id: uuid.UUID, delivery_id: uuid.UUID
) -> Delivery:
    """Send the client's delivery again; the senders are woken on commit. Returns what will go.

    A delivered or dead delivery is repeated as a new message (a new `webhook-id`, the same body
    bytes), because a receiver that deduplicates on `webhook-id` would drop a repeat of one it
    accepted. A delivery still pending or failed is the same message, not yet accepted: it is
    made due now rather than duplicated.
    """
    return await _redeliver(session, await get_delivery(session, client_id, delivery_id))


async def redeliver_range(
    session: AsyncSession, client_id: uuid.UUID, *, user_id: str, from_date: date, to_date: date
) -> list[Delivery]:
    """Send again the latest version of each of a user's documents whose local date is within
    [from_date, to_date], as `redeliver` does one. Raises `InvalidInputError` for a reversed or
    over-long range, `NotFoundError` for an unknown user."""
    if from_date > to_date:
        raise InvalidInputError("from_date must not be after to_date")
    if to_date - from_date >= timedelta(days=MAX_REDELIVERY_DAYS):
        raise InvalidInputError(f"a redelivery range spans at most {MAX_REDELIVERY_DAYS} days")
    user = await get_user(session, client_id, user_id)
    rows = await session.scalars(
        select(Delivery)
        .where(
            Delivery.user_pk == user.id,
            Delivery.kind == DeliveryKind.DATA,
            Delivery.local_date >= from_date,
            Delivery.local_date <= to_date,
        )
        .order_by(Delivery.document_version, Delivery.created_at)
    )
    # Ordered by version then age, so the last row seen per document is its latest version's
    # most recent message.
    latest: dict[int | None, Delivery] = {}
    for row in rows:
        latest[row.document_id] = row
    return [await _redeliver(session, delivery) for delivery in latest.values()]


async def _redeliver(session: AsyncSession, original: Delivery) -> Delivery:
    now = utc_now()
    if original.status in OPEN_STATUSES:
        original.next_attempt_at = now
        await session.flush()
        await wake_after_commit(session, DELIVERIES)
        return original
    repeat = Delivery(
        client_id=original.client_id,
        user_pk=original.user_pk,
        user_id=original.user_id,
        kind=original.kind,
        document_id=original.document_id,
        document_version=original.document_version,
        data_structure=original.data_structure,
        local_date=original.local_date,
        event=original.event,
        datetime_string=original.datetime_string,
        body=original.body,
        redelivery_of=original.id,
    )
    return await _enqueue(session, repeat)


async def purge_dead(session: AsyncSession, *, dead_before: datetime) -> int:
    """Delete the deliveries (and their attempts) that went dead before `dead_before`; how
    many."""
    result = await session.execute(
        delete(Delivery).where(
            Delivery.status == DeliveryStatus.DEAD, Delivery.dead_at < dead_before
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
