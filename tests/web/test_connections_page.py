"""The connections page as HTML: what it reveals, escaping, refusals, and its headers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx2
import pytest

from rookery.store.clients import NewClient

pytestmark = pytest.mark.anyio

ClientFactory = Callable[..., Awaitable[NewClient]]


async def _client(api: httpx2.AsyncClient, new_client: ClientFactory, name: str) -> NewClient:
    client = await new_client(name=name)
    response = await api.put(
        "/api/v1/client/data_sources/Withings",
        json={"enabled": True},
        auth=(str(client.client_uuid), client.secret_key),
    )
    assert response.status_code == 200
    return client


def _page(client: NewClient, user_id: str = "user-1") -> str:
    return f"/connections/client_uuid/{client.client_uuid}/user_id/{user_id}"


async def test_the_page_escapes_the_client_name_and_the_redirect_url(
    api: httpx2.AsyncClient, new_client: ClientFactory
) -> None:
    client = await _client(api, new_client, '<script>alert("x")</script> & Co')
    allowed = await api.put(
        "/api/v1/client/redirect_urls",
        json={"redirect_urls": ["https://app.example.com/done"]},
        auth=(str(client.client_uuid), client.secret_key),
    )
    assert allowed.status_code == 200
    redirect = 'https://app.example.com/done?a="><b>'

    page = await api.get(_page(client), params={"redirect_url": redirect})

    assert page.status_code == 200
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co" in page.text
    assert '"><b>' not in page.text
    assert 'id="withings-state">Not connected</p>' in page.text
    assert "Connect Withings" in page.text


async def test_the_page_sends_protective_headers_and_a_page_cookie(
    api: httpx2.AsyncClient, new_client: ClientFactory
) -> None:
    client = await _client(api, new_client, "Acme")

    page = await api.get(_page(client))

    headers = page.headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "form-action 'self' https://account.withings.com" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
    cookie = headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/connections/" in cookie
    css = await api.get("/static/connections/connections.css")
    assert css.status_code == 200
    assert "prefers-color-scheme: dark" in css.text


async def test_a_disabled_source_shows_nothing_to_connect(
    api: httpx2.AsyncClient, new_client: ClientFactory
) -> None:
    client = await new_client(name="Acme")

    page = await api.get(_page(client))
    connect = await api.post(_page(client) + "/connect", data={"token": "x"})

    assert page.status_code == 200
    assert "No data sources yet" in page.text
    assert "Connect Withings" not in page.text
    assert connect.status_code in {403, 404}


@pytest.mark.parametrize(
    "path",
    [
        "/connections/client_uuid/not-a-uuid/user_id/user-1",
        "/connections/client_uuid/00000000-0000-4000-8000-000000000000/user_id/user-1",
    ],
)
async def test_an_unknown_client_is_a_plain_not_found_page(
    api: httpx2.AsyncClient, path: str
) -> None:
    page = await api.get(path)

    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "This connections link is not valid" in page.text


async def test_a_bad_user_id_or_redirect_url_is_refused_with_a_page(
    api: httpx2.AsyncClient, new_client: ClientFactory
) -> None:
    client = await _client(api, new_client, "Acme")

    bad_user = await api.get(_page(client, "not_valid!"))
    bad_redirect = await api.get(_page(client), params={"redirect_url": "ftp://x.example/"})

    assert bad_user.status_code == 404
    assert bad_redirect.status_code == 400
    assert "redirect_url must be https://" in bad_redirect.text
