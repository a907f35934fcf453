"""ROOK's authorizer endpoints: shapes as the spec has them, users created on first naming, and
a client never sees, links or revokes another client's users."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rookery.config import Settings
from rookery.connections.oauth import STATE_LIFETIME, consume_state
from rookery.store.clients import NewClient
from rookery.store.crypto import TokenCipher
from rookery.store.enums import ConnectionState
from rookery.store.tables import Delivery, OAuthState, User, WithingsConnection, utc_now
from rookery.store.users import get_or_create_user
from tests.support.rook_schema import spec

pytestmark = pytest.mark.anyio

ClientFactory = Callable[..., Awaitable[NewClient]]
Auth = tuple[str, str]


def _auth(client: NewClient) -> Auth:
    return (str(client.client_uuid), client.secret_key)


async def _enabled(api: httpx2.AsyncClient, new_client: ClientFactory, name: str) -> NewClient:
    client = await new_client(name=name)
    response = await api.put(
        "/api/v1/client/data_sources/Withings", json={"enabled": True}, auth=_auth(client)
    )
    assert response.status_code == 200
    return client


async def _allow_redirects(api: httpx2.AsyncClient, client: NewClient, *prefixes: str) -> None:
    answer = await api.put(
        "/api/v1/client/redirect_urls", json={"redirect_urls": list(prefixes)}, auth=_auth(client)
    )
    assert answer.status_code == 200, answer.text


async def _link_directly(
    sessions: async_sessionmaker[AsyncSession], cipher: TokenCipher, client: NewClient, user_id: str
) -> None:
    """A linked connection as the callback stores it (the OAuth flow is tested over HTTP in
    tests/connections)."""
    async with sessions.begin() as session:
        user, _ = await get_or_create_user(session, client.client_uuid, user_id)
        session.add(
            WithingsConnection(
                user_pk=user.id,
                withings_userid=1001,
                scopes=["user.metrics"],
                access_token_encrypted=cipher.encrypt("access"),
                refresh_token_encrypted=cipher.encrypt("refresh"),
                access_token_expires_at=utc_now() + timedelta(hours=3),
                state=ConnectionState.LINKED,
                linked_at=utc_now(),
            )
        )


async def _events(sessions: async_sessionmaker[AsyncSession], client: NewClient) -> list[str]:
    async with sessions() as session:
        rows = await session.scalars(
            select(Delivery.event)
            .where(Delivery.client_id == client.client_uuid)
            .order_by(Delivery.created_at)
        )
        return [str(event) for event in rows]


async def test_authorizers_lists_withings_with_a_fresh_consent_url_and_creates_the_user(
    api: httpx2.AsyncClient,
    new_client: ClientFactory,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    client = await _enabled(api, new_client, "Acme <Health>")
    await _allow_redirects(api, client, "https://a.example/")
    path = f"/api/v1/client_uuid/{client.client_uuid}/user_id/user-1/data_sources/authorizers"

    first = await api.get(path, auth=_auth(client), params={"redirect_url": "https://a.example/x"})
    second = await api.get(path, auth=_auth(client))

    assert first.status_code == 200
    body = first.json()
    assert body["client_name"] == "Acme <Health>"
    assert body["theme"] == "Auto"
    (withings,) = body["data_sources"]
    assert withings["name"] == "Withings"
    assert withings["connected"] is False
    assert withings["image"] == "http://127.0.0.1:8000/static/connections/withings.svg"
    url = urlsplit(withings["authorization_url"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == str(settings.withings_authorize_url)
    query = {key: values[0] for key, values in parse_qs(url.query).items()}
    assert query["redirect_uri"] == "http://127.0.0.1:8000/withings/oauth/callback"
    assert query["scope"] == "user.info,user.metrics,user.activity"
    assert query["client_id"] == settings.withings_client_id
    other_state = parse_qs(urlsplit(second.json()["data_sources"][0]["authorization_url"]).query)
    assert other_state["state"][0] != query["state"]
    async with sessions.begin() as session:
        pending = await consume_state(session, query["state"], now=utc_now())
        assert pending is not None
        assert (pending.client_id, pending.user_id) == (client.client_uuid, "user-1")
        assert pending.redirect_url == "https://a.example/x"
    assert await _events(sessions, client) == ["user_created"]  # once, on first naming


async def test_a_disabled_source_offers_no_authorizer(
    api: httpx2.AsyncClient, new_client: ClientFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    client = await new_client(name="Acme")
    auth = _auth(client)
    listing = await api.get(
        f"/api/v1/client_uuid/{client.client_uuid}/user_id/user-1/data_sources/authorizers",
        auth=auth,
    )
    single = await api.get("/api/v1/user_id/user-1/data_source/Withings/authorizer", auth=auth)

    assert listing.json() == {"client_name": "Acme", "theme": "Auto", "data_sources": []}
    assert single.status_code == 404
    assert "not enabled" in single.json()["exception"]
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(OAuthState)) == 0


async def test_the_single_authorizer_gives_a_url_only_until_authorized(
    api: httpx2.AsyncClient,
    new_client: ClientFactory,
    sessions: async_sessionmaker[AsyncSession],
    cipher: TokenCipher,
) -> None:
    client = await _enabled(api, new_client, "Acme")
    path = "/api/v1/user_id/user-1/data_source/Withings/authorizer"

    before = (await api.get(path, auth=_auth(client))).json()
    await _link_directly(sessions, cipher, client, "user-1")
    after = (await api.get(path, auth=_auth(client))).json()

    assert before["data_source"] == "Withings"
    assert before["authorized"] is False
    assert before["authorization_url"].startswith("https://account.withings.com/")
    assert after == {"data_source": "Withings", "authorized": True, "authorization_url": None}


@pytest.mark.parametrize(
    "redirect_url",
    [
        "http://app.example.com/done",
        "javascript:alert(1)",
        "https://user:pw@app.example.com/",
        "/relative",
        "https://app.example.com/\nSet-Cookie:x",
        "https://" + "a" * 2000 + ".example",
    ],
)
async def test_a_redirect_url_outside_the_rule_is_refused(
    api: httpx2.AsyncClient, new_client: ClientFactory, redirect_url: str
) -> None:
    client = await _enabled(api, new_client, "Acme")
    response = await api.get(
        "/api/v1/user_id/user-1/data_source/Withings/authorizer",
        params={"redirect_url": redirect_url},
        auth=_auth(client),
    )
    assert response.status_code == 422
    assert "redirect_url" in response.json()["exception"]


async def test_loopback_redirects_are_allowed_only_while_the_public_url_is_loopback(
    api: httpx2.AsyncClient, new_client: ClientFactory
) -> None:
    client = await _enabled(api, new_client, "Acme")
    await _allow_redirects(api, client, "http://127.0.0.1:3000/")
    response = await api.get(
        "/api/v1/user_id/user-1/data_source/Withings/authorizer",
        params={"redirect_url": "http://127.0.0.1:3000/done"},
        auth=_auth(client),
    )
    assert response.status_code == 200


async def test_authorized_v1_and_v2_report_the_link(
    api: httpx2.AsyncClient,
    new_client: ClientFactory,
    sessions: async_sessionmaker[AsyncSession],
    cipher: TokenCipher,
) -> None:
    client = await _enabled(api, new_client, "Acme")
    await _link_directly(sessions, cipher, client, "user-1")

    v1 = (
        await api.get("/api/v1/user_id/user-1/data_sources/authorized", auth=_auth(client))
    ).json()
    v2 = (
        await api.get("/api/v2/user_id/user-1/data_sources/authorized", auth=_auth(client))
    ).json()
    unknown = await api.get("/api/v1/user_id/nobody/data_sources/authorized", auth=_auth(client))

    assert v1 == {
        "user_id": "user-1",
        "sources": {
            "oura": False,
            "polar": False,
            "whoop": False,
            "fitbit": False,
            "garmin": False,
            "withings": True,
            "google_fit": False,
            "apple_health": False,
        },
    }
    assert v2 == {
        "data_sources": [
            {
                "data_source": "Withings",
                "authorized": True,
                "status": True,
                "image": "http://127.0.0.1:8000/static/connections/withings.svg",
            }
        ]
    }
    assert unknown.json()["sources"]["withings"] is False
    async with sessions() as session:  # reading a status creates nobody
        assert await session.scalar(select(User).where(User.user_id == "nobody")) is None


async def test_revoke_auth_answers_as_the_spec_says(
    api: httpx2.AsyncClient,
    new_client: ClientFactory,
    sessions: async_sessionmaker[AsyncSession],
    cipher: TokenCipher,
) -> None:
    client = await _enabled(api, new_client, "Acme")
    await _link_directly(sessions, cipher, client, "user-1")
    path = "/api/v1/user_id/user-1/data_sources/revoke_auth"

    missing = await api.post(path, auth=_auth(client))
    wrong = await api.post(path, json={"data_source": "Garmin"}, auth=_auth(client))
    bad_user = await api.post(
        "/api/v1/user_id/no_underscores/data_sources/revoke_auth",
        json={"data_source": "Withings"},
        auth=_auth(client),
    )
    done = await api.post(path, json={"data_source": "Withings"}, auth=_auth(client))
    nothing = await api.post(path, json={"data_source": "Withings"}, auth=_auth(client))

    assert missing.status_code == 400
    assert missing.json()["error"] == "Bad Request"
    assert wrong.status_code == 422
    assert wrong.json()["exception"] == "Must be one of Withings."
    assert bad_user.status_code == 422
    assert done.status_code == 200
    assert done.json()["message"].endswith("successfully revoked")
    assert nothing.status_code == 204
    assert await _events(sessions, client) == ["data_source_unlinked"]


async def test_a_client_never_sees_links_or_revokes_another_clients_users(
    api: httpx2.AsyncClient,
    new_client: ClientFactory,
    sessions: async_sessionmaker[AsyncSession],
    cipher: TokenCipher,
) -> None:
    alice = await _enabled(api, new_client, "Alice")
    bob = await _enabled(api, new_client, "Bob")
    await _link_directly(sessions, cipher, alice, "shared-id")

    as_bob = _auth(bob)
    listing = await api.get(
        f"/api/v1/client_uuid/{alice.client_uuid}/user_id/shared-id/data_sources/authorizers",
        auth=as_bob,
    )
    v1 = await api.get("/api/v1/user_id/shared-id/data_sources/authorized", auth=as_bob)
    single = await api.get("/api/v1/user_id/shared-id/data_source/Withings/authorizer", auth=as_bob)
    revoke = await api.post(
        "/api/v1/user_id/shared-id/data_sources/revoke_auth",
        json={"data_source": "Withings"},
        auth=as_bob,
    )

    assert listing.status_code == 401  # Bob's credentials do not open Alice's client_uuid
    assert v1.json()["sources"]["withings"] is False
    assert single.json()["authorized"] is False
    assert revoke.status_code == 204
    # Bob's consent URL is bound to Bob's own user of that name, never Alice's.
    state = parse_qs(urlsplit(single.json()["authorization_url"]).query)["state"][0]
    async with sessions.begin() as session:
        pending = await consume_state(session, state, now=utc_now())
        assert pending is not None
        assert pending.client_id == bob.client_uuid
    alice_view = await api.get(
        "/api/v1/user_id/shared-id/data_sources/authorized", auth=_auth(alice)
    )
    assert alice_view.json()["sources"]["withings"] is True
    assert await _events(sessions, alice) == []


def _spec_schema(node: Any) -> Any:
    """A schema of ROOK's spec with `$ref`s inlined and `allOf`s merged, made strict: every
    object with properties requires them all and accepts no others (the spec is lax about both,
    so a missing or misspelt key would otherwise pass)."""
    if isinstance(node, list):
        return [_spec_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _spec_schema(spec()["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]])
    if "allOf" in node:
        merged: dict[str, Any] = {"type": "object", "properties": {}}
        for part in _spec_schema(node["allOf"]):
            merged["properties"].update(part.get("properties", {}))
        node = merged
    node = {key: _spec_schema(value) for key, value in node.items() if key != "example"}
    if node.get("properties"):
        node |= {"required": sorted(node["properties"]), "additionalProperties": False}
    return node


def _spec_answer(path: str, method: str, status: int) -> dict[str, Any]:
    """The strict schema of the JSON body ROOK's spec gives `method path` for `status`."""
    response = spec()["paths"][path][method]["responses"][str(status)]
    schema: dict[str, Any] = _spec_schema(response["content"]["application/json"]["schema"])
    return schema


async def test_every_answer_matches_the_schema_the_rook_spec_gives_for_its_status(
    api: httpx2.AsyncClient,
    new_client: ClientFactory,
    sessions: async_sessionmaker[AsyncSession],
    cipher: TokenCipher,
) -> None:
    client = await _enabled(api, new_client, "Acme")
    await _link_directly(sessions, cipher, client, "user-1")
    auth = _auth(client)
    authorizers = "/api/v1/client_uuid/{client_uuid}/user_id/{user_id}/data_sources/authorizers"
    authorized = "/api/v1/user_id/{user_id}/data_sources/authorized"
    revoke = "/api/v1/user_id/{user_id}/data_sources/revoke_auth"
    # (spec path, method, the request, the status the spec gives that case)
    cases: list[tuple[str, str, dict[str, Any], int]] = [
        (authorizers, "get", {"auth": auth}, 200),
        (authorizers, "get", {"auth": auth, "user_id": "user-2"}, 200),  # not connected
        (authorized, "get", {"auth": auth}, 200),
        (revoke, "post", {"auth": auth}, 400),  # missing body
        (revoke, "post", {"auth": (auth[0], "wrong"), "json": {"data_source": "Withings"}}, 401),
        (revoke, "post", {"auth": auth, "json": {"data_source": "Whoop"}}, 422),
        (revoke, "post", {"auth": auth, "json": {"data_source": "Withings"}}, 200),
    ]

    for template, method, request, status in cases:
        path = template.format(
            client_uuid=client.client_uuid, user_id=request.get("user_id", "user-1")
        )
        response = await api.request(
            method.upper(), path, auth=request["auth"], json=request.get("json")
        )
        where = f"{method} {path} ({status})"
        assert response.status_code == status, (where, response.text)
        validator = Draft202012Validator(_spec_answer(template, method, status))
        errors = [error.message for error in validator.iter_errors(response.json())]
        assert errors == [], where
    # A URL ROOK does not have: its UrlNoExists body.
    unknown = await api.post("/api/v1/user_id/data_sources/revoke_auth", auth=auth)
    assert unknown.status_code == 404
    Draft202012Validator(_spec_answer(revoke, "post", 404)).validate(unknown.json())


async def test_a_consent_state_is_kept_only_as_its_hash_and_lives_briefly(
    api: httpx2.AsyncClient, new_client: ClientFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    client = await _enabled(api, new_client, "Acme")
    answer = await api.get(
        "/api/v1/user_id/user-1/data_source/Withings/authorizer", auth=_auth(client)
    )
    state = parse_qs(urlsplit(answer.json()["authorization_url"]).query)["state"][0]

    async with sessions() as session:
        (row,) = (await session.scalars(select(OAuthState))).all()
    assert row.state_sha256 == hashlib.sha256(state.encode()).hexdigest()
    assert state not in " ".join(str(value) for value in vars(row).values())
    assert row.expires_at - row.created_at == STATE_LIFETIME <= timedelta(hours=1)
