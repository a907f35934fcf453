"""A connection's state changes: linked after consent, unlinked by the user, the client or
Withings, and marked for re-linking when Withings refuses its refresh token.

Every change is made in the caller's transaction together with what follows from it (the jobs
to run at Withings, the client's notification events, the audit trail), so that a commit keeps
all or nothing. Audit events name the user and the scopes, never a token.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Final

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rookery.delivery.events import ClientEvent, EventLevel
from rookery.delivery.queue import enqueue_client_event
from rookery.jobs.kinds import JobKind
from rookery.jobs.queue import enqueue
from rookery.store.audit import record_audit
from rookery.store.crypto import TokenCipher
from rookery.store.enums import AuditAction, ConnectionState
from rookery.store.tables import Client, User, WithingsConnection
from rookery.store.users import get_or_create_user
from rookery.withings.responses import TokenSet

logger = structlog.get_logger(__name__)

DATA_SOURCE: Final = "Withings"
# The audit actor of what Withings itself did (an unlink notice, a refused refresh token).
WITHINGS_ACTOR: Final = "withings"


def user_actor(user_id: str) -> str:
    """The audit actor of a user acting for themselves (consent, the connections page)."""
    return f"user:{user_id}"


# The hook of the link: each kind is enqueued with payload {"connection_id": "<uuid>"} and
# dedupe key "<kind>:<connection_id>" whenever a connection is linked or relinked, in the
# transaction that stores it: its subscriptions, and the pipeline's history pull.
ON_LINKED_KINDS: Final[tuple[JobKind, ...]] = (
    JobKind.WITHINGS_SUBSCRIBE,
    JobKind.PIPELINE_BACKFILL,
)


def connection_payload(connection_id: uuid.UUID) -> dict[str, str]:
    """The payload of every job that concerns one connection."""
    return {"connection_id": str(connection_id)}


async def find_connection(session: AsyncSession, user_pk: uuid.UUID) -> WithingsConnection | None:
    """The user's connection row, if the user ever linked."""
    return await session.scalar(
        select(WithingsConnection).where(WithingsConnection.user_pk == user_pk)
    )


async def ensure_user(session: AsyncSession, client: Client, user_id: str) -> User:
    """The client's user `user_id`, created (with the client's `user_created` event) if new.

    Raises `InvalidInputError` for a `user_id` that breaks ROOK's rule.
    """
    user, created = await get_or_create_user(session, client.id, user_id)
    if created:
        await enqueue_client_event(
            session,
            client=client,
            user_id=user.user_id,
            action=ClientEvent.USER_CREATED,
            level=EventLevel.INFO,
            message=f"User {user.user_id} created",
        )
    return user


async def link(
    session: AsyncSession,
    cipher: TokenCipher,
    *,
    client: Client,
    user_id: str,
    tokens: TokenSet,
    now: datetime,
) -> WithingsConnection:
    """Store a consent: the user (created if new), its connection (the same row on a relink)
    with encrypted tokens, state `linked`; the jobs of `ON_LINKED_KINDS`; the client's
    `data_source_linked` event. Caller commits."""
    user = await ensure_user(session, client, user_id)
    connection = await session.scalar(
        select(WithingsConnection)
        .where(WithingsConnection.user_pk == user.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    relinked = connection is not None
    if connection is None:
        connection = WithingsConnection(user_pk=user.id, state=ConnectionState.LINKED)
        session.add(connection)
    connection.withings_userid = int(tokens.userid)
    connection.scopes = sorted(scope.value for scope in tokens.scope)
    connection.access_token_encrypted = cipher.encrypt(tokens.access_token)
    connection.refresh_token_encrypted = cipher.encrypt(tokens.refresh_token)
    connection.access_token_expires_at = now + timedelta(seconds=tokens.expires_in)
    connection.state = ConnectionState.LINKED
    connection.subscribed_applis = []
    connection.linked_at = now
    connection.unlinked_at = None
    await session.flush()
    await on_linked(session, connection)
    await enqueue_client_event(
        session,
        client=client,
        user_id=user.user_id,
        action=ClientEvent.DATA_SOURCE_LINKED,
        level=EventLevel.INFO,
        message=f"{DATA_SOURCE} linked",
    )
    await record_audit(
        session,
        actor=user_actor(user.user_id),
        action=AuditAction.CONNECTION_LINKED,
        client_id=client.id,
        subject=user.user_id,
        details={"data_source": DATA_SOURCE, "scopes": connection.scopes, "relinked": relinked},
    )
    logger.info("withings_linked", connection_id=str(connection.id), client_id=str(client.id))
    return connection


async def on_linked(session: AsyncSession, connection: WithingsConnection) -> None:
    """Enqueue every kind of `ON_LINKED_KINDS` for `connection` (in the caller's transaction)."""
    for kind in ON_LINKED_KINDS:
        await enqueue(
            session,
            kind,
            connection_payload(connection.id),
            dedupe_key=f"{kind}:{connection.id}",
            connection_id=connection.id,
        )


async def unlink(
    session: AsyncSession,
    connection: WithingsConnection,
    *,
    client: Client,
    user_id: str,
    reason: str,
    now: datetime,
    actor: str | None = None,
) -> bool:
    """Unlink at once: tokens deleted, state `unlinked`, the client's `data_source_unlinked`
    event, an audit event by `actor` (default: the user), and a job that revokes the grant
    (and with it the subscriptions) at Withings.

    False (and nothing changed) when the connection was already unlinked. Caller commits.
    """
    if connection.state is ConnectionState.UNLINKED:
        return False
    connection.state = ConnectionState.UNLINKED
    connection.access_token_encrypted = None
    connection.refresh_token_encrypted = None
    connection.access_token_expires_at = None
    connection.subscribed_applis = []
    connection.unlinked_at = now
    await session.flush()
    await enqueue(
        session,
        JobKind.WITHINGS_REVOKE,
        {"withings_userid": connection.withings_userid},
        dedupe_key=f"{JobKind.WITHINGS_REVOKE}:{connection.withings_userid}",
    )
    await enqueue_client_event(
        session,
        client=client,
        user_id=user_id,
        action=ClientEvent.DATA_SOURCE_UNLINKED,
        level=EventLevel.INFO,
        message=f"{DATA_SOURCE} unlinked ({reason})",
    )
    await record_audit(
        session,
        actor=actor or user_actor(user_id),
        action=AuditAction.CONNECTION_UNLINKED,
        client_id=client.id,
        subject=user_id,
        details={"data_source": DATA_SOURCE, "reason": reason},
    )
    logger.info("withings_unlinked", connection_id=str(connection.id), reason=reason)
    return True


async def unlink_user(
    session: AsyncSession,
    *,
    client: Client,
    user_id: str,
    reason: str,
    now: datetime,
    actor: str | None = None,
) -> bool:
    """Unlink the client's user `user_id` (audited as done by `actor`, default the user);
    False when it had nothing linked. Caller commits."""
    connection = await session.scalar(
        select(WithingsConnection)
        .join(User, User.id == WithingsConnection.user_pk)
        .where(User.client_id == client.id, User.user_id == user_id)
        .with_for_update(of=WithingsConnection)
        .execution_options(populate_existing=True)
    )
    if connection is None:
        return False
    return await unlink(
        session, connection, client=client, user_id=user_id, reason=reason, now=now, actor=actor
    )


async def handle_withings_unlink(
    session: AsyncSession, *, withings_userid: int, now: datetime
) -> int:
    """Withings says the user unlinked our app (appli 46, `action=unlink`): unlink every
    connection to that Withings account, whichever client it belongs to, as a disconnect
    does. Returns how many were unlinked. Caller commits."""
    rows = await session.execute(
        select(WithingsConnection, User, Client)
        .join(User, User.id == WithingsConnection.user_pk)
        .join(Client, Client.id == User.client_id)
        .where(
            WithingsConnection.withings_userid == withings_userid,
            WithingsConnection.state != ConnectionState.UNLINKED,
        )
        .with_for_update(of=WithingsConnection)
        .execution_options(populate_existing=True)
    )
    unlinked = 0
    for connection, user, client in rows.all():
        if await unlink(
            session,
            connection,
            client=client,
            user_id=user.user_id,
            reason="unlinked at Withings",
            now=now,
            actor=WITHINGS_ACTOR,
        ):
            unlinked += 1
    return unlinked


async def mark_needs_relink(
    session: AsyncSession, connection: WithingsConnection, *, now: datetime
) -> None:
    """Withings refused the refresh token: the user must consent again. The tokens are
    deleted, the state is `needs_relink`, and the client gets `extraction_failed`."""
    user = await session.get(User, connection.user_pk)
    assert user is not None  # a connection never outlives its user (ON DELETE CASCADE)
    client = await session.get(Client, user.client_id)
    assert client is not None
    connection.state = ConnectionState.NEEDS_RELINK
    connection.access_token_encrypted = None
    connection.refresh_token_encrypted = None
    connection.access_token_expires_at = None
    connection.updated_at = now
    await session.flush()
    await enqueue_client_event(
        session,
        client=client,
        user_id=user.user_id,
        action=ClientEvent.EXTRACTION_FAILED,
        level=EventLevel.ERROR,
        message=f"{DATA_SOURCE} refused the user's authorization; the user must link again",
    )
    await record_audit(
        session,
        actor=WITHINGS_ACTOR,
        action=AuditAction.CONNECTION_NEEDS_RELINK,
        client_id=client.id,
        subject=user.user_id,
        details={"data_source": DATA_SOURCE},
    )
    logger.warning("withings_needs_relink", connection_id=str(connection.id))


async def connection_of(
    session: AsyncSession, client_id: uuid.UUID, user_id: str
) -> WithingsConnection | None:
    """The connection of the client's user `user_id`, if that user ever linked."""
    return await session.scalar(
        select(WithingsConnection)
        .join(User, User.id == WithingsConnection.user_pk)
        .where(User.client_id == client_id, User.user_id == user_id)
    )


def is_linked(connection: WithingsConnection | None) -> bool:
    """Whether the connection currently has a usable grant."""
    return connection is not None and connection.state is ConnectionState.LINKED
