"""Step 1 endpoints: data-source settings and webhook URLs, with ROOK's error bodies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx2
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rookery.store.clients import NewClient
from rookery.store.enums import AuditAction
from rookery.store.tables import AuditEvent

pytestmark = pytest.mark.anyio

ClientFactory = Callable[..., Awaitable[NewClient]]


def auth(client: NewClient) -> tuple[str, str]:
    return (str(client.client_uuid), client.secret_key)


async def test_healthz_answers_ok(api: httpx2.AsyncClient) -> None:
    response = await api.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok", "database": "ok"})


async def test_withings_starts_disabled_and_can_be_enabled(
    api: httpx2.AsyncClient, new_client: ClientFactory
) -> None:
    client = await new_client()
    listing = await api.get("/api/v1/client/data_sources", auth=auth(client))
    assert listing.status_code == 200
    assert listing.json() == {"data_sources": [{"data_source": "Withings", "enabled": False}]}

    enabled = await api.put(
        "/api/v1/client/data_sources/Withings", json={"enabled": True}, auth=auth(client)
    )
    assert (enabled.status_code, enabled.json()) == (
        200,
        {"data_source": "Withings", "enabled": True},
    )
    listing = await api.get("/api/v1/client/data_sources", auth=auth(client))
    assert listing.json() == {"data_sources": [{"data_source": "Withings", "enabled": True}]}

    await api.put(
        "/api/v1/client/data_sources/Withings", json={"enabled": False}, auth=auth(client)
    )
    listing = await api.get("/api/v1/client/data_sources", auth=auth(client))
    assert listing.json() == {"data_sources": [{"data_source": "Withings", "enabled": False}]}


async def test_changes_are_audited_with_the_client_as_actor(
    api: httpx2.AsyncClient, new_client: ClientFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    client = await new_client()
    await api.put("/api/v1/client/data_sources/Withings", json={"enabled": True}, auth=auth(client))
    async with sessions() as session:
        event = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == AuditAction.DATA_SOURCE_ENABLED)
        )
    assert event is not None
    assert (event.actor, event.client_id, event.subject) == (
        f"client:{client.client_uuid}",
        client.client_uuid,
        "Withings",
    )


async def test_an_unknown_data_source_is_unprocessable(
    api: httpx2.AsyncClient, new_client: ClientFactory
) -> None:
    client = await new_client()
    response = await api.put(
        "/api/v1/client/data_sources/Fitbit", json={"enabled": True}, auth=auth(client)
    )
    assert response.status_code == 422
    assert response.json() == {
        "error": "Unprocessable Entity",
        "exception": "data_source: Input should be 'Withings'",
        "path": "/api/v1/client/data_sources/Fitbit",
        "method": "PUT",
    }


@pytest.mark.parametrize(
    "request_body",
    [
        {},
        {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
        {"json": ["enabled"]},
    ],
    ids=["missing", "not-json", "not-an-object"],
)
async def test_a_missing_or_broken_body_is_a_bad_request(
    api: httpx2.AsyncClient, new_client: ClientFactory, request_body: dict[str, object]
) -> None:
    client = await new_client()
    response = await api.put(
        "/api/v1/client/data_sources/Withings",
        auth=auth(client),
        **request_body,  # type: ignore[arg-type]
    )
    assert response.status_code == 400
    assert response.json()["error"] == "Bad Request"
    assert response.json()["method"] == "PUT"


@pytest.mark.parametrize(
    "body",
    [{"enabled": "maybe"}, {"enabled": True, "extra": 1}, {"disabled": True}],
)
async def test_a_wrong_field_is_unprocessable(
    api: httpx2.AsyncClient, new_client: ClientFactory, body: dict[str, object]
) -> None:
    client = await new_client()
    response = await api.put("/api/v1/client/data_sources/Withings", json=body, auth=auth(client))
    assert response.status_code == 422
    assert response.json()["error"] == "Unprocessable Entity"


async def test_webhooks_are_set_read_and_cleared(
    api: httpx2.AsyncClient, new_client: ClientFactory
) -> None:
    client = await new_client()
    assert (await api.get("/api/v1/client/webhooks", auth=auth(client))).json() == {
        "data_webhook_url": None,
        "notification_webhook_url": None,
    }
    urls = {
        "data_webhook_url": "http://127.0.0.1:9000/data",
        "notification_webhook_url": "http://localhost:9000/events",
    }
    response = await api.put("/api/v1/client/webhooks", json=urls, auth=auth(client))
    assert (response.status_code, response.json()) == (200, urls)
    assert (await api.get("/api/v1/client/webhooks", auth=auth(client))).json() == urls

    cleared = {"data_webhook_url": None, "notification_webhook_url": None}
    response = await api.put("/api/v1/client/webhooks", json=cleared, auth=auth(client))
    assert (response.status_code, response.json()) == (200, cleared)


@pytest.mark.parametrize(
    "url",
    ["http://10.0.0.1/hook", "http://169.254.169.254/latest", "ftp://127.0.0.1/x", "not a url"],
)
async def test_a_webhook_url_rookery_must_not_call_is_refused_and_nothing_changes(
    api: httpx2.AsyncClient, new_client: ClientFactory, url: str
) -> None:
    client = await new_client(data_webhook_url="http://127.0.0.1:9000/data")
    response = await api.put(
        "/api/v1/client/webhooks",
        json={"data_webhook_url": url, "notification_webhook_url": None},
        auth=auth(client),
    )
    assert response.status_code == 422
    assert response.json()["path"] == "/api/v1/client/webhooks"
    assert "webhook URL" in response.json()["exception"]
    assert (await api.get("/api/v1/client/webhooks", auth=auth(client))).json() == {
        "data_webhook_url": "http://127.0.0.1:9000/data",
        "notification_webhook_url": None,
    }


async def test_both_webhook_keys_are_required(
    api: httpx2.AsyncClient, new_client: ClientFactory
) -> None:
    client = await new_client()
    response = await api.put(
        "/api/v1/client/webhooks",
        json={"data_webhook_url": "http://127.0.0.1:9000/data"},
        auth=auth(client),
    )
    assert response.status_code == 422
    assert "notification_webhook_url" in response.json()["exception"]


async def test_an_unknown_path_answers_rooks_not_found(api: httpx2.AsyncClient) -> None:
    response = await api.post("/api/v1/user_id/data_sources/revoke_auth")
    assert response.status_code == 404
    assert response.json() == {
        "error": "Not Found",
        "exception": "The requested URL was not found on the server. If you entered the URL "
        "manually please check your spelling and try again",
        "path": "/api/v1/user_id/data_sources/revoke_auth",
        "method": "POST",
    }


async def test_the_openapi_document_describes_auth_and_errors(api: httpx2.AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()
    assert "clientBasicAuth" in document["components"]["securitySchemes"]
    operation = document["paths"]["/api/v1/client/webhooks"]["put"]
    assert {"200", "400", "401", "422"} <= set(operation["responses"])
    assert operation["security"] == [{"clientBasicAuth": []}]
    assert "ErrorBody" in document["components"]["schemas"]
