"""The dashboard over HTTP (in-process, both engines): signing in and out, who sees what,
CSRF on every post, redelivery, escaping, and charts that carry the stored numbers."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime

import httpx2
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rookery.config import Settings
from rookery.delivery.events import ClientEvent, EventLevel
from rookery.delivery.queue import enqueue_client_event
from rookery.store.clients import NewClient
from rookery.store.documents import store_produced
from rookery.store.tables import Client, Delivery, DeliveryStatus
from rookery.web.dashboard import parse_range
from rookery.web.sessions import SESSION_COOKIE
from rookery.withings.responses import Endpoint
from tests.conftest import SettingsFactory
from tests.store.document_data import (
    getmeas_body,
    getsummary_body,
    link_user,
    sleep_night,
    transformed,
    weigh_in,
)

pytestmark = pytest.mark.anyio

ADMIN_TOKEN = "operator-token-for-tests-0123456789"
ClientFactory = Callable[..., Awaitable[NewClient]]


@pytest.fixture
def settings(make_settings: SettingsFactory, database_url: str) -> Settings:
    """The suite's settings, with an operator token."""
    return make_settings(database_url, admin_token=ADMIN_TOKEN)


def _token(html: str) -> str:
    match = re.search(r'name="token" value="([^"]+)"', html)
    assert match is not None, html
    return match.group(1)


async def _sign_in(api: httpx2.AsyncClient, **credentials: str) -> httpx2.Response:
    form = await api.get("/dashboard/login")
    assert form.status_code == 200
    return await api.post("/dashboard/login", data={"token": _token(form.text), **credentials})


async def _operator(api: httpx2.AsyncClient) -> None:
    answer = await _sign_in(api, admin_token=ADMIN_TOKEN)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/dashboard"


async def _delivered_event(
    sessions: async_sessionmaker[AsyncSession], client: NewClient, user_id: str
) -> uuid.UUID:
    async with sessions.begin() as session:
        row = await session.get(Client, client.client_uuid)
        assert row is not None
        delivery = await enqueue_client_event(
            session,
            client=row,
            user_id=user_id,
            action=ClientEvent.USER_CREATED,
            level=EventLevel.INFO,
            message="created",
        )
        delivery.status = DeliveryStatus.DELIVERED
        delivery.attempts = 1
        delivery.delivered_at = datetime.now(UTC)
        delivery.next_attempt_at = None
        return delivery.id


async def test_signing_in_as_operator_sets_a_strict_session_cookie_and_no_token_in_urls(
    api: httpx2.AsyncClient,
) -> None:
    first = await api.get("/dashboard")
    assert first.status_code == 303
    assert first.headers["location"] == "/dashboard/login"
    form = await api.get("/dashboard/login")
    assert "frame-ancestors 'none'" in form.headers["content-security-policy"]
    assert "form-action 'self'" in form.headers["content-security-policy"]
    assert 'method="post" action="/dashboard/login"' in form.text

    answer = await api.post(
        "/dashboard/login", data={"token": _token(form.text), "admin_token": ADMIN_TOKEN}
    )

    assert answer.status_code == 303
    assert ADMIN_TOKEN not in answer.headers["location"]
    cookie = next(
        value
        for key, value in answer.headers.multi_items()
        if key == "set-cookie" and value.startswith(SESSION_COOKIE + "=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/dashboard" in cookie
    assert ADMIN_TOKEN not in cookie
    overview = await api.get("/dashboard")
    assert overview.status_code == 200
    assert "<h1>Clients</h1>" in overview.text


async def test_wrong_credentials_and_missing_form_tokens_are_refused(
    api: httpx2.AsyncClient, new_client: ClientFactory
) -> None:
    client = await new_client(name="Acme")
    wrong = await _sign_in(api, admin_token="not-it")
    assert wrong.status_code == 401
    assert "Those credentials were not accepted." in wrong.text
    wrong_client = await _sign_in(api, client_uuid=str(client.client_uuid), secret_key="nope")
    assert wrong_client.status_code == 401
    no_token = await api.post("/dashboard/login", data={"admin_token": ADMIN_TOKEN})
    assert no_token.status_code == 403
    assert SESSION_COOKIE not in no_token.headers.get("set-cookie", "")
    assert (await api.get("/dashboard")).status_code == 303  # still signed out


async def test_a_forged_or_foreign_session_cookie_is_ignored(api: httpx2.AsyncClient) -> None:
    api.cookies.set(SESSION_COOKIE, f"op.-.{int(datetime.now(UTC).timestamp())}.n.forged")
    assert (await api.get("/dashboard")).status_code == 303


async def test_a_client_sees_only_its_own_users_and_deliveries(
    api: httpx2.AsyncClient,
    new_client: ClientFactory,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    mine = await new_client(name="Mine")
    theirs = await new_client(name="Theirs")
    await link_user(sessions, mine.client_uuid, "my-user")
    await link_user(sessions, theirs.client_uuid, "their-user")
    answer = await _sign_in(api, client_uuid=str(mine.client_uuid), secret_key=mine.secret_key)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/dashboard/clients/{mine.client_uuid}"

    page = await api.get(answer.headers["location"])
    assert page.status_code == 200
    assert "my-user" in page.text
    assert "their-user" not in page.text
    assert (await api.get("/dashboard")).headers["location"] == answer.headers["location"]
    assert (await api.get(f"/dashboard/clients/{theirs.client_uuid}")).status_code == 404
    foreign_user = f"/dashboard/clients/{theirs.client_uuid}/users/their-user"
    assert (await api.get(foreign_user)).status_code == 404


async def test_names_are_escaped(
    api: httpx2.AsyncClient,
    new_client: ClientFactory,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    client = await new_client(name='<script>alert("x")</script>')
    await link_user(sessions, client.client_uuid, "user-1")
    await _operator(api)
    for path in ("/dashboard", f"/dashboard/clients/{client.client_uuid}"):
        page = await api.get(path)
        assert "<script>alert" not in page.text
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text


async def test_redeliver_needs_the_session_form_token_and_sends_a_new_message(
    api: httpx2.AsyncClient,
    new_client: ClientFactory,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    client = await new_client(name="Acme")
    delivered = await _delivered_event(sessions, client, "user-1")
    await _operator(api)
    page = await api.get(f"/dashboard/clients/{client.client_uuid}")
    assert f'data-delivery="{delivered}" data-status="delivered" data-attempts="1"' in page.text
    action = f"/dashboard/clients/{client.client_uuid}/deliveries/{delivered}/redeliver"

    forged = await api.post(action, data={"token": "1.forged"})
    assert forged.status_code == 403
    answer = await api.post(action, data={"token": _token(page.text)})

    assert answer.status_code == 303
    assert answer.headers["location"].endswith("?notice=redelivered")
    async with sessions() as session:
        repeats = (
            await session.scalars(select(Delivery).where(Delivery.redelivery_of == delivered))
        ).all()
    assert len(repeats) == 1  # the forged post changed nothing; the real one made one message
    assert repeats[0].status == DeliveryStatus.PENDING
    after = await api.get(answer.headers["location"])
    assert "Redelivery queued" in after.text
    assert f'data-delivery="{repeats[0].id}"' in after.text


async def test_a_client_cannot_redeliver_another_clients_delivery(
    api: httpx2.AsyncClient,
    new_client: ClientFactory,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    mine = await new_client(name="Mine")
    theirs = await new_client(name="Theirs")
    foreign = await _delivered_event(sessions, theirs, "their-user")
    await _sign_in(api, client_uuid=str(mine.client_uuid), secret_key=mine.secret_key)
    page = await api.get(f"/dashboard/clients/{mine.client_uuid}")
    token = _token(page.text)
    for owner in (theirs.client_uuid, mine.client_uuid):
        answer = await api.post(
            f"/dashboard/clients/{owner}/deliveries/{foreign}/redeliver", data={"token": token}
        )
        assert answer.status_code == 404


async def test_signing_out_needs_the_form_token_and_ends_the_session(
    api: httpx2.AsyncClient,
) -> None:
    await _operator(api)
    page = await api.get("/dashboard")
    assert (await api.post("/dashboard/logout", data={"token": "0.x"})).status_code == 403
    answer = await api.post("/dashboard/logout", data={"token": _token(page.text)})
    assert answer.status_code == 303
    assert (await api.get("/dashboard")).status_code == 303


async def test_user_charts_carry_the_stored_sleep_stages_and_weights(
    api: httpx2.AsyncClient,
    new_client: ClientFactory,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    client = await new_client(name="Acme")
    linked = await link_user(sessions, client.client_uuid, "user-1")
    nights = transformed(
        Endpoint.SLEEP_GETSUMMARY,
        getsummary_body(
            sleep_night(
                1, day="2026-03-28", total_sleep_s=7 * 3600, deep_s=5400, light_s=16200, rem_s=3600
            ),
            sleep_night(
                2, day="2026-03-29", total_sleep_s=6 * 3600, deep_s=3600, light_s=14400, rem_s=3600
            ),
        ),
        linked,
    )
    weights = transformed(
        Endpoint.GETMEAS,
        getmeas_body(
            weigh_in(11, int(datetime(2026, 3, 28, 6, 30, tzinfo=UTC).timestamp()), 71_250),
            weigh_in(12, int(datetime(2026, 3, 30, 6, 45, tzinfo=UTC).timestamp()), 70_900),
        ),
        linked,
    )
    async with sessions.begin() as session:
        await store_produced(
            session,
            client_id=client.client_uuid,
            user_pk=linked.user_pk,
            produced=[*nights, *weights],
            deliver=False,
        )
    await _operator(api)

    page = await api.get(
        f"/dashboard/clients/{client.client_uuid}/users/user-1",
        params={"from": "2026-03-25", "to": "2026-03-31"},
    )

    assert page.status_code == 200, page.text
    bars = re.findall(r'data-day="([\d-]+)" data-part="(\w+)" data-value="([\d.e-]+)"', page.text)
    stages = {(day, part): float(value) * 3600 for day, part, value in bars}
    assert stages[("2026-03-28", "deep")] == pytest.approx(5400)
    assert stages[("2026-03-28", "light")] == pytest.approx(16200)
    assert stages[("2026-03-28", "rem")] == pytest.approx(3600)
    assert stages[("2026-03-29", "deep")] == pytest.approx(3600)
    points = re.findall(
        r'data-part="weight" data-day="([\d-]+)" data-at="[^"]+" data-value="([\d.]+)"', page.text
    )
    assert [(day, float(value)) for day, value in points] == [
        ("2026-03-28", 71.25),
        ("2026-03-30", 70.9),
    ]
    assert "No blood-pressure readings in this range." in page.text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"from": "2026-13-01"}, "dates are written YYYY-MM-DD"),
        ({"from": "2026-03-05", "to": "2026-03-01"}, "must not end before it starts"),
        ({"from": "2020-01-01", "to": "2026-03-01"}, "at most 366 days"),
    ],
)
async def test_a_bad_range_is_a_clear_400(
    api: httpx2.AsyncClient,
    new_client: ClientFactory,
    sessions: async_sessionmaker[AsyncSession],
    query: dict[str, str],
    message: str,
) -> None:
    client = await new_client(name="Acme")
    await link_user(sessions, client.client_uuid, "user-1")
    await _operator(api)
    page = await api.get(f"/dashboard/clients/{client.client_uuid}/users/user-1", params=query)
    assert page.status_code == 400
    assert message in page.text


def test_the_default_range_is_the_last_thirty_days() -> None:
    today = date(2026, 3, 31)
    assert parse_range(None, None, today=today) == (date(2026, 3, 2), today)
    assert parse_range("2026-03-30", None, today=today) == (date(2026, 3, 30), today)
