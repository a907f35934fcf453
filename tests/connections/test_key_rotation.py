"""Rotating the encryption keys on a running deployment, on SQLite and PostgreSQL: new key first
(old kept), `rookery db reencrypt` while the server serves, then the old key dropped — every
stored secret still opens: clients' signing keys, Withings tokens, the deployment secret."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from rookery.app import Resources, open_resources
from rookery.cli import app as cli_app
from rookery.connections.deployment import notify_token
from rookery.connections.tokens import access_token, force_refresh
from rookery.store.clients import signing_keys
from rookery.store.crypto import DecryptionError, TokenCipher, generate_key, reencrypt_stored_values
from rookery.store.tables import Client, DeploymentSecret, WithingsConnection
from tests.conftest import SettingsFactory
from tests.connections.stack import (
    WITHINGS_USER,
    Browser,
    Stack,
    connection_row,
    enable_withings,
    new_client,
    run_connection_jobs,
    start_stack,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def keys() -> tuple[str, str]:
    """(old, new) encryption keys."""
    return generate_key(), generate_key()


@pytest.fixture
def stack(
    make_settings: SettingsFactory, database_url: str, keys: tuple[str, str]
) -> Iterator[Stack]:
    """The server already restarted with the new key first and the old one kept."""
    old, new = keys
    with ExitStack() as exits:
        yield start_stack(exits, make_settings, database_url, encryption_keys=f"{new},{old}")


def _notification() -> dict[str, str]:
    return {
        "userid": str(WITHINGS_USER),
        "appli": "1",
        "startdate": "1699999200",
        "enddate": "1700027400",
    }


async def _stored_ciphertexts(resources: Resources) -> list[str]:
    async with resources.sessions() as session:
        client = (await session.scalars(select(Client))).one()
        connection = (await session.scalars(select(WithingsConnection))).one()
        secret = (await session.scalars(select(DeploymentSecret))).one()
    assert connection.access_token_encrypted is not None
    assert connection.refresh_token_encrypted is not None
    return [
        client.hash_key_encrypted,
        client.webhook_secret_encrypted,
        connection.access_token_encrypted,
        connection.refresh_token_encrypted,
        secret.value_encrypted,
    ]


async def test_rotating_keys_keeps_every_secret_and_the_server_serving(
    stack: Stack,
    resources: Resources,
    browser: Browser,
    make_settings: SettingsFactory,
    database_url: str,
    keys: tuple[str, str],
) -> None:
    old, new = keys
    client = await new_client(resources)
    await enable_withings(stack, client)
    assert "result=connected" in await browser.link(client, "user-1")
    assert await run_connection_jobs(resources) == ["withings.subscribe: done"]
    connection = await connection_row(resources, client, "user-1")
    assert connection is not None
    token_before = await access_token(stack.context(resources), connection.id)
    (callback,) = {s["callbackurl"] for s in stack.sandbox_user()["subscriptions"]}
    # As if everything had been written before the rotation began: under the old key only.
    async with resources.sessions.begin() as session:
        assert await reencrypt_stored_values(session, TokenCipher([old, new])) == 5
    for ciphertext in await _stored_ciphertexts(resources):
        with pytest.raises(DecryptionError):
            TokenCipher([new]).decrypt(ciphertext)

    environ = {
        "ROOKERY_DATABASE_URL": database_url,
        "ROOKERY_PUBLIC_URL": stack.rookery_url,
        "ROOKERY_ENCRYPTION_KEYS": f"{new},{old}",
    }
    rotation = asyncio.create_task(
        asyncio.to_thread(CliRunner().invoke, cli_app, ["db", "reencrypt"], env=environ)
    )
    served = 0
    async with httpx2.AsyncClient(timeout=30) as http:
        while True:  # Withings keeps notifying meanwhile (at least once, during or just after)
            response = await http.post(callback, data=_notification())
            assert response.status_code == 200, response.text
            served += 1
            if rotation.done():
                break
        result = await rotation
        assert result.exit_code == 0, result.output
        assert "re-encrypted 5 stored values" in result.stdout
        assert served >= 1

        # The old key dropped (each process restarted with the new key alone).
        only_new = make_settings(
            database_url,
            encryption_keys=new,
            public_url=stack.rookery_url,
            withings_api_url=stack.sandbox_url,
        )
        async with open_resources(only_new) as restarted:
            ctx = stack.context(restarted)
            async with restarted.sessions() as session:
                row = await session.get(Client, client.client_uuid)
                assert row is not None
                keys_now = signing_keys(row, restarted.cipher)
                assert keys_now.hash_key == client.hash_key
                assert keys_now.webhook_secret == client.webhook_secret
                assert await notify_token(session, restarted.cipher) == _token_of(callback)
            assert await access_token(ctx, connection.id) == token_before
            renewed = await force_refresh(ctx, connection.id, rejected_token=token_before)
            assert await ctx.withings.getdevice(renewed) is not None
        response = await http.post(callback, data=_notification())
        assert response.status_code == 200, response.text


def _token_of(callback: str) -> str:
    return parse_qs(urlsplit(callback).query)["token"][0]
