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
from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rookery.api.deps import get_client
from rookery.api.throttle import FailureThrottle, Limit
from rookery.pipeline.days import delivery_hook
from rookery.store.clients import (
    NewClient,
    data_source_settings,
    redirect_urls,
    set_data_source_enabled,
    set_redirect_urls,
)
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
    "/api/v1/client/redirect_urls": {"redirect_urls": ["https://app.example.com/"]},
}


# Every route of the app that takes no client credentials, with who calls it and what guards it
# instead. Every other route must be a client endpoint (Basic auth), and every test below then
# tries it: a new route is either listed here, deliberately, or tried by them.
NOT_CLIENT_ROUTES = {
    ("GET", "/openapi.json"): "the API's description",
    ("GET", "/docs"): "the API's description",
    ("GET", "/docs/oauth2-redirect"): "the API's description",
    ("GET", "/redoc"): "the API's description",
    ("GET", "/healthz"): "load balancers",
    ("GET", "/metrics"): "Prometheus (loopback, or ROOKERY_ADMIN_TOKEN)",
    ("GET", "/withings/notify"): "Withings' probe",
    ("HEAD", "/withings/notify"): "Withings' probe",
    ("POST", "/withings/notify"): "Withings (the secret token in the callback URL)",
    ("GET", "/connections/client_uuid/{client_uuid}/user_id/{user_id}"): "the user's browser",
    ("POST", "/connections/client_uuid/{client_uuid}/user_id/{user_id}/connect"): (
        "the user's browser (a form token bound to the page's client, user and cookie)"
    ),
    ("POST", "/connections/client_uuid/{client_uuid}/user_id/{user_id}/disconnect"): (
        "the user's browser (a form token bound to the page's client, user and cookie)"
    ),
    ("GET", "/withings/oauth/callback"): "Withings' redirect (a single-use state)",
    ("GET", "/dashboard/login"): "the dashboard (its own sign-in)",
    ("POST", "/dashboard/login"): "the dashboard (its own sign-in)",
    ("POST", "/dashboard/logout"): "the dashboard (its own sign-in)",
    ("GET", "/dashboard"): "the dashboard (its own sign-in)",
    ("GET", "/dashboard/clients/{client_uuid}"): "the dashboard (its own sign-in)",
    ("POST", "/dashboard/clients/{client_uuid}/deliveries/{delivery_id}/redeliver"): (
        "the dashboard (its own sign-in)"
    ),
    ("GET", "/dashboard/clients/{client_uuid}/users/{user_id}"): (
        "the dashboard (its own sign-in)"
    ),
    ("*", "/static"): "the pages' stylesheets and images",
}


def _depends_on(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return dependant.call is call or any(_depends_on(sub, call) for sub in dependant.dependencies)


def app_routes(app: FastAPI) -> dict[tuple[str, str], bool]:
    """Every (method, path template) the app routes, read from its router (not its OpenAPI
    document, which leaves out what is hidden from it), with whether it authenticates a client.
    A mount counts as method "*"; the HEAD that answers beside a GET is left out."""
    routes: dict[tuple[str, str], bool] = {}
    for route in routing.iter_route_contexts(app.routes):
        methods = set(getattr(route, "methods", None) or {"*"})
        if "GET" in methods:
            methods.discard("HEAD")
        dependant = getattr(route, "dependant", None)
        authenticates = isinstance(dependant, Dependant) and _depends_on(dependant, get_client)
        for method in methods:
            # The template without convertors (`{delivery_id:uuid}` → `{delivery_id}`), as the
            # OpenAPI document names it.
            api_route = isinstance(route.original_route, routing.APIRoute)
            routes[method, str(route.path_format if api_route else route.path)] = authenticates
    return routes


def client_endpoints(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path template) of every route that authenticates a client; each must be
    documented with the client's Basic auth."""
    endpoints = [route for route, authenticates in app_routes(app).items() if authenticates]
    paths = app.openapi()["paths"]
    for method, path in endpoints:
        operation = paths.get(path, {}).get(method.lower(), {})
        assert operation.get("security") == [{"clientBasicAuth": []}], f"{method} {path}"
    return endpoints


def test_every_route_is_a_client_endpoint_or_deliberately_not_one(app: FastAPI) -> None:
    routes = app_routes(app)
    others = {route for route, authenticates in routes.items() if not authenticates}
    assert others == set(NOT_CLIENT_ROUTES)
    assert all(path.startswith(("/api/", "/v2/")) for _, path in client_endpoints(app))


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


# What another client (with its own valid credentials) gets from each client endpoint: given the
# first client's ids, its own nothing, never the first's data; from the settings endpoints, which
# name nobody, its own settings (which it may change without touching the first's).
FOREIGN_ANSWER = {
    ("GET", "/api/v1/client/data_sources"): 200,
    ("PUT", "/api/v1/client/data_sources/{data_source}"): 200,
    ("GET", "/api/v1/client/webhooks"): 200,
    ("PUT", "/api/v1/client/webhooks"): 200,
    ("GET", "/api/v1/client/redirect_urls"): 200,
    ("PUT", "/api/v1/client/redirect_urls"): 200,
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
    **BODIES,
    "/api/v1/client/webhooks": {
        "data_webhook_url": "http://127.0.0.1:9/bob",
        "notification_webhook_url": None,
    },
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
    alice = await new_client(
        name="Alice",
        data_webhook_url="http://127.0.0.1:9/alice",
        notification_webhook_url="http://127.0.0.1:9/alice-events",
    )
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
        await set_redirect_urls(
            session,
            await session.get_one(Client, alice.client_uuid),
            ["https://alice.example/"],
            actor="test",
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
    alices = (
        str(alice.client_uuid),
        *before["deliveries"],
        "71.25",
        "/alice",
        "alice.example",
    )
    bob_auth = (str(bob.client_uuid), bob.secret_key)
    answers = {}

    for method, template in client_endpoints(app):
        operation = app.openapi()["paths"][template][method.lower()]
        names = {parameter["name"] for parameter in operation.get("parameters", [])}
        names_ids = names & {"user_id", "delivery_id", "client_uuid", "cursor"}
        path = concrete(template, alice).replace(PATH_VALUES["delivery_id"], delivery_id)
        query = {name: QUERY_VALUES[name] for name in names & QUERY_VALUES.keys()}
        body = FOREIGN_BODIES.get(template)
        response = await api.request(method, path, params=query, json=body, auth=bob_auth)
        answers[(method, template)] = response.status_code
        shown = {**response.json(), "path": None, "exception": None} if response.content else {}
        assert not any(value in json.dumps(shown) for value in alices), (template, shown)
        if names_ids:  # nothing of a user of Alice's name is linked, connected or authorized
            assert "true" not in json.dumps(shown), (template, shown)

    expected = {
        endpoint: FOREIGN_ANSWER.get(endpoint, PROCESSED_DATA_ANSWER) for endpoint in answers
    }
    assert answers == expected
    assert set(answers) == set(client_endpoints(app))  # every one of them tried
    assert set(FOREIGN_ANSWER) <= set(answers)
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
    """What another client must not change: Alice's connections, deliveries, attempts, audit,
    and settings."""
    async with sessions() as session:
        client = await session.get_one(Client, alice.client_uuid)
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
            "webhooks": (client.data_webhook_url, client.notification_webhook_url),
            "data_sources": await data_source_settings(session, alice.client_uuid),
            "redirect_urls": await redirect_urls(session, alice.client_uuid),
        }


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
