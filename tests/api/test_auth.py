"""Basic auth on every client endpoint, and a client only ever sees and changes its own data."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rookery.api.throttle import FailureThrottle, Limit
from rookery.pipeline.days import delivery_hook
from rookery.store.clients import NewClient, set_data_source_enabled
from rookery.store.documents import store_produced
from rookery.store.enums import ConnectionState, DataSource
from rookery.store.tables import (
    AuditEvent,
    Client,
    Delivery,
    DeliveryAttempt,
    User,
    WithingsConnection,
)
from rookery.withings.responses import Endpoint
from tests.store.document_data import getmeas_body, link_user, transformed, weigh_in

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
    # Only the credentials decide here; the lockout after repeated failures has its own tests.
    unlimited = Limit(max_failures=10**6, window_s=1.0, lockout_s=1.0)
    app.state.throttle = FailureThrottle(source_limit=unlimited, credential_limit=unlimited)
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


# What another client (with its own valid credentials) gets from each endpoint that names a user,
# a delivery or a client, given the first client's ids: its own nothing, never the first's data.
FOREIGN_IDS_ANSWER = {
    ("GET", "/api/v1/client/users/{user_id}/sync"): 404,
    ("GET", "/api/v1/client/deliveries"): 200,
    ("GET", "/api/v1/client/deliveries/{delivery_id}"): 404,
    ("POST", "/api/v1/client/deliveries/{delivery_id}/redeliver"): 404,
    ("POST", "/api/v1/client/deliveries/redeliver"): 404,
    ("GET", "/api/v1/client_uuid/{client_uuid}/user_id/{user_id}/data_sources/authorizers"): 401,
    ("GET", "/api/v1/user_id/{user_id}/data_source/{data_source}/authorizer"): 200,
    ("GET", "/api/v1/user_id/{user_id}/data_sources/authorized"): 200,
    ("GET", "/api/v2/user_id/{user_id}/data_sources/authorized"): 200,
    ("POST", "/api/v1/user_id/{user_id}/data_sources/revoke_auth"): 204,
    ("GET", "/api/v1/client/documents"): 200,
    ("GET", "/api/v1/client/changes"): 200,
}
PROCESSED_DATA_ANSWER = 204
WEIGH_IN_DAY = "2026-03-28"
QUERY_VALUES = {
    "user_id": "user-1",
    "date": WEIGH_IN_DAY,
    "from_date": "2026-03-01",
    "to_date": "2026-03-31",
}
FOREIGN_BODIES = {
    "/api/v1/user_id/{user_id}/data_sources/revoke_auth": {"data_source": "Withings"},
    "/api/v1/client/deliveries/redeliver": {
        "user_id": "user-1",
        "from_date": "2026-03-01",
        "to_date": "2026-03-31",
    },
}


async def test_another_clients_valid_credentials_reach_none_of_a_clients_users_or_deliveries(
    app: FastAPI,
    api: httpx2.AsyncClient,
    new_client: ClientFactory,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    alice = await new_client(name="Alice", data_webhook_url="http://127.0.0.1:9/alice")
    bob = await new_client(name="Bob", data_webhook_url="http://127.0.0.1:9/bob")
    linked = await link_user(sessions, alice.client_uuid, "user-1")
    weigh_in_s = int(datetime(2026, 3, 28, 6, 30, tzinfo=UTC).timestamp())
    documents = transformed(
        Endpoint.GETMEAS, getmeas_body(weigh_in(11, weigh_in_s, 71_250)), linked
    )
    async with sessions.begin() as session:
        for client in (alice, bob):
            await set_data_source_enabled(
                session, client.client_uuid, DataSource.WITHINGS, True, actor="test"
            )
        hook = delivery_hook(
            session,
            client=await session.get_one(Client, alice.client_uuid),
            user=await session.get_one(User, linked.user_pk),
        )
        await store_produced(
            session,
            client_id=alice.client_uuid,
            user_pk=linked.user_pk,
            produced=documents,
            deliver=True,
            on_new_version=hook,
        )
    before = await _alice_state(sessions, alice)
    delivery_id = next(iter(before["deliveries"]))
    # Anything of Alice's that must not show in an answer to Bob (an error body's path and
    # message, which echo what Bob asked for, aside).
    alices = (str(alice.client_uuid), *before["deliveries"], "71.25")
    bob_auth = (str(bob.client_uuid), bob.secret_key)
    answers = {}

    for method, template in client_endpoints(app):
        operation = app.openapi()["paths"][template][method.lower()]
        names = {parameter["name"] for parameter in operation.get("parameters", [])}
        names_ids = names & {"user_id", "delivery_id", "client_uuid", "cursor"}
        if not names_ids and template not in FOREIGN_BODIES:
            continue
        path = concrete(template, alice).replace(PATH_VALUES["delivery_id"], delivery_id)
        query = {name: QUERY_VALUES[name] for name in names & QUERY_VALUES.keys()}
        body = FOREIGN_BODIES.get(template)
        response = await api.request(method, path, params=query, json=body, auth=bob_auth)
        answers[(method, template)] = response.status_code
        shown = {**response.json(), "path": None, "exception": None} if response.content else {}
        assert not any(value in json.dumps(shown) for value in alices), (template, shown)
        assert "true" not in json.dumps(shown), (template, shown)

    expected = {
        endpoint: FOREIGN_IDS_ANSWER.get(endpoint, PROCESSED_DATA_ANSWER) for endpoint in answers
    }
    assert answers == expected
    assert set(FOREIGN_IDS_ANSWER) <= set(answers)
    assert await _alice_state(sessions, alice) == before
    # Alice herself still sees all of it.
    alice_auth = (str(alice.client_uuid), alice.secret_key)
    own = await api.get(
        "/v2/processed_data/body_health/events/body_metrics",
        params={"user_id": "user-1", "date": WEIGH_IN_DAY},
        auth=alice_auth,
    )
    assert own.status_code == 200
    assert "71.25" in own.text


async def _alice_state(
    sessions: async_sessionmaker[AsyncSession], alice: NewClient
) -> dict[str, Any]:
    """What another client must not change: Alice's connections, deliveries, attempts, audit."""
    async with sessions() as session:
        connections = await session.scalars(select(WithingsConnection.state))
        deliveries = await session.execute(
            select(Delivery.id, Delivery.status, Delivery.next_attempt_at).where(
                Delivery.client_id == alice.client_uuid
            )
        )
        return {
            "linked": [state is ConnectionState.LINKED for state in connections],
            "deliveries": {str(row.id): (row.status, row.next_attempt_at) for row in deliveries},
            "attempts": await session.scalar(select(func.count()).select_from(DeliveryAttempt)),
            "audit": await session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.client_id == alice.client_uuid)
            ),
        }


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
