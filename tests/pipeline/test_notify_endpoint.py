"""`/withings/notify`: the token, the probes, bad bodies, unknown accounts, and what is stored."""

from __future__ import annotations

from datetime import timedelta

import httpx2
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rookery.connections.deployment import notify_token
from rookery.jobs.kinds import JobKind
from rookery.store.crypto import TokenCipher
from rookery.store.enums import ConnectionState
from rookery.store.tables import Job, User, WithingsConnection, WithingsNotification, utc_now
from tests.conftest import ClientFactory

pytestmark = pytest.mark.anyio

WITHINGS_USERID = 4242


async def _token(sessions: async_sessionmaker[AsyncSession], cipher: TokenCipher) -> str:
    async with sessions.begin() as session:
        return await notify_token(session, cipher)


async def _linked(sessions: async_sessionmaker[AsyncSession], new_client: ClientFactory) -> None:
    client = await new_client()
    async with sessions.begin() as session:
        user = User(client_id=client.client_uuid, user_id="u1")
        session.add(user)
        await session.flush()
        session.add(
            WithingsConnection(
                user_pk=user.id,
                withings_userid=WITHINGS_USERID,
                scopes=["user.metrics", "user.activity"],
                state=ConnectionState.LINKED,
                linked_at=utc_now(),
            )
        )


async def _count(sessions: async_sessionmaker[AsyncSession], what: type) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(what)) or 0)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_probes_answer_200(api: httpx2.AsyncClient, method: str) -> None:
    response = await api.request(method, "/withings/notify?token=anything")
    assert response.status_code == 200


async def test_a_wrong_or_missing_token_is_refused_and_nothing_stored(
    api: httpx2.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    new_client: ClientFactory,
) -> None:
    await _linked(sessions, new_client)
    form = {
        "userid": str(WITHINGS_USERID),
        "appli": "1",
        "startdate": "1700000000",
        "enddate": "1700000060",
    }
    for url in ("/withings/notify", "/withings/notify?token=wrong"):
        response = await api.post(url, data=form)
        assert response.status_code == 401
    assert await _count(sessions, WithingsNotification) == 0
    assert await _count(sessions, Job) == 0


async def test_notifications_coalesce_into_one_fetch_with_the_union_window(
    api: httpx2.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    cipher: TokenCipher,
    new_client: ClientFactory,
) -> None:
    await _linked(sessions, new_client)
    token = await _token(sessions, cipher)
    windows = [
        (1_700_000_000, 1_700_000_060),
        (1_700_000_030, 1_700_000_200),
        (1_699_999_000, 1_699_999_100),
    ]
    for appli, (start, end) in zip(("1", "4", "2"), windows, strict=True):
        response = await api.post(
            f"/withings/notify?token={token}",
            data={
                "userid": str(WITHINGS_USERID),
                "appli": appli,
                "startdate": str(start),
                "enddate": str(end),
            },
        )
        assert response.status_code == 200
    # The same notification again (a Withings re-delivery).
    await api.post(
        f"/withings/notify?token={token}",
        data={
            "userid": str(WITHINGS_USERID),
            "appli": "1",
            "startdate": "1700000000",
            "enddate": "1700000060",
        },
    )
    async with sessions() as session:
        jobs = list(await session.scalars(select(Job).where(Job.kind == JobKind.PIPELINE_FETCH)))
    assert len(jobs) == 1
    assert jobs[0].payload["domain"] == "measures"
    assert (jobs[0].payload["start"], jobs[0].payload["end"]) == (1_699_999_000, 1_700_000_200)
    assert await _count(sessions, WithingsNotification) == 4


async def test_an_activity_date_and_a_sleep_window_are_separate_fetches(
    api: httpx2.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    cipher: TokenCipher,
    new_client: ClientFactory,
) -> None:
    await _linked(sessions, new_client)
    token = await _token(sessions, cipher)
    for form in (
        {"appli": "16", "date": "2023-11-14"},
        {"appli": "16", "date": "2023-11-16"},
        {"appli": "44", "startdate": "1699999200", "enddate": "1700027400"},
        {"appli": "50", "date": "1700000000"},  # bed in: nothing to fetch
    ):
        response = await api.post(
            f"/withings/notify?token={token}", data={"userid": str(WITHINGS_USERID), **form}
        )
        assert response.status_code == 200
    async with sessions() as session:
        payloads = sorted(
            (job.payload["domain"], job.payload["start"], job.payload["end"])
            for job in await session.scalars(select(Job).where(Job.kind == JobKind.PIPELINE_FETCH))
        )
    assert payloads == [
        ("activity", "2023-11-14", "2023-11-16"),
        ("sleep", 1699999200, 1700027400),
    ]


async def test_an_unknown_account_is_answered_without_storing(
    api: httpx2.AsyncClient, sessions: async_sessionmaker[AsyncSession], cipher: TokenCipher
) -> None:
    token = await _token(sessions, cipher)
    response = await api.post(
        f"/withings/notify?token={token}",
        data={"userid": "999", "appli": "1", "startdate": "1700000000", "enddate": "1700000060"},
    )
    assert response.status_code == 200
    assert await _count(sessions, WithingsNotification) == 0
    assert await _count(sessions, Job) == 0


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"appli=1",
        b"userid=abc&appli=1",
        b"userid=4242&appli=1&startdate=99",
        b"userid=4242&appli=1&startdate=1700000100&enddate=1700000000",
        b"userid=4242&appli=16&date=yesterday",
        b"\xff\xfe",
    ],
)
async def test_a_malformed_body_is_refused_without_a_trace(
    api: httpx2.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    cipher: TokenCipher,
    new_client: ClientFactory,
    body: bytes,
) -> None:
    await _linked(sessions, new_client)
    token = await _token(sessions, cipher)
    response = await api.post(
        f"/withings/notify?token={token}",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 422
    assert "Traceback" not in response.text
    assert response.json()["method"] == "POST"
    assert await _count(sessions, Job) == 0


async def test_an_oversized_body_is_refused(
    api: httpx2.AsyncClient, sessions: async_sessionmaker[AsyncSession], cipher: TokenCipher
) -> None:
    token = await _token(sessions, cipher)
    response = await api.post(
        f"/withings/notify?token={token}",
        content=b"userid=1&appli=1&x=" + b"a" * 5000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert await _count(sessions, WithingsNotification) == 0


async def test_appli_46_unlink_unlinks_the_connection(
    api: httpx2.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    cipher: TokenCipher,
    new_client: ClientFactory,
) -> None:
    await _linked(sessions, new_client)
    token = await _token(sessions, cipher)
    response = await api.post(
        f"/withings/notify?token={token}",
        data={"userid": str(WITHINGS_USERID), "appli": "46", "action": "unlink"},
    )
    assert response.status_code == 200
    async with sessions() as session:
        connection = await session.scalar(select(WithingsConnection))
        kinds = list(await session.scalars(select(Job.kind)))
    assert connection is not None
    assert connection.state is ConnectionState.UNLINKED
    assert kinds == [JobKind.WITHINGS_REVOKE]
    assert timedelta(0) <= utc_now() - (connection.unlinked_at or utc_now()) < timedelta(minutes=1)
