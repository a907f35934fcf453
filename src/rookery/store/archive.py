"""The raw archive: every Withings exchange of a connection, kept so documents can be rebuilt.

Responses are stored zlib-compressed, exactly as received, with their request (the Withings
client has already removed every secret from the parameters). The bodies of the OAuth and nonce
services are not kept: they carry tokens, and no document is built from them.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rookery.store.tables import RawExchange, User, WithingsConnection
from rookery.withings.client import Exchange

# Services whose responses hold credentials (access and refresh tokens, nonces).
BODY_NOT_KEPT_SERVICES: Final = frozenset({"/v2/oauth2", "/v2/signature"})
# zlib's default trade-off: Withings JSON shrinks about tenfold at a fraction of a millisecond.
COMPRESSION_LEVEL: Final = 6
# Rows read per query when streaming the archive.
STREAM_BATCH: Final = 200


@dataclass(frozen=True, slots=True)
class ArchivedExchange:
    """One archived exchange, decompressed. `response_text` is None when no response arrived
    or its body was not kept."""

    id: int
    connection_id: uuid.UUID
    job_id: int | None
    service: str
    action: str
    params: dict[str, str]
    http_status: int | None
    response_text: str | None
    fetched_at: datetime


@dataclass(frozen=True, slots=True)
class ArchivedConnection:
    """A connection that has archived exchanges, with whom its documents are for."""

    connection_id: uuid.UUID
    client_id: uuid.UUID
    user_pk: uuid.UUID
    user_id: str


async def archive_exchange(
    session: AsyncSession, *, connection_id: uuid.UUID, job_id: int | None, exchange: Exchange
) -> None:
    """Add `exchange` to the archive in the caller's transaction (the caller commits)."""
    keep_body = exchange.response_text is not None and exchange.service not in (
        BODY_NOT_KEPT_SERVICES
    )
    session.add(
        RawExchange(
            connection_id=connection_id,
            job_id=job_id,
            service=exchange.service,
            action=exchange.action,
            params=dict(exchange.params),
            http_status=exchange.http_status,
            response_zlib=(
                zlib.compress(exchange.response_text.encode(), COMPRESSION_LEVEL)
                if keep_body and exchange.response_text is not None
                else None
            ),
            fetched_at=exchange.started_at_utc,
        )
    )
    await session.flush()


async def archived_exchanges(
    sessions: async_sessionmaker[AsyncSession],
    connection_id: uuid.UUID,
    *,
    only: Collection[tuple[str, str]] | None = None,
) -> AsyncIterator[ArchivedExchange]:
    """Every archived exchange of the connection, oldest first, read in batches (each in its own
    short transaction, so a long replay holds no lock). `only` keeps the (service, action)
    pairs listed."""
    after_id = 0
    while True:
        query = (
            select(RawExchange)
            .where(RawExchange.connection_id == connection_id, RawExchange.id > after_id)
            .order_by(RawExchange.id)
            .limit(STREAM_BATCH)
        )
        if only is not None:
            query = query.where(RawExchange.service.in_({service for service, _ in only}))
        async with sessions() as session:
            rows = (await session.scalars(query)).all()
        if not rows:
            return
        for row in rows:
            if only is None or (row.service, row.action) in only:
                yield _decoded(row)
        after_id = rows[-1].id


async def archived_connections(
    session: AsyncSession,
    *,
    client_id: uuid.UUID | None = None,
    user_id: str | None = None,
) -> list[ArchivedConnection]:
    """The connections with archived exchanges, optionally of one client (and one of its users),
    in a stable order."""
    has_archive = select(RawExchange.id).where(RawExchange.connection_id == WithingsConnection.id)
    query = (
        select(WithingsConnection.id, User.client_id, User.id, User.user_id)
        .join(User, User.id == WithingsConnection.user_pk)
        .where(has_archive.exists())
        .order_by(User.client_id, User.user_id)
    )
    if client_id is not None:
        query = query.where(User.client_id == client_id)
    if user_id is not None:
        query = query.where(User.user_id == user_id)
    rows = (await session.execute(query)).all()
    return [ArchivedConnection(*row) for row in rows]


def _decoded(row: RawExchange) -> ArchivedExchange:
    return ArchivedExchange(
        id=row.id,
        connection_id=row.connection_id,
        job_id=row.job_id,
        service=row.service,
        action=row.action,
        params={str(key): str(value) for key, value in row.params.items()},
        http_status=row.http_status,
        response_text=(
            None if row.response_zlib is None else zlib.decompress(row.response_zlib).decode()
        ),
        fetched_at=row.fetched_at,
    )
