"""Clients: secrets at rest, authentication, data-source settings, webhook URLs, key rotation."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from rookery.cli import app as cli_app
from rookery.config import Settings
from rookery.errors import InvalidInputError, NotFoundError, UnauthenticatedError
from rookery.store.clients import (
    NewClient,
    SigningKeys,
    authenticate_client,
    create_client,
    data_source_settings,
    get_client,
    is_data_source_enabled,
    set_data_source_enabled,
    set_webhooks,
    signing_keys,
)
from rookery.store.crypto import (
    TokenCipher,
    generate_key,
    hash_secret,
    load_cipher,
    reencrypt_stored_values,
)
from rookery.store.engine import create_engine, session_factory
from rookery.store.enums import AuditAction, DataSource
from rookery.store.tables import AuditEvent
from tests.jobs.conftest import process_environ

pytestmark = pytest.mark.anyio

ClientFactory = Callable[..., Awaitable[NewClient]]
Sessions = async_sessionmaker[AsyncSession]


async def _only_client_row(sessions: Sessions) -> dict[str, object]:
    """The one row of `clients`, as the database holds it (no ORM type conversion)."""
    async with sessions() as session:
        result = await session.execute(text("SELECT * FROM clients"))
        return dict(result.mappings().one())


async def test_secrets_are_stored_hashed_or_encrypted_never_in_clear(
    new_client: ClientFactory, sessions: Sessions, cipher: TokenCipher
) -> None:
    created = await new_client(name="Acme Health")

    row = await _only_client_row(sessions)
    stored = " ".join(str(value) for value in row.values())
    for secret in (created.secret_key, created.hash_key, created.webhook_secret):
        assert secret not in stored
    assert row["secret_key_sha256"] == hash_secret(created.secret_key)
    assert cipher.decrypt(str(row["hash_key_encrypted"])) == created.hash_key
    assert cipher.decrypt(str(row["webhook_secret_encrypted"])) == created.webhook_secret


async def test_new_secrets_are_random_and_in_their_formats(new_client: ClientFactory) -> None:
    first, second = await new_client(), await new_client()
    assert len({first.secret_key, second.secret_key, first.hash_key, second.hash_key}) == 4
    assert first.client_uuid != second.client_uuid
    assert first.webhook_secret.startswith("whsec_")
    assert 24 <= len(base64.b64decode(first.webhook_secret.removeprefix("whsec_"))) <= 64
    assert len(first.secret_key) >= 43  # 32 random bytes, url-safe base64


async def test_creation_is_audited_without_secrets(
    new_client: ClientFactory, sessions: Sessions
) -> None:
    created = await new_client(name="Acme Health")
    async with sessions() as session:
        event = (await session.scalars(select(AuditEvent))).one()
    assert (event.action, event.client_id, event.actor) == (
        AuditAction.CLIENT_CREATED,
        created.client_uuid,
        "cli",
    )
    assert created.secret_key not in str(event.details)


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
async def test_a_client_needs_a_sensible_name(
    name: str, sessions: Sessions, cipher: TokenCipher
) -> None:
    with pytest.raises(InvalidInputError, match="client name"):
        async with sessions.begin() as session:
            await create_client(session, cipher, name=name)


async def test_authentication_accepts_only_the_clients_own_secret(
    new_client: ClientFactory, sessions: Sessions
) -> None:
    alice, bob = await new_client(name="Alice"), await new_client(name="Bob")
    async with sessions() as session:
        client = await authenticate_client(session, str(alice.client_uuid), alice.secret_key)
        assert client.id == alice.client_uuid
        for username, password in [
            (str(alice.client_uuid), bob.secret_key),
            (str(alice.client_uuid), alice.secret_key + "x"),
            (str(alice.client_uuid), ""),
            (str(uuid.uuid4()), alice.secret_key),
            ("not-a-uuid", alice.secret_key),
            ("", ""),
        ]:
            with pytest.raises(UnauthenticatedError, match="client_uuid or password"):
                await authenticate_client(session, username, password)


async def test_get_client_of_an_unknown_uuid_is_not_found(sessions: Sessions) -> None:
    async with sessions() as session:
        with pytest.raises(NotFoundError):
            await get_client(session, uuid.uuid4())


async def test_data_sources_start_disabled_and_follow_their_setting(
    new_client: ClientFactory, sessions: Sessions
) -> None:
    alice, bob = await new_client(), await new_client()
    async with sessions() as session:
        assert await data_source_settings(session, alice.client_uuid) == {
            DataSource.WITHINGS: False
        }
    for enabled in (True, False, True):
        async with sessions.begin() as session:
            await set_data_source_enabled(
                session, alice.client_uuid, DataSource.WITHINGS, enabled, actor="test"
            )
        async with sessions() as session:
            assert await data_source_settings(session, alice.client_uuid) == {
                DataSource.WITHINGS: enabled
            }
            assert (
                await is_data_source_enabled(session, alice.client_uuid, DataSource.WITHINGS)
                is enabled
            )
            assert not await is_data_source_enabled(session, bob.client_uuid, DataSource.WITHINGS)


async def test_webhook_urls_are_replaced_together(
    new_client: ClientFactory, sessions: Sessions
) -> None:
    created = await new_client(data_webhook_url="https://a.example/data")
    async with sessions.begin() as session:
        client = await get_client(session, created.client_uuid)
        await set_webhooks(
            session,
            client,
            data_webhook_url=None,
            notification_webhook_url="https://a.example/events",
            actor="test",
        )
    async with sessions() as session:
        client = await get_client(session, created.client_uuid)
    assert client.data_webhook_url is None
    assert client.notification_webhook_url == "https://a.example/events"


async def test_reencryption_moves_every_secret_to_the_first_key(
    new_client: ClientFactory, sessions: Sessions, settings: Settings
) -> None:
    created = await new_client()
    assert settings.encryption_keys is not None
    old_key = settings.encryption_keys.get_secret_value()
    new_key = generate_key()
    async with sessions.begin() as session:
        assert await reencrypt_stored_values(session, TokenCipher([new_key, old_key])) == 2
    async with sessions() as session:
        client = await get_client(session, created.client_uuid)
    keys = signing_keys(client, TokenCipher([new_key]))
    assert (keys.hash_key, keys.webhook_secret) == (created.hash_key, created.webhook_secret)


def test_rookery_client_create_stores_a_client_that_authenticates_on_each_engine(
    settings: Settings,
) -> None:
    """`rookery client create --json` (product.md §1), on the test's engine: exactly the four
    keys, and what it stored authenticates with them, holds none of them in clear."""
    result = CliRunner().invoke(
        cli_app,
        [
            "client",
            "create",
            "--name",
            "Acme",
            "--notification-webhook-url",
            "http://127.0.0.1:9/events",
            "--json",
        ],
        env=process_environ(settings),
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert list(created) == ["client_uuid", "secret_key", "hash_key", "webhook_secret"]

    async def stored() -> tuple[dict[str, object], SigningKeys, str | None]:
        engine = create_engine(settings.database_url)
        try:
            async with session_factory(engine)() as session:
                row = dict((await session.execute(text("SELECT * FROM clients"))).mappings().one())
                client = await authenticate_client(
                    session, created["client_uuid"], created["secret_key"]
                )
                return (
                    row,
                    signing_keys(client, load_cipher(settings)),
                    client.notification_webhook_url,
                )
        finally:
            await engine.dispose()

    row, keys, notification_url = asyncio.run(stored())
    in_clear = " ".join(str(value) for value in row.values())
    assert not any(created[key] in in_clear for key in ("secret_key", "hash_key", "webhook_secret"))
    assert keys == SigningKeys(
        hash_key=created["hash_key"], webhook_secret=created["webhook_secret"]
    )
    assert notification_url == "http://127.0.0.1:9/events"
