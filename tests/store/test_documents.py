"""Versioned documents on both engines: fingerprints decide versions, re-fetches replace rather
than add, concurrent writers agree, and range reads and the changes feed page without loss."""

from __future__ import annotations

import json
import zlib
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rookery.errors import InvalidInputError
from rookery.model.common import DataStructure, Pillar
from rookery.model.physical import ActivityEventDocument
from rookery.model.sleep import SleepSummaryDocument
from rookery.store.archive import archive_exchange, archived_exchanges
from rookery.store.clients import NewClient
from rookery.store.documents import (
    StoredChange,
    changes_since,
    day_bodies,
    documents_in_range,
    store_produced,
)
from rookery.store.tables import Document, RawExchange
from rookery.transform.context import Produced
from rookery.withings.client import Exchange
from rookery.withings.responses import Endpoint
from tests.store.document_data import (
    Linked,
    filled,
    getsummary_body,
    link_user,
    produced,
    single_event_documents,
    sleep_night,
    transformed,
)

pytestmark = pytest.mark.anyio

ClientFactory = Callable[..., Awaitable[NewClient]]
Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def linked(sessions: Sessions, new_client: ClientFactory) -> Linked:
    client = await new_client(name="Alice")
    return await link_user(sessions, client.client_uuid)


class Deliveries:
    """What the delivery hook was handed."""

    def __init__(self) -> None:
        self.changes: list[StoredChange] = []

    async def __call__(self, change: StoredChange) -> None:
        self.changes.append(change)


async def store(
    sessions: Sessions, linked: Linked, items: list[Produced], hook: Deliveries | None = None
) -> list[StoredChange]:
    async with sessions.begin() as session:
        return await store_produced(
            session,
            client_id=linked.client_id,
            user_pk=linked.user_pk,
            produced=items,
            deliver=hook is not None,
            on_new_version=hook,
        )


def sleep(linked: Linked, total_sleep_s: int, night_id: int = 1) -> list[Produced]:
    night = sleep_night(
        night_id,
        day="2023-11-14",
        total_sleep_s=total_sleep_s,
        deep_s=total_sleep_s // 4,
        light_s=total_sleep_s // 2,
        rem_s=total_sleep_s // 4,
    )
    return transformed(Endpoint.SLEEP_GETSUMMARY, getsummary_body(night), linked)


async def stored_rows(sessions: Sessions) -> list[Document]:
    async with sessions() as session:
        return list(await session.scalars(select(Document).order_by(Document.id)))


async def test_first_store_is_version_1_and_keeps_the_body_exact(
    sessions: Sessions, linked: Linked
) -> None:
    items = sleep(linked, 8 * 3600)
    deliveries = Deliveries()

    changes = await store(sessions, linked, items, deliveries)

    (change,) = changes
    assert change.document_version == 1
    assert deliveries.changes == changes
    expected = items[0].document.model_dump_json()
    assert change.body == expected.encode()
    (row,) = await stored_rows(sessions)
    assert (row.id, row.body_json, row.document_version) == (change.document_id, expected, 1)
    document = items[0].document
    assert isinstance(document, SleepSummaryDocument)
    assert row.datetime_string == document.summary.metadata.datetime_string
    assert change.datetime_string == row.datetime_string


async def test_identical_content_again_stores_and_delivers_nothing(
    sessions: Sessions, linked: Linked
) -> None:
    await store(sessions, linked, sleep(linked, 8 * 3600))
    before = await stored_rows(sessions)
    deliveries = Deliveries()

    assert await store(sessions, linked, sleep(linked, 8 * 3600), deliveries) == []

    assert deliveries.changes == []
    after = await stored_rows(sessions)
    assert [(r.document_version, r.change_seq, r.updated_at) for r in after] == [
        (r.document_version, r.change_seq, r.updated_at) for r in before
    ]


async def test_changed_content_is_version_2_with_one_delivery(
    sessions: Sessions, linked: Linked
) -> None:
    await store(sessions, linked, sleep(linked, 8 * 3600))
    deliveries = Deliveries()

    (change,) = await store(sessions, linked, sleep(linked, 7 * 3600), deliveries)

    assert change.document_version == 2
    assert deliveries.changes == [change]
    assert json.loads(change.body)["document_version"] == 2
    (row,) = await stored_rows(sessions)
    assert row.document_version == 2


async def test_a_refetched_night_replaces_the_old_one_and_is_never_added_to_it(
    sessions: Sessions, linked: Linked
) -> None:
    await store(sessions, linked, sleep(linked, 8 * 3600, night_id=77))
    await store(sessions, linked, sleep(linked, 7 * 3600, night_id=77))
    await store(sessions, linked, sleep(linked, 7 * 3600, night_id=77))

    (row,) = await stored_rows(sessions)
    duration = json.loads(row.body_json)["sleep_health"]["summary"]["sleep_summary"]["duration"]
    assert duration["sleep_duration_seconds_int"] == 7 * 3600
    assert duration["deep_sleep_duration_seconds_int"] == 7 * 3600 // 4
    assert row.document_version == 2


async def test_the_last_item_of_one_identity_in_a_batch_wins(
    sessions: Sessions, linked: Linked
) -> None:
    changes = await store(sessions, linked, [*sleep(linked, 8 * 3600), *sleep(linked, 6 * 3600)])

    (change,) = changes
    summary = json.loads(change.body)["sleep_health"]["summary"]["sleep_summary"]
    assert summary["duration"]["sleep_duration_seconds_int"] == 6 * 3600


async def test_concurrent_stores_of_one_identity_make_one_version_each(
    sessions: Sessions, linked: Linked
) -> None:
    results: list[list[StoredChange]] = []

    async def writer(items: list[Produced]) -> None:
        results.append(await store(sessions, linked, items))

    async with anyio.create_task_group() as group:  # both create version 1
        for _ in range(4):
            group.start_soon(writer, sleep(linked, 8 * 3600))
    async with anyio.create_task_group() as group:  # both make version 2
        for _ in range(4):
            group.start_soon(writer, sleep(linked, 7 * 3600))

    versions = sorted(change.document_version for changes in results for change in changes)
    assert versions == [1, 2]
    (row,) = await stored_rows(sessions)
    assert row.document_version == 2


async def test_deliver_needs_a_hook(sessions: Sessions, linked: Linked) -> None:
    with pytest.raises(ValueError, match="on_new_version"):
        async with sessions.begin() as session:
            await store_produced(
                session,
                client_id=linked.client_id,
                user_pk=linked.user_pk,
                produced=sleep(linked, 3600 * 8),
                deliver=True,
            )


async def test_a_days_events_come_back_in_time_order(sessions: Sessions, linked: Linked) -> None:
    late, early = single_event_documents(
        ActivityEventDocument,
        str(linked.client_id),
        ["2023-11-14T18:00:00.000000+01:00", "2023-11-14T07:30:00.000000+01:00"],
    )
    day = date(2023, 11, 14)
    await store(
        sessions, linked, [produced(late, "workout:2", day), produced(early, "workout:1", day)]
    )

    async with sessions() as session:
        bodies = await day_bodies(
            session,
            client_id=linked.client_id,
            user_id=linked.user_id,
            pillar=Pillar.PHYSICAL_HEALTH,
            data_structure=DataStructure.ACTIVITY_EVENT,
            local_date=day,
        )
    assert bodies == [early.model_dump_json(), late.model_dump_json()]


def night(linked: Linked, n: int, *, changed: bool = False) -> Produced:
    """Night `n` (its own local date), marked by its raw record."""
    document = filled(SleepSummaryDocument, str(linked.client_id))
    assert isinstance(document, SleepSummaryDocument)
    raw = {"night": n, "changed": changed}
    summary = document.summary.model_copy(update={"non_structured_data_array": (raw,)})
    marked = SleepSummaryDocument.of(
        summary, client_uuid=document.client_uuid, user_id=document.user_id
    )
    day = date.fromordinal(date(2023, 1, 1).toordinal() + n)
    return produced(marked, day.isoformat(), day)


def night_of(body: str) -> int:
    summary = json.loads(body)["sleep_health"]["summary"]["sleep_summary"]
    number: int = summary["non_structured_data_array"][0]["night"]
    return number


async def test_range_reads_page_without_loss_or_repeats_while_others_write(
    sessions: Sessions, linked: Linked
) -> None:
    existing = [night(linked, n) for n in range(40)]
    await store(sessions, linked, existing)
    seen: list[int] = []
    cursor: str | None = None
    written = 0
    while True:
        async with sessions() as session:
            page = await documents_in_range(
                session,
                client_id=linked.client_id,
                user_id=linked.user_id,
                from_date=date(2023, 1, 1),
                to_date=date(2023, 12, 31),
                data_structure=DataStructure.SLEEP_SUMMARY,
                cursor=cursor,
                limit=7,
            )
        seen.extend(night_of(body) for body in page.bodies)
        # Meanwhile: new documents land after the cursor, and old ones change on both sides.
        written += 1
        await store(sessions, linked, [night(linked, 40 + written)])
        await store(sessions, linked, [night(linked, (written * 7) % 40, changed=True)])
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert len(seen) == len(set(seen))
    assert set(range(40)) <= set(seen)


async def test_the_changes_feed_sees_every_change_once_under_concurrent_writes(
    sessions: Sessions, linked: Linked
) -> None:
    finished = anyio.Event()

    async def writer() -> None:
        for n in range(30):
            await store(sessions, linked, [night(linked, n)])
        for n in range(0, 30, 3):
            await store(sessions, linked, [night(linked, n, changed=True)])
        finished.set()

    seen: list[tuple[int, int]] = []
    cursor: str | None = None

    async def reader() -> None:
        nonlocal cursor
        while True:
            done = finished.is_set()
            async with sessions() as session:
                page = await changes_since(
                    session, client_id=linked.client_id, cursor=cursor, limit=4
                )
            for body in page.bodies:
                seen.append((night_of(body), json.loads(body)["document_version"]))
            assert page.next_cursor is not None
            cursor = page.next_cursor
            if done and not page.has_more:
                return
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as group:
        group.start_soon(writer)
        group.start_soon(reader)

    assert len(seen) == len(set(seen))
    latest = dict(seen)  # the last version seen of each night
    assert latest == {n: 2 if n % 3 == 0 else 1 for n in range(30)}
    async with sessions() as session:
        empty = await changes_since(session, client_id=linked.client_id, cursor=cursor)
    assert (empty.bodies, empty.next_cursor, empty.has_more) == ([], cursor, False)


async def test_another_clients_feed_and_ranges_show_nothing(
    sessions: Sessions, linked: Linked, new_client: ClientFactory
) -> None:
    await store(sessions, linked, [night(linked, n) for n in range(3)])
    bob = await new_client(name="Bob")
    async with sessions() as session:
        feed = await changes_since(session, client_id=bob.client_uuid)
        page = await documents_in_range(
            session,
            client_id=bob.client_uuid,
            user_id=linked.user_id,
            from_date=date(2023, 1, 1),
            to_date=date(2023, 12, 31),
        )
    assert feed.bodies == page.bodies == []


@pytest.mark.parametrize("cursor", ["", "nonsense", "YzE6eA", "cjE6MjAyMy0wMS0wMQ"])
async def test_a_malformed_cursor_is_refused(
    sessions: Sessions, linked: Linked, cursor: str
) -> None:
    async with sessions() as session:
        with pytest.raises(InvalidInputError, match="cursor"):
            await changes_since(session, client_id=linked.client_id, cursor=cursor)
        with pytest.raises(InvalidInputError, match="cursor"):
            await documents_in_range(
                session,
                client_id=linked.client_id,
                user_id=linked.user_id,
                from_date=date(2023, 1, 1),
                to_date=date(2023, 1, 2),
                cursor=cursor,
            )


def exchange(service: str, action: str, text: str | None, **params: str) -> Exchange:
    return Exchange(
        service=service,
        action=action,
        params=params,
        http_status=None if text is None else 200,
        response_text=text,
        elapsed_s=0.1,
        started_at_utc=datetime(2026, 11, 28, 9, 0, tzinfo=UTC),
    )


async def test_the_archive_keeps_responses_compressed_and_streams_them_in_order(
    sessions: Sessions, linked: Linked
) -> None:
    texts = [json.dumps({"status": 0, "body": {"series": [], "n": n}}) for n in range(450)]
    async with sessions.begin() as session:
        for n, text in enumerate(texts):
            await archive_exchange(
                session,
                connection_id=linked.connection_id,
                job_id=n // 100,
                exchange=exchange("/v2/sleep", "getsummary", text, startdateymd="2023-11-14"),
            )
        await archive_exchange(
            session,
            connection_id=linked.connection_id,
            job_id=None,
            exchange=exchange("/v2/oauth2", "requesttoken", '{"body":{"access_token":"x"}}'),
        )
        await archive_exchange(
            session,
            connection_id=linked.connection_id,
            job_id=None,
            exchange=exchange("/v2/sleep", "get", None),
        )

    read = [item async for item in archived_exchanges(sessions, linked.connection_id)]

    assert [item.response_text for item in read[:450]] == texts
    assert [item.job_id for item in read[:450]] == [n // 100 for n in range(450)]
    assert read[0].params == {"startdateymd": "2023-11-14"}
    token, failed = read[450:]
    assert (token.service, token.http_status, token.response_text) == ("/v2/oauth2", 200, None)
    assert (failed.http_status, failed.response_text) == (None, None)
    async with sessions() as session:
        stored: Any = await session.scalar(select(RawExchange.response_zlib).limit(1))
        count = await session.scalar(select(func.count()).select_from(RawExchange))
    assert zlib.decompress(stored).decode() == texts[0]
    assert count == 452
    only_gets = [
        item.action
        async for item in archived_exchanges(
            sessions, linked.connection_id, only=[("/v2/sleep", "get")]
        )
    ]
    assert only_gets == ["get"]
