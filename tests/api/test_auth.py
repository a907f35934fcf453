"""Basic auth on every client endpoint, and a client only ever sees and changes its own data."""

from __future__ import annotations

import base64
import re
from collections.abc import Awaitable, Callable

import httpx2
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rookery.store.clients import NewClient
from rookery.store.tables import AuditEvent

pytestmark = pytest.mark.anyio

ClientFactory = Callable[..., Awaitable[NewClient]]
UNAUTHORIZED = {"error": "Unauthorized", "exception": "The client_uuid or password are incorrect"}
# Values for the path parameters of client endpoints; a new parameter name must be added here.
PATH_VALUES = {
    "data_source": "Withings",
    "user_id": "user-1",
    "client_uuid": "CLIENT_UUID",
    "delivery_id": "6f1c1d6e-2b1f-4a55-9d59-2a8f1f0c1a11",
}
# Bodies that would be accepted, so that only the credentials can be the reason for a refusal.
BODIES = {
    "/api/v1/client/data_sources/{data_source}": {"enabled": True},
    "/api/v1/client/webhooks": {
        "data_webhook_url": "http://127.0.0.1:9000/data",
        "notification_webhook_url": None,
    },
}


def client_endpoints(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path template) of every endpoint of the client API (under /api/ and /v2/), as
    the OpenAPI document lists them; each must declare the client's Basic auth."""
    endpoints: list[tuple[str, str]] = []
    for path, operations in app.openapi()["paths"].items():
        if not path.startswith(("/api/", "/v2/")):
            continue
        for method, operation in operations.items():
            assert operation.get("security") == [{"clientBasicAuth": []}], f"{method} {path}"
            endpoints.append((method.upper(), path))
    return endpoints


def concrete(path: str, client: NewClient) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in PATH_VALUES, f"add a value for path parameter {name!r} to PATH_VALUES"
        return PATH_VALUES[name].replace("CLIENT_UUID", str(client.client_uuid))

    return re.sub(r"\{(\w+)\}", value, path)


def test_the_step_1_endpoints_are_all_covered(app: FastAPI) -> None:
    assert set(client_endpoints(app)) >= {
        ("GET", "/api/v1/client/data_sources"),
        ("PUT", "/api/v1/client/data_sources/{data_source}"),
        ("GET", "/api/v1/client/webhooks"),
        ("PUT", "/api/v1/client/webhooks"),
    }


async def test_every_client_endpoint_refuses_bad_credentials_and_does_nothing(
    app: FastAPI,
    api: httpx2.AsyncClient,
    new_client: ClientFactory,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    alice, bob = await new_client(name="Alice"), await new_client(name="Bob")
    uuid = str(alice.client_uuid)
    credentials: dict[str, dict[str, str]] = {
        "none": {},
        "wrong secret": {"Authorization": _basic(uuid, "wrong")},
        "another client's secret": {"Authorization": _basic(uuid, bob.secret_key)},
        "unknown client": {"Authorization": _basic(str(bob.client_uuid)[::-1], bob.secret_key)},
        "not a uuid": {"Authorization": _basic("alice", alice.secret_key)},
        "bearer, not basic": {"Authorization": f"Bearer {alice.secret_key}"},
        "broken base64": {"Authorization": "Basic !!!"},
        "wrong secret, lower-case scheme": {
            "Authorization": _basic(uuid, alice.secret_key + "x").replace("Basic", "basic")
        },
    }
    async with sessions() as session:
        events_before = await session.scalar(select(func.count()).select_from(AuditEvent))

    for method, template in client_endpoints(app):
        path = concrete(template, alice)
        for case, headers in credentials.items():
            response = await api.request(method, path, headers=headers, json=BODIES.get(template))
            where = f"{method} {path} with {case}"
            assert response.status_code == 401, where
            assert response.json() == {**UNAUTHORIZED, "path": path, "method": method}, where
            assert response.headers["WWW-Authenticate"] == 'Basic realm="rookery"', where

    async with sessions() as session:
        events_after = await session.scalar(select(func.count()).select_from(AuditEvent))
    assert events_after == events_before
    listing = await api.get("/api/v1/client/data_sources", auth=(uuid, alice.secret_key))
    assert listing.json() == {"data_sources": [{"data_source": "Withings", "enabled": False}]}
    webhooks = await api.get("/api/v1/client/webhooks", auth=(uuid, alice.secret_key))
    assert webhooks.json() == {"data_webhook_url": None, "notification_webhook_url": None}


async def test_a_client_sees_and_changes_only_its_own_settings(
    api: httpx2.AsyncClient, new_client: ClientFactory
) -> None:
    alice, bob = await new_client(name="Alice"), await new_client(name="Bob")
    alice_auth = (str(alice.client_uuid), alice.secret_key)
    bob_auth = (str(bob.client_uuid), bob.secret_key)
    alice_hooks = {
        "data_webhook_url": "http://127.0.0.1:9000/alice",
        "notification_webhook_url": "http://127.0.0.1:9000/alice-events",
    }
    await api.put("/api/v1/client/data_sources/Withings", json={"enabled": True}, auth=alice_auth)
    await api.put("/api/v1/client/webhooks", json=alice_hooks, auth=alice_auth)

    bob_sources = await api.get("/api/v1/client/data_sources", auth=bob_auth)
    assert bob_sources.json() == {"data_sources": [{"data_source": "Withings", "enabled": False}]}
    bob_hooks = await api.get("/api/v1/client/webhooks", auth=bob_auth)
    assert bob_hooks.json() == {"data_webhook_url": None, "notification_webhook_url": None}

    await api.put("/api/v1/client/data_sources/Withings", json={"enabled": False}, auth=bob_auth)
    await api.put(
        "/api/v1/client/webhooks",
        json={"data_webhook_url": "http://127.0.0.1:9000/bob", "notification_webhook_url": None},
        auth=bob_auth,
    )
    alice_sources = await api.get("/api/v1/client/data_sources", auth=alice_auth)
    assert alice_sources.json() == {"data_sources": [{"data_source": "Withings", "enabled": True}]}
    assert (await api.get("/api/v1/client/webhooks", auth=alice_auth)).json() == alice_hooks


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
