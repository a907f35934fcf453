"""Clients: creation with fresh secrets, authentication, webhook URLs and data-source settings."""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass
from typing import Final

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from rookery.errors import InvalidInputError, NotFoundError, UnauthenticatedError
from rookery.store.audit import record_audit
from rookery.store.crypto import TokenCipher, hash_secret, secret_matches
from rookery.store.enums import AuditAction, DataSource
from rookery.store.tables import (
    CLIENT_NAME_MAX_LENGTH,
    Client,
    ClientDataSource,
    ClientRedirectUrl,
)

WEBHOOK_SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - a format prefix, not a secret
# Standard Webhooks asks for 24 to 64 random bytes; 32 is the usual choice (Svix's too).
WEBHOOK_SECRET_BYTES: Final = 32
SECRET_KEY_BYTES: Final = 32
HASH_KEY_BYTES: Final = 32
# Compared against when the client_uuid is unknown, so that a miss costs what a hit costs.
_NO_SUCH_CLIENT_HASH: Final = hash_secret(secrets.token_urlsafe(SECRET_KEY_BYTES))
UNAUTHENTICATED_MESSAGE: Final = "The client_uuid or password are incorrect"


@dataclass(frozen=True, slots=True)
class NewClient:
    """A client just created, with its secrets in clear: shown once, never stored as such."""

    client_uuid: uuid.UUID
    secret_key: str
    hash_key: str
    webhook_secret: str


@dataclass(frozen=True, slots=True)
class SigningKeys:
    """A client's keys for signing deliveries: `X-ROOK-HASH` and Standard Webhooks."""

    hash_key: str
    webhook_secret: str


def new_webhook_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` + base64 of random bytes."""
    return (
        WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(WEBHOOK_SECRET_BYTES)).decode()
    )


async def create_client(
    session: AsyncSession,
    cipher: TokenCipher,
    *,
    name: str,
    data_webhook_url: str | None = None,
    notification_webhook_url: str | None = None,
    actor: str = "cli",
) -> NewClient:
    """Add a client with fresh secrets to the session's transaction.

    Webhook URLs are stored as given: check them first (`rookery.delivery.ssrf`). Raises
    `InvalidInputError` for an empty or overlong name.
    """
    name = name.strip()
    if not 1 <= len(name) <= CLIENT_NAME_MAX_LENGTH:
        raise InvalidInputError(f"a client name is 1 to {CLIENT_NAME_MAX_LENGTH} characters")
    created = NewClient(
        client_uuid=uuid.uuid4(),
        secret_key=secrets.token_urlsafe(SECRET_KEY_BYTES),
        hash_key=secrets.token_urlsafe(HASH_KEY_BYTES),
        webhook_secret=new_webhook_secret(),
    )
    session.add(
        Client(
            id=created.client_uuid,
            name=name,
            secret_key_sha256=hash_secret(created.secret_key),
            hash_key_encrypted=cipher.encrypt(created.hash_key),
            webhook_secret_encrypted=cipher.encrypt(created.webhook_secret),
            data_webhook_url=data_webhook_url,
            notification_webhook_url=notification_webhook_url,
        )
    )
    await session.flush()
    await record_audit(
        session,
        actor=actor,
        action=AuditAction.CLIENT_CREATED,
        client_id=created.client_uuid,
        details={"name": name},
    )
    return created


async def get_client(session: AsyncSession, client_uuid: uuid.UUID) -> Client:
    """The client with this uuid; raises `NotFoundError`."""
    client = await session.get(Client, client_uuid)
    if client is None:
        raise NotFoundError(f"no client {client_uuid}")
    return client


async def authenticate_client(session: AsyncSession, client_uuid: str, secret_key: str) -> Client:
    """The client these Basic-auth credentials name; raises `UnauthenticatedError`.

    The secret is compared in constant time, and an unknown or malformed uuid costs the same
    comparison, so timing tells nothing about which part was wrong.
    """
    try:
        client = await session.get(Client, uuid.UUID(client_uuid))
    except ValueError:
        client = None
    stored_hash = client.secret_key_sha256 if client is not None else _NO_SUCH_CLIENT_HASH
    if not secret_matches(secret_key, stored_hash) or client is None:
        raise UnauthenticatedError(UNAUTHENTICATED_MESSAGE)
    return client


def signing_keys(client: Client, cipher: TokenCipher) -> SigningKeys:
    """The client's signing keys, decrypted."""
    return SigningKeys(
        hash_key=cipher.decrypt(client.hash_key_encrypted),
        webhook_secret=cipher.decrypt(client.webhook_secret_encrypted),
    )


async def set_webhooks(
    session: AsyncSession,
    client: Client,
    *,
    data_webhook_url: str | None,
    notification_webhook_url: str | None,
    actor: str,
) -> None:
    """Replace both webhook URLs (None clears one). Check them first (`rookery.delivery.ssrf`)."""
    client.data_webhook_url = data_webhook_url
    client.notification_webhook_url = notification_webhook_url
    await record_audit(
        session,
        actor=actor,
        action=AuditAction.CLIENT_WEBHOOKS_SET,
        client_id=client.id,
        details={
            "data_webhook_url": data_webhook_url,
            "notification_webhook_url": notification_webhook_url,
        },
    )
    await session.flush()


async def redirect_urls(session: AsyncSession, client_id: uuid.UUID) -> list[str]:
    """The URL prefixes the client's users may be sent back to after consent, in its order."""
    rows = await session.scalars(
        select(ClientRedirectUrl.url)
        .where(ClientRedirectUrl.client_id == client_id)
        .order_by(ClientRedirectUrl.position)
    )
    return list(rows)


async def set_redirect_urls(
    session: AsyncSession, client: Client, urls: list[str], *, actor: str
) -> None:
    """Replace the client's redirect URL prefixes. Check them first
    (`rookery.connections.redirects.check_allowed_redirect_prefix`)."""
    await session.execute(delete(ClientRedirectUrl).where(ClientRedirectUrl.client_id == client.id))
    session.add_all(
        ClientRedirectUrl(client_id=client.id, position=position, url=url)
        for position, url in enumerate(urls)
    )
    await record_audit(
        session,
        actor=actor,
        action=AuditAction.CLIENT_REDIRECT_URLS_SET,
        client_id=client.id,
        details={"redirect_urls": urls},
    )
    await session.flush()


async def data_source_settings(
    session: AsyncSession, client_id: uuid.UUID
) -> dict[DataSource, bool]:
    """Whether each data source is enabled for the client (a source never set is disabled)."""
    rows = await session.scalars(
        select(ClientDataSource).where(ClientDataSource.client_id == client_id)
    )
    enabled = {row.data_source: row.enabled for row in rows}
    return {source: enabled.get(source, False) for source in DataSource}


async def is_data_source_enabled(
    session: AsyncSession, client_id: uuid.UUID, source: DataSource
) -> bool:
    """Whether the client has `source` enabled."""
    row = await session.get(ClientDataSource, (client_id, source))
    return row is not None and row.enabled


async def set_data_source_enabled(
    session: AsyncSession, client_id: uuid.UUID, source: DataSource, enabled: bool, *, actor: str
) -> None:
    """Enable or disable a data source for the client."""
    row = await session.get(ClientDataSource, (client_id, source))
    if row is None:
        session.add(ClientDataSource(client_id=client_id, data_source=source, enabled=enabled))
    else:
        row.enabled = enabled
    await record_audit(
        session,
        actor=actor,
        action=AuditAction.DATA_SOURCE_ENABLED if enabled else AuditAction.DATA_SOURCE_DISABLED,
        client_id=client_id,
        subject=source.value,
    )
    await session.flush()
