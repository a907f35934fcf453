"""`redirect_url` is limited to what the client allows: `PUT /api/v1/client/redirect_urls` sets
the prefixes; the authorizers and the public connections page refuse anything else up front,
before any OAuth state is issued."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx2
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rookery.store.clients import NewClient
from rookery.store.tables import AuditEvent, OAuthState

pytestmark = pytest.mark.anyio

ClientFactory = Callable[..., Awaitable[NewClient]]
REDIRECT_URLS = "/api/v1/client/redirect_urls"
AUTHORIZER = "/api/v1/user_id/user-1/data_source/Withings/authorizer"


def _auth(client: NewClient) -> tuple[str, str]:
    return str(client.client_uuid), client.secret_key


async def _enabled(api: httpx2.AsyncClient, new_client: ClientFactory, name: str) -> NewClient:
    client = await new_client(name=name)
    enabled = await api.put(
        "/api/v1/client/data_sources/Withings", json={"enabled": True}, auth=_auth(client)
    )
    assert enabled.status_code == 200
    return client


async def _states(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(OAuthState)) or 0)


async def test_a_client_sets_and_reads_its_own_allowed_redirect_urls(
    api: httpx2.AsyncClient, new_client: ClientFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    alice, bob = await new_client(name="Alice"), await new_client(name="Bob")
    assert (await api.get(REDIRECT_URLS, auth=_auth(alice))).json() == {"redirect_urls": []}

    urls = [
        "https://app.example.com/linked",
        "https://app.example.com/linked",
        "https://b.example/",
    ]
    put = await api.put(REDIRECT_URLS, json={"redirect_urls": urls}, auth=_auth(alice))

    assert put.status_code == 200, put.text
    expected = {"redirect_urls": ["https://app.example.com/linked", "https://b.example/"]}
    assert put.json() == expected
    assert (await api.get(REDIRECT_URLS, auth=_auth(alice))).json() == expected
    assert (await api.get(REDIRECT_URLS, auth=_auth(bob))).json() == {"redirect_urls": []}
    async with sessions() as session:
        actions = await session.scalars(
            select(AuditEvent.action).where(AuditEvent.client_id == alice.client_uuid)
        )
        assert "client.redirect_urls_set" in list(actions)
    cleared = await api.put(REDIRECT_URLS, json={"redirect_urls": []}, auth=_auth(alice))
    assert cleared.json() == {"redirect_urls": []}


@pytest.mark.parametrize(
    "body",
    [
        {"redirect_urls": ["https://app.example.com/linked?next=1"]},
        {"redirect_urls": ["javascript:alert(1)"]},
        {"redirect_urls": ["http://app.example.com/"]},
        {"redirect_urls": [f"https://{n}.example/" for n in range(21)]},
        {"redirect_urls": "https://app.example.com/"},
    ],
)
async def test_a_bad_list_is_refused_and_changes_nothing(
    api: httpx2.AsyncClient, new_client: ClientFactory, body: dict[str, object]
) -> None:
    client = await new_client(name="Acme")
    kept = {"redirect_urls": ["https://app.example.com/"]}
    assert (await api.put(REDIRECT_URLS, json=kept, auth=_auth(client))).status_code == 200

    refused = await api.put(REDIRECT_URLS, json=body, auth=_auth(client))

    assert refused.status_code == 422, refused.text
    assert (await api.get(REDIRECT_URLS, auth=_auth(client))).json() == kept


async def test_the_authorizers_refuse_a_redirect_the_client_does_not_allow(
    api: httpx2.AsyncClient, new_client: ClientFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    alice, bob = await _enabled(api, new_client, "Alice"), await _enabled(api, new_client, "Bob")
    allowed = {"redirect_urls": ["https://alice.example/linked"]}
    assert (await api.put(REDIRECT_URLS, json=allowed, auth=_auth(alice))).status_code == 200
    listing = f"/api/v1/client_uuid/{bob.client_uuid}/user_id/user-1/data_sources/authorizers"

    refusals = [
        # Bob allows nothing; Alice's list is hers alone.
        await api.get(
            AUTHORIZER, params={"redirect_url": "https://alice.example/linked"}, auth=_auth(bob)
        ),
        await api.get(
            listing, params={"redirect_url": "https://alice.example/linked"}, auth=_auth(bob)
        ),
        await api.get(
            AUTHORIZER, params={"redirect_url": "https://evil.example/linked"}, auth=_auth(alice)
        ),
        await api.get(
            AUTHORIZER,
            params={"redirect_url": "https://alice.example/linkedin"},
            auth=_auth(alice),
        ),
    ]

    for refused in refusals:
        assert refused.status_code == 422, refused.text
        assert "allowed redirect URLs" in refused.json()["exception"]
    assert await _states(sessions) == 0
    accepted = await api.get(
        AUTHORIZER, params={"redirect_url": "https://alice.example/linked/done"}, auth=_auth(alice)
    )
    assert accepted.status_code == 200
    assert await _states(sessions) == 1


async def test_the_public_page_refuses_a_redirect_the_client_does_not_allow(
    api: httpx2.AsyncClient, new_client: ClientFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    client = await _enabled(api, new_client, "Acme")
    allowed = {"redirect_urls": ["https://app.example.com/linked"]}
    assert (await api.put(REDIRECT_URLS, json=allowed, auth=_auth(client))).status_code == 200
    page = f"/connections/client_uuid/{client.client_uuid}/user_id/user-1"

    refused = await api.get(page, params={"redirect_url": "https://evil.example/phish"})
    shown = await api.get(page, params={"redirect_url": "https://app.example.com/linked"})
    token = shown.text.split('name="token" value="', 1)[1].split('"', 1)[0]
    # A Connect post carrying another redirect than the page showed is refused too.
    posted = await api.post(
        page + "/connect", data={"token": token, "redirect_url": "https://evil.example/phish"}
    )

    assert refused.status_code == 400
    assert "Invalid return address" in refused.text
    assert "evil.example" not in refused.text
    assert shown.status_code == 200
    assert posted.status_code == 400
    assert await _states(sessions) == 0
