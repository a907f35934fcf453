"""Clients, users and deliveries for the delivery tests."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rookery.delivery import enqueue_document
from rookery.model.common import DataStructure
from rookery.store.clients import NewClient
from rookery.store.tables import Client, Delivery, DeliveryAttempt, User
from rookery.store.users import get_or_create_user

ClientFactory = Callable[..., Awaitable[NewClient]]
DATETIME_STRING = "2026-11-14T07:31:00.000000+01:00"


@dataclass(frozen=True, slots=True)
class Seeded:
    """A client with its secrets, and one of its users."""

    keys: NewClient
    user_id: str

    @property
    def client_uuid(self) -> str:
        return str(self.keys.client_uuid)


async def seed(
    new_client: ClientFactory,
    sessions: async_sessionmaker[AsyncSession],
    *,
    data_webhook_url: str | None,
    notification_webhook_url: str | None = None,
    user_id: str = "user-1",
) -> Seeded:
    """A committed client with these URLs and a user."""
    keys = await new_client(
        data_webhook_url=data_webhook_url, notification_webhook_url=notification_webhook_url
    )
    async with sessions.begin() as session:
        await get_or_create_user(session, keys.client_uuid, user_id)
    return Seeded(keys, user_id)


def document_body(user_id: str, document_id: int, version: int) -> bytes:
    """A stand-in document body, with spacing no serialiser would produce (to prove the bytes
    go out as stored)."""
    content = {"data_structure": "body_metrics_event", "user_id": user_id, "id": document_id}
    return (json.dumps(content, indent=3) + f"  \n// v{version}").encode()


async def enqueue(
    sessions: async_sessionmaker[AsyncSession],
    seeded: Seeded,
    *,
    document_id: int = 1,
    version: int = 1,
    local_date: date = date(2026, 11, 14),
) -> Delivery:
    """Enqueue and commit the delivery of one document version."""
    async with sessions.begin() as session:
        return await enqueue_in(
            session, seeded, document_id=document_id, version=version, local_date=local_date
        )


async def enqueue_in(
    session: AsyncSession,
    seeded: Seeded,
    *,
    document_id: int = 1,
    version: int = 1,
    local_date: date = date(2026, 11, 14),
) -> Delivery:
    """Enqueue one document version in the caller's open transaction (as producers do)."""
    client = await session.get_one(Client, seeded.keys.client_uuid)
    user = await session.scalar(
        select(User).where(User.client_id == client.id, User.user_id == seeded.user_id)
    )
    assert user is not None
    return await enqueue_document(
        session,
        client=client,
        user=user,
        document_id=document_id,
        document_version=version,
        body=document_body(seeded.user_id, document_id, version),
        datetime_string=DATETIME_STRING,
        data_structure=DataStructure.BODY_METRICS_EVENT,
        local_date=local_date,
    )


async def reload(sessions: async_sessionmaker[AsyncSession], delivery_id: uuid.UUID) -> Delivery:
    async with sessions() as session:
        return await session.get_one(Delivery, delivery_id)


async def attempts(
    sessions: async_sessionmaker[AsyncSession], delivery_id: uuid.UUID
) -> list[DeliveryAttempt]:
    async with sessions() as session:
        rows = await session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id == delivery_id)
            .order_by(DeliveryAttempt.attempt)
        )
        return list(rows)


async def all_deliveries(sessions: async_sessionmaker[AsyncSession]) -> list[Delivery]:
    async with sessions() as session:
        return list(await session.scalars(select(Delivery).order_by(Delivery.created_at)))
