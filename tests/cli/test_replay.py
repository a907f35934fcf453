"""`rookery replay` and the rebuild it runs: identical documents stay, a mapping change yields
new versions, continuation pages join their fetch."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from rookery.cli import app
from rookery.config import Settings
from rookery.model.sleep import SleepSummaryDocument
from rookery.pipeline.rebuild import produce_documents, replay_connection, user_context
from rookery.store.archive import archive_exchange, archived_connections, archived_exchanges
from rookery.store.clients import NewClient, create_client
from rookery.store.crypto import load_cipher
from rookery.store.documents import StoredChange, store_produced
from rookery.store.engine import create_engine, session_factory
from rookery.store.migrate import upgrade
from rookery.store.tables import Document
from rookery.transform.context import Produced
from rookery.withings.client import Exchange
from rookery.withings.responses import Endpoint
from tests.store.document_data import (
    Linked,
    envelope,
    getmeas_body,
    getsummary_body,
    link_user,
    sleep_night,
    weigh_in,
)

pytestmark = pytest.mark.anyio

ClientFactory = Callable[..., Awaitable[NewClient]]
Sessions = async_sessionmaker[AsyncSession]
NOV_14_EPOCH = 1699956000  # 2023-11-14T10:00:00Z


def call(endpoint: Endpoint, body: dict[str, object], **params: str) -> Exchange:
    return Exchange(
        service=endpoint.service,
        action=endpoint.action,
        params=params,
        http_status=200,
        response_text=envelope(body),
        elapsed_s=0.2,
        started_at_utc=datetime(2026, 11, 28, 9, 0, tzinfo=UTC),
    )


def nights(*hours: int) -> dict[str, object]:
    return getsummary_body(
        *(
            sleep_night(
                100 + n,
                day=f"2023-11-{10 + n:02d}",
                total_sleep_s=h * 3600,
                deep_s=h * 900,
                light_s=h * 1800,
                rem_s=h * 900,
            )
            for n, h in enumerate(hours)
        )
    )


ARCHIVE = [
    (1, call(Endpoint.SLEEP_GETSUMMARY, nights(8, 7, 6), startdateymd="2023-11-10")),
    (
        2,
        call(Endpoint.GETMEAS, getmeas_body(weigh_in(1, NOV_14_EPOCH, 75232), more=True, offset=1)),
    ),
    (2, call(Endpoint.GETMEAS, getmeas_body(weigh_in(2, NOV_14_EPOCH + 600, 75100)), offset="1")),
    (3, call(Endpoint.SLEEP_GETSUMMARY, nights(8, 9), startdateymd="2023-11-10")),
]


@pytest.fixture
async def linked(sessions: Sessions, new_client: ClientFactory) -> Linked:
    client = await new_client(name="Alice")
    linked = await link_user(sessions, client.client_uuid)
    async with sessions.begin() as session:
        for job_id, exchange in ARCHIVE:
            await archive_exchange(
                session, connection_id=linked.connection_id, job_id=job_id, exchange=exchange
            )
    return linked


async def live_documents(sessions: Sessions, linked: Linked) -> list[Produced]:
    """What the live pipeline made of the archive, job by job."""
    calls = [item async for item in archived_exchanges(sessions, linked.connection_id)]
    ctx = user_context(calls, client_uuid=str(linked.client_id), user_id=linked.user_id)
    produced: list[Produced] = []
    for job_id in (1, 2, 3):
        produced.extend(produce_documents([c for c in calls if c.job_id == job_id], ctx))
    return produced


async def store(sessions: Sessions, linked: Linked, items: list[Produced]) -> None:
    for item in items:
        async with sessions.begin() as session:
            await store_produced(
                session,
                client_id=linked.client_id,
                user_pk=linked.user_pk,
                produced=[item],
                deliver=False,
            )


async def stored(sessions: Sessions) -> dict[str, tuple[int, str]]:
    async with sessions() as session:
        rows = await session.scalars(select(Document))
        return {
            f"{r.data_structure}/{r.source_key}": (r.document_version, r.body_json) for r in rows
        }


async def replay(sessions: Sessions, linked: Linked, delivered: list[StoredChange]) -> int:
    async def hooks(
        session: AsyncSession, connection: object
    ) -> Callable[[StoredChange], Awaitable[None]]:
        async def hook(change: StoredChange) -> None:
            delivered.append(change)

        return hook

    async with sessions() as session:
        (connection,) = await archived_connections(session, client_id=linked.client_id)
    counts = await replay_connection(sessions, connection, deliver=True, hook_factory=hooks)
    assert counts.exchanges == len(ARCHIVE)
    return counts.new_versions


async def test_replay_with_an_unchanged_mapping_stores_nothing_new(
    sessions: Sessions, linked: Linked
) -> None:
    await store(sessions, linked, await live_documents(sessions, linked))
    before = await stored(sessions)
    delivered: list[StoredChange] = []

    assert await replay(sessions, linked, delivered) == 0

    assert delivered == []
    assert await stored(sessions) == before


async def test_replay_after_a_mapping_change_stores_and_delivers_new_versions(
    sessions: Sessions, linked: Linked
) -> None:
    live = await live_documents(sessions, linked)
    # What an older, buggy mapping stored: the sleep summaries without their raw records.
    old = [
        Produced(
            item.identity,
            item.local_date,
            SleepSummaryDocument.of(
                item.document.summary.model_copy(update={"non_structured_data_array": ()}),
                client_uuid=item.document.client_uuid,
                user_id=item.document.user_id,
            ),
        )
        if isinstance(item.document, SleepSummaryDocument)
        else item
        for item in live
    ]
    await store(sessions, linked, old)
    delivered: list[StoredChange] = []

    new_versions = await replay(sessions, linked, delivered)

    sleep_keys = {
        i.identity.source_key for i in live if isinstance(i.document, SleepSummaryDocument)
    }
    assert new_versions == len(sleep_keys) == 3
    assert sorted(change.identity.source_key for change in delivered) == sorted(sleep_keys)
    # The night job 3 re-fetched with another duration (the 11th) was at version 2 already.
    assert sorted(change.document_version for change in delivered) == [2, 2, 3]


async def test_refetched_nights_are_replaced_and_pages_join_their_fetch(
    sessions: Sessions, linked: Linked
) -> None:
    await replay(sessions, linked, [])

    documents = await stored(sessions)
    durations = {
        key: json.loads(body)["sleep_health"]["summary"]["sleep_summary"]["duration"][
            "sleep_duration_seconds_int"
        ]
        for key, (_, body) in documents.items()
        if key.startswith("sleep_summary/")
    }
    # Job 3 re-fetched the nights of the 10th and 11th: its values, never added to job 1's.
    assert durations == {
        "sleep_summary/2023-11-10": 8 * 3600,
        "sleep_summary/2023-11-11": 9 * 3600,
        "sleep_summary/2023-11-12": 6 * 3600,
    }
    # Both pages of job 2's getmeas: two weigh-ins, and one body summary holding both.
    assert {key for key in documents if key.startswith("body_metrics_event/")} == {
        "body_metrics_event/grpid:1",
        "body_metrics_event/grpid:2",
    }
    (body_summary,) = [
        json.loads(b) for k, (_, b) in documents.items() if k.startswith("body_summary/")
    ]
    assert (
        len(body_summary["body_health"]["summary"]["body_summary"]["non_structured_data_array"])
        == 2
    )


async def archived_client(settings: Settings) -> Linked:
    """A migrated database with one client whose user has the archive above."""
    await upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        sessions = session_factory(engine)
        async with sessions.begin() as session:
            client = await create_client(session, load_cipher(settings), name="Alice")
        linked = await link_user(sessions, client.client_uuid)
        async with sessions.begin() as session:
            for job_id, exchange in ARCHIVE:
                await archive_exchange(
                    session, connection_id=linked.connection_id, job_id=job_id, exchange=exchange
                )
        return linked
    finally:
        await engine.dispose()


def test_the_command_replays_a_client_without_delivering(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    linked = asyncio.run(archived_client(settings))
    monkeypatch.setenv("ROOKERY_DATABASE_URL", settings.database_url)
    assert settings.encryption_keys is not None
    monkeypatch.setenv("ROOKERY_ENCRYPTION_KEYS", settings.encryption_keys.get_secret_value())
    monkeypatch.setenv("ROOKERY_DATA_DIR", str(settings.resolved_data_dir))

    first = CliRunner().invoke(
        app, ["replay", "--client-uuid", str(linked.client_id), "--no-deliver"]
    )
    again = CliRunner().invoke(app, ["replay", "--all", "--no-deliver"])

    assert first.exit_code == 0, first.output
    assert "replayed 4 archived exchanges of 1 connections: 6 documents, 6 new versions" in (
        first.output
    )
    assert again.exit_code == 0, again.output
    assert "6 documents, 0 new versions" in again.output


@pytest.mark.parametrize(
    "arguments",
    [
        [],
        ["--all", "--client-uuid", "8b1c7e0e-3f0a-4c55-9a51-7f3f1d1c2b6a"],
        ["--user-id", "u"],
        ["--client-uuid", "nope"],
    ],
)
def test_the_command_refuses_an_unclear_scope(arguments: list[str]) -> None:
    result = CliRunner().invoke(app, ["replay", *arguments])
    assert result.exit_code == 2
    assert "rookery replay:" in result.output
