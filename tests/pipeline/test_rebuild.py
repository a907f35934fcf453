"""`produce_documents` and the replay: how responses combine into documents, job by job."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rookery.pipeline.rebuild import produce_documents, replay_connection
from rookery.store.archive import archive_exchange, archived_connections
from rookery.store.clients import NewClient
from rookery.store.tables import Document
from rookery.withings.client import Exchange
from rookery.withings.responses import Endpoint
from tests.store.document_data import Linked, envelope, getsummary_body, link_user, sleep_night

pytestmark = pytest.mark.anyio

Sessions = async_sessionmaker[AsyncSession]
ClientFactory = Callable[..., Awaitable[NewClient]]
PARIS_OCT_20_MIDNIGHT_S = 1697752800  # 2023-10-20T00:00:00+02:00


def call(endpoint: Endpoint, body: dict[str, Any], **params: str) -> Exchange:
    return Exchange(
        service=endpoint.service,
        action=endpoint.action,
        params=params,
        http_status=200,
        response_text=envelope(body),
        elapsed_s=0.1,
        started_at_utc=datetime(2026, 11, 28, 9, 0, tzinfo=UTC),
    )


def activity_row(day: str, steps: int, *, modified: int = 1697884856) -> dict[str, Any]:
    return {
        "steps": steps,
        "distance": 1000.5,
        "calories": 85.5,
        "totalcalories": 2300.5,
        "timezone": "Europe/Paris",
        "date": day,
        "modified": modified,
        "brand": 1,
        "is_tracker": True,
    }


def getactivity(*rows: dict[str, Any]) -> Exchange:
    return call(
        Endpoint.GETACTIVITY,
        {"activities": list(rows), "more": False, "offset": 0},
        startdateymd=str(rows[0]["date"]),
    )


def intraday(start_s: int, *steps: int) -> Exchange:
    series = {
        str(start_s + 600 * n): {"steps": value, "duration": 60, "heart_rate": 70 + n}
        for n, value in enumerate(steps)
    }
    return call(Endpoint.GETINTRADAYACTIVITY, {"series": series}, startdate=str(start_s))


def summary_of(document: Any) -> dict[str, Any]:
    payload = json.loads(document.model_dump_json())
    return dict(payload["physical_health"]["summary"]["physical_summary"])


def test_getactivity_takes_the_intraday_samples_of_its_job() -> None:
    linked_ctx = Linked(uuid.uuid4(), uuid.uuid4(), "u", uuid.uuid4()).context()
    calls = [
        getactivity(activity_row("2023-10-20", 1209)),
        intraday(PARIS_OCT_20_MIDNIGHT_S + 3600, 10, 20),
        intraday(PARIS_OCT_20_MIDNIGHT_S + 7200, 30),
    ]
    for order in (calls, list(reversed(calls))):
        (document,) = produce_documents(order, linked_ctx)
        summary = summary_of(document.document)
        assert summary["distance"]["steps_int"] == 1209, "the day's totals stay"
        assert [item["steps_int"] for item in summary["distance"]["steps_granular_data_array"]] == [
            10,
            20,
            30,
        ]
        assert len(summary["heart_rate"]["hr_granular_data_array"]) == 3
    # Intraday alone still yields its samples (the transform's own rule).
    (alone,) = produce_documents(calls[1:2], linked_ctx)
    assert summary_of(alone.document)["distance"]["steps_int"] is None


@pytest.fixture
async def linked(sessions: Sessions, new_client: ClientFactory) -> Linked:
    client = await new_client(name="Replay")
    return await link_user(sessions, client.client_uuid)


async def archive(sessions: Sessions, linked: Linked, rows: list[tuple[int, Exchange]]) -> None:
    async with sessions.begin() as session:
        for job_id, exchange in rows:
            await archive_exchange(
                session, connection_id=linked.connection_id, job_id=job_id, exchange=exchange
            )


async def stored(sessions: Sessions) -> dict[str, dict[str, Any]]:
    async with sessions() as session:
        rows = await session.scalars(select(Document))
        return {f"{row.data_structure}/{row.source_key}": json.loads(row.body_json) for row in rows}


async def replay(sessions: Sessions, linked: Linked) -> int:
    async with sessions() as session:
        (connection,) = await archived_connections(session, client_id=linked.client_id)
    counts = await replay_connection(sessions, connection, deliver=False)
    return counts.new_versions


def night_detail(night: dict[str, Any]) -> Exchange:
    start = int(night["startdate"])
    segment = {"startdate": start, "enddate": start + 120, "state": 1, "hr": {str(start): 55}}
    return call(
        Endpoint.SLEEP_GET,
        {"series": [segment]},
        startdate=str(start),
        enddate=str(night["enddate"]),
    )


async def test_a_retried_jobs_runs_are_one_set_though_other_jobs_came_between(
    sessions: Sessions, linked: Linked
) -> None:
    first = sleep_night(1, day="2023-11-10", total_sleep_s=8 * 3600, deep_s=1, light_s=1, rem_s=1)
    second = sleep_night(2, day="2023-11-11", total_sleep_s=7 * 3600, deep_s=1, light_s=1, rem_s=1)
    summary = call(Endpoint.SLEEP_GETSUMMARY, getsummary_body(first, second))
    await archive(
        sessions,
        linked,
        [
            # Job 7's first run: the nights, the first night's detail, then a 601.
            (7, summary),
            (7, night_detail(first)),
            # Job 8, another domain, ran meanwhile.
            (8, getactivity(activity_row("2023-11-10", 500))),
            # Job 7 again: the nights, and only the detail it still lacked.
            (7, summary),
            (7, night_detail(second)),
        ],
    )
    assert await replay(sessions, linked) == 3
    documents = await stored(sessions)
    for day in ("2023-11-10", "2023-11-11"):
        night = documents[f"sleep_summary/{day}"]["sleep_health"]["summary"]["sleep_summary"]
        # Both nights keep their detail: the first run's is not lost to the second run's set.
        assert night["heart_rate"]["hr_granular_data_array"], day
    assert await replay(sessions, linked) == 0


ROW = activity_row("2023-10-20", 1209)
DAY_OF_ROW = [
    (1, getactivity(ROW)),  # during the day: no samples yet
    (2, getactivity(ROW)),  # the day's final update: the same row and its samples
    (2, intraday(PARIS_OCT_20_MIDNIGHT_S + 3600, 10, 20)),
    (3, getactivity(ROW)),  # a later fetch whose window covers the day again
]


async def physical(sessions: Sessions) -> dict[str, Any]:
    document = (await stored(sessions))["physical_summary/2023-10-20"]
    return dict(document["physical_health"]["summary"]["physical_summary"])


async def test_an_unchanged_row_fetched_without_samples_keeps_the_samples(
    sessions: Sessions, linked: Linked
) -> None:
    await archive(sessions, linked, DAY_OF_ROW)
    await replay(sessions, linked)
    summary = await physical(sessions)
    assert summary["distance"]["steps_int"] == 1209
    assert len(summary["distance"]["steps_granular_data_array"]) == 2


async def test_a_changed_row_replaces_the_summary_and_its_samples(
    sessions: Sessions, linked: Linked
) -> None:
    changed = {**ROW, "steps": 1300, "modified": 1697890000}
    await archive(sessions, linked, [*DAY_OF_ROW, (4, getactivity(changed))])
    await replay(sessions, linked)
    summary = await physical(sessions)
    # The samples belonged to the old row; the new row's arrive with its own update.
    assert summary["distance"]["steps_int"] == 1300
    assert summary["distance"]["steps_granular_data_array"] == []
