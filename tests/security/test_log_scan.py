"""A full run with every log line captured, scanned for secrets: none may appear.

The whole deployment runs on loopback (sandbox, server, worker with the sender, a webhook
receiver): a user links Withings through the OAuth flow, the backfill and a notification are
fetched and delivered, the client reads through the API and redelivers, the operator and the
client sign in to the dashboard, `/metrics` is scraped, the user is unlinked (Withings is told),
and the encryption key is rotated with `rookery db reencrypt`. Logging is configured as
`rookery serve` configures it (Rookery and uvicorn at DEBUG, through the one redacting renderer),
and everything written to stdout and stderr, by any logger or handler, is scanned.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from rookery.cli import app as cli_app
from rookery.config import Settings, split_keys
from rookery.connections.deployment import notify_token
from rookery.logs import configure_logging
from rookery.sandbox.synth import generate_population
from rookery.store.crypto import generate_key, load_cipher
from rookery.store.tables import Delivery, WithingsConnection
from rookery.web.sessions import SESSION_COOKIE
from tests.pipeline.harness import Deployment, deployment, new_user_id, now_utc
from tests.support.logs import logging_restored

pytestmark = pytest.mark.timeout(300)

ADMIN_TOKEN = "operator-token-for-the-log-scan-0123456789"
# Short enough that the run stays quick, long enough for every kind of document.
BACKFILL_DAYS = 2
# A secret shorter than this could appear by chance in unrelated text.
SHORTEST_SECRET = 16


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """Logging as it was before the test, afterwards."""
    with logging_restored():
        yield


def test_no_secret_reaches_the_logs_of_a_full_run(
    make_settings: Callable[..., Settings],
    database_url: str,
    capfd: pytest.CaptureFixture[str],
    restored_logging: None,
) -> None:
    population = generate_population(1, 21, now_utc=now_utc(), history_days=BACKFILL_DAYS + 3)
    account = population.accounts[0]
    secrets: dict[str, str] = {}
    with deployment(
        make_settings,
        database_url,
        population,
        backfill_days=BACKFILL_DAYS,
        admin_token=ADMIN_TOKEN,
    ) as stack:
        # After the servers started: uvicorn's loggers go through the renderer, as in serve.
        configure_logging(level="DEBUG", json=True)
        user_id = new_user_id()
        stack.link(user_id, account.userid)
        stack.wait_backfill(user_id)
        taken_s = int(stack.control("GET", "clock")["now"])
        stack.control(
            "POST",
            f"users/{account.userid}/records",
            kind="measuregrps",
            record={"date": taken_s, "measures": [{"value": 81234, "type": 1, "unit": -3}]},
        )
        stack.settle()
        assert stack.data(), "documents were delivered"
        _use_the_client_api(stack, user_id)
        secrets.update(_dashboard_sessions(stack))
        metrics = stack.http.get(
            f"{stack.rookery_url}/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        assert metrics.status_code == 200
        secrets.update(_withings_tokens(stack, account.userid))
        secrets.update(stack.query(_stored_secrets(stack.settings)))
        revoked = stack.http.post(
            f"{stack.rookery_url}/api/v1/user_id/{user_id}/data_sources/revoke_auth",
            json={"data_source": "Withings"},
            auth=stack.auth,
        )
        assert revoked.status_code == 200, revoked.text
        stack.settle()
        rotation = _rotate_keys(stack)
        secrets["new encryption key"] = rotation.new_key
    captured = capfd.readouterr()
    logs = "\n".join([captured.out, captured.err, rotation.output])

    secrets.update(
        {
            "client secret_key": stack.client.secret_key,
            "client hash_key": stack.client.hash_key,
            "client webhook secret": stack.client.webhook_secret,
            "webhook secret key": stack.client.webhook_secret.removeprefix("whsec_"),
            "Withings client secret": stack.settings.withings_client_secret.get_secret_value(),
            "admin token": ADMIN_TOKEN,
        }
    )
    assert stack.settings.encryption_keys is not None
    for position, key in enumerate(split_keys(stack.settings.encryption_keys.get_secret_value())):
        secrets[f"encryption key {position}"] = key
    # The scan saw the run: the requests that carried secrets were logged, redacted.
    assert re.search(r"POST /withings/notify\?token=\[redacted\]", logs), logs[-2000:]
    assert "/withings/oauth/callback?" in logs
    assert "/dashboard/login" in logs
    for name, value in secrets.items():
        assert len(value) >= SHORTEST_SECRET, name
        assert value not in logs, f"the {name} appears in the logs"


def _use_the_client_api(stack: Deployment, user_id: str) -> None:
    """Reads and a redelivery, with the client's Basic auth."""
    documents = stack.http.get(
        f"{stack.rookery_url}/api/v1/client/changes", params={"limit": 10}, auth=stack.auth
    )
    assert documents.status_code == 200
    deliveries = stack.http.get(f"{stack.rookery_url}/api/v1/client/deliveries", auth=stack.auth)
    delivery_id = deliveries.json()["deliveries"][0]["id"]
    redelivered = stack.http.post(
        f"{stack.rookery_url}/api/v1/client/deliveries/{delivery_id}/redeliver", auth=stack.auth
    )
    assert redelivered.status_code == 202, redelivered.text
    wrong = stack.http.get(
        f"{stack.rookery_url}/api/v1/client/users/{user_id}/sync",
        auth=(str(stack.client.client_uuid), stack.client.secret_key[::-1]),
    )
    assert wrong.status_code == 401


def _dashboard_sessions(stack: Deployment) -> dict[str, str]:
    """Sign in as the operator and as the client, open the pages; the session cookies."""
    cookies: dict[str, str] = {}
    for who, credentials in (
        ("operator", {"admin_token": ADMIN_TOKEN}),
        (
            "client",
            {"client_uuid": str(stack.client.client_uuid), "secret_key": stack.client.secret_key},
        ),
    ):
        stack.http.cookies.clear()
        form = stack.http.get(f"{stack.rookery_url}/dashboard/login")
        token = re.search(r'name="token" value="([^"]+)"', form.text)
        assert token is not None
        signed_in = stack.http.post(
            f"{stack.rookery_url}/dashboard/login",
            data={"token": token.group(1), **credentials},
        )
        assert signed_in.status_code == 303, signed_in.text
        cookies[f"{who}'s dashboard session"] = signed_in.cookies[SESSION_COOKIE]
        page = stack.http.get(stack.rookery_url + signed_in.headers["location"])
        assert page.status_code == 200
    stack.http.cookies.clear()
    return cookies


def _withings_tokens(stack: Deployment, withings_userid: int) -> dict[str, str]:
    """Every token the sandbox issued to Rookery for the account and still knows."""
    (user,) = [u for u in stack.control("GET", "users")["users"] if u["userid"] == withings_userid]
    return {
        f"Withings {kind[:-1]} {position}": grant["token"]
        for kind in ("access_tokens", "refresh_tokens")
        for position, grant in enumerate(user[kind])
    }


def _stored_secrets(settings: Settings) -> Callable[[AsyncSession], Any]:
    """The notification token and the stored Withings tokens, decrypted."""
    cipher = load_cipher(settings)

    async def read(session: AsyncSession) -> dict[str, str]:
        found = {"notify token": await notify_token(session, cipher)}
        for connection in await session.scalars(select(WithingsConnection)):
            for name in ("access_token_encrypted", "refresh_token_encrypted"):
                value = getattr(connection, name)
                if value is not None:
                    found[f"stored {name}"] = cipher.decrypt(value)
        assert await session.scalar(select(Delivery.id).limit(1)) is not None
        return found

    return read


class Rotation:
    """What `rookery db reencrypt` printed, and the key it rotated to."""

    def __init__(self, new_key: str, output: str) -> None:
        self.new_key = new_key
        self.output = output


def _rotate_keys(stack: Deployment) -> Rotation:
    assert stack.settings.encryption_keys is not None
    new_key = generate_key()
    environ = {
        **stack.environ,
        "ROOKERY_ENCRYPTION_KEYS": f"{new_key},{stack.settings.encryption_keys.get_secret_value()}",
    }
    result = CliRunner().invoke(cli_app, ["db", "reencrypt"], env=environ)
    assert result.exit_code == 0, result.output
    assert "re-encrypted" in result.output
    return Rotation(new_key, result.output)
