"""ROOK's query API and Rookery's document reads, over HTTP, on both engines."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rookery.model.common import EventDocument
from rookery.model.physical import ActivityEventDocument
from rookery.model.sleep import SleepSummaryDocument
from rookery.model.structures import STRUCTURES, StructureSpec
from rookery.store.clients import NewClient
from rookery.store.documents import store_produced
from rookery.transform.context import Produced
from tests.store.document_data import (
    Linked,
    filled,
    link_user,
    produced,
    single_event_documents,
)
from tests.support.rook_schema import validate_document

pytestmark = pytest.mark.anyio

ClientFactory = Callable[..., Awaitable[NewClient]]
Sessions = async_sessionmaker[AsyncSession]
DAY = date(2023, 11, 14)
SLEEP_PATH = "/v2/processed_data/sleep_health/summary"
ACTIVITY_PATH = "/v2/processed_data/physical_health/events/activity"


class Alice:
    def __init__(self, client: NewClient, linked: Linked) -> None:
        self.client = client
        self.linked = linked
        self.auth = (str(client.client_uuid), client.secret_key)


@pytest.fixture
async def alice(sessions: Sessions, new_client: ClientFactory) -> Alice:
    client = await new_client(name="Alice")
    return Alice(client, await link_user(sessions, client.client_uuid))


async def store(sessions: Sessions, linked: Linked, items: list[Produced]) -> None:
    async with sessions.begin() as session:
        await store_produced(
            session,
            client_id=linked.client_id,
            user_pk=linked.user_pk,
            produced=items,
            deliver=False,
        )


def one_of(spec: StructureSpec, client_uuid: str) -> Any:
    document_type = spec.document_type
    if issubclass(document_type, EventDocument):
        (document,) = single_event_documents(
            document_type, client_uuid, ["2023-11-14T08:00:00.000000+01:00"]
        )
        return document
    return filled(document_type, client_uuid)


@pytest.mark.parametrize("spec", STRUCTURES, ids=lambda spec: spec.api_path)
async def test_each_structure_answers_its_stored_document_or_204(
    api: httpx2.AsyncClient, sessions: Sessions, alice: Alice, spec: StructureSpec
) -> None:
    document = one_of(spec, str(alice.client.client_uuid))
    await store(sessions, alice.linked, [produced(document, "key-1", DAY)])
    query = {"user_id": alice.linked.user_id, "date": DAY.isoformat()}

    found = await api.get(spec.api_path, params=query, auth=alice.auth)

    assert found.status_code == 200
    assert found.headers["content-type"] == "application/json"
    assert found.json() == {**json.loads(document.model_dump_json()), "document_version": 1}
    validate_document(found.json())
    for other in ({**query, "date": "2023-11-15"}, {**query, "user_id": "nobody"}):
        missing = await api.get(spec.api_path, params=other, auth=alice.auth)
        assert (missing.status_code, missing.content) == (204, b"")


async def test_a_summary_answers_its_latest_version(
    api: httpx2.AsyncClient, sessions: Sessions, alice: Alice
) -> None:
    first = filled(SleepSummaryDocument, str(alice.client.client_uuid))
    assert isinstance(first, SleepSummaryDocument)
    second = SleepSummaryDocument.of(
        first.summary.model_copy(update={"non_structured_data_array": ({"fixed": True},)}),
        client_uuid=first.client_uuid,
        user_id=first.user_id,
    )
    await store(sessions, alice.linked, [produced(first, DAY.isoformat(), DAY)])
    await store(sessions, alice.linked, [produced(second, DAY.isoformat(), DAY)])

    found = await api.get(
        SLEEP_PATH, params={"user_id": alice.linked.user_id, "date": "2023-11-14"}, auth=alice.auth
    )

    assert found.json() == {**json.loads(second.model_dump_json()), "document_version": 2}


async def test_a_days_events_come_as_one_document_in_time_order_at_latest_versions(
    api: httpx2.AsyncClient, sessions: Sessions, alice: Alice
) -> None:
    client_uuid = str(alice.client.client_uuid)
    noon, morning, evening = single_event_documents(
        ActivityEventDocument,
        client_uuid,
        [
            "2023-11-14T12:00:00.000000+01:00",
            "2023-11-14T07:00:00.000000+01:00",
            "2023-11-14T21:00:00.000000+01:00",
        ],
    )
    (next_day,) = single_event_documents(
        ActivityEventDocument, client_uuid, ["2023-11-15T07:00:00.000000+01:00"]
    )
    await store(
        sessions,
        alice.linked,
        [
            produced(noon, "workout:1", DAY),
            produced(morning, "workout:2", DAY),
            produced(evening, "workout:3", DAY),
            produced(next_day, "workout:4", date(2023, 11, 15)),
        ],
    )
    event = noon.events[0]
    edited_noon = ActivityEventDocument.of(
        event.model_copy(update={"non_structured_data_array": ({"edited": True},)}),
        client_uuid=client_uuid,
        user_id=noon.user_id,
    )
    await store(sessions, alice.linked, [produced(edited_noon, "workout:1", DAY)])

    found = await api.get(
        ACTIVITY_PATH,
        params={"user_id": alice.linked.user_id, "date": "2023-11-14"},
        auth=alice.auth,
    )

    assert found.status_code == 200
    body = found.json()
    validate_document(body)
    latest_noon = edited_noon.model_copy(update={"document_version": 2})
    expected = ActivityEventDocument.merge([morning, latest_noon, evening])
    assert body == json.loads(expected.model_dump_json())
    assert body["document_version"] == 2
    events = body["physical_health"]["events"]["activity_event"]
    assert [e["metadata"]["datetime_string"][11:16] for e in events] == ["07:00", "12:00", "21:00"]


BAD_QUERIES = [
    ({"date": "2023-11-14"}, "user_id is required"),
    ({"user_id": "user-42"}, "date is required"),
    ({"user_id": "user-42", "date": "14/11/2023"}, "YYYY-MM-DD"),
    ({"user_id": "user-42", "date": "2023-02-30"}, "YYYY-MM-DD"),
    ({"user_id": "user-42", "date": "2023-1-4"}, "YYYY-MM-DD"),
    ({"user_id": "user 42", "date": "2023-11-14"}, "user_id must be"),
    ({"user_id": "x" * 51, "date": "2023-11-14"}, "user_id must be"),
]


async def test_a_missing_or_malformed_parameter_is_a_bad_request(
    api: httpx2.AsyncClient, alice: Alice
) -> None:
    for query, complaint in BAD_QUERIES:
        for spec in STRUCTURES:
            answer = await api.get(spec.api_path, params=query, auth=alice.auth)
            where = f"{spec.api_path} {query}"
            assert answer.status_code == 400, where
            body = answer.json()
            assert (body["error"], body["path"], body["method"]) == (
                "Bad Request",
                spec.api_path,
                "GET",
            ), where
            assert complaint in body["exception"], where


async def test_another_clients_user_is_never_revealed(
    api: httpx2.AsyncClient, sessions: Sessions, alice: Alice, new_client: ClientFactory
) -> None:
    for spec in STRUCTURES:
        document = one_of(spec, str(alice.client.client_uuid))
        await store(sessions, alice.linked, [produced(document, "key-1", DAY)])
    bob = await new_client(name="Bob")
    bob_auth = (str(bob.client_uuid), bob.secret_key)
    query = {"user_id": alice.linked.user_id, "date": DAY.isoformat()}

    for spec in STRUCTURES:
        answer = await api.get(spec.api_path, params=query, auth=bob_auth)
        assert (answer.status_code, answer.content) == (204, b""), spec.api_path
    documents = await api.get(
        "/api/v1/client/documents",
        params={**query, "from_date": "2023-01-01", "to_date": "2023-12-31"},
        auth=bob_auth,
    )
    changes = await api.get("/api/v1/client/changes", auth=bob_auth)
    assert documents.json()["documents"] == changes.json()["documents"] == []


def nights(client_uuid: str, count: int) -> list[Produced]:
    document = filled(SleepSummaryDocument, client_uuid)
    assert isinstance(document, SleepSummaryDocument)
    items = []
    for n in range(count):
        day = date.fromordinal(date(2023, 11, 1).toordinal() + n)
        summary = document.summary.model_copy(update={"non_structured_data_array": ({"n": n},)})
        night = SleepSummaryDocument.of(summary, client_uuid=client_uuid, user_id=document.user_id)
        items.append(produced(night, day.isoformat(), day))
    return items


async def test_range_reads_and_the_changes_feed_page_over_http(
    api: httpx2.AsyncClient, sessions: Sessions, alice: Alice
) -> None:
    items = nights(str(alice.client.client_uuid), 12)
    await store(sessions, alice.linked, items)
    expected = [json.loads(item.document.model_dump_json()) for item in items]

    async def read_all(path: str, params: dict[str, str]) -> list[Any]:
        documents: list[Any] = []
        cursor: str | None = None
        while True:
            page = await api.get(
                path, params={**params, **({"cursor": cursor} if cursor else {})}, auth=alice.auth
            )
            assert page.status_code == 200
            body = page.json()
            documents.extend(body["documents"])
            cursor = body["next_cursor"]
            if not body["has_more"]:
                return documents

    in_range = await read_all(
        "/api/v1/client/documents",
        {
            "user_id": alice.linked.user_id,
            "from_date": "2023-11-03",
            "to_date": "2023-11-10",
            "data_structure": "sleep_summary",
            "limit": "3",
        },
    )
    feed = await read_all("/api/v1/client/changes", {"limit": "5"})

    assert in_range == expected[2:10]
    assert feed == expected


BAD_READS = [
    ("/api/v1/client/changes", {"cursor": "not-a-cursor"}),
    ("/api/v1/client/changes", {"limit": "0"}),
    ("/api/v1/client/documents", {"user_id": "u", "from_date": "2023-11-01"}),
    (
        "/api/v1/client/documents",
        {"user_id": "u", "from_date": "2023-11-02", "to_date": "2023-11-01"},
    ),
    (
        "/api/v1/client/documents",
        {"user_id": "u", "from_date": "2023-11-01", "to_date": "2023-11-31"},
    ),
    (
        "/api/v1/client/documents",
        {"user_id": "u", "from_date": "2023-11-01", "to_date": "2023-11-02", "pillar": "x"},
    ),
]


async def test_bad_document_read_parameters_are_refused(
    api: httpx2.AsyncClient, alice: Alice
) -> None:
    for path, params in BAD_READS:
        answer = await api.get(path, params=params, auth=alice.auth)
        assert answer.status_code == 422, (path, params)
        assert answer.json()["error"] == "Unprocessable Entity", (path, params)


def test_the_openapi_lists_every_structure_with_rooks_parameters(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    for spec in STRUCTURES:
        operation = paths[spec.api_path]["get"]
        parameters = {p["name"]: p["required"] for p in operation["parameters"]}
        assert parameters == {"user_id": True, "date": True}, spec.api_path
        assert set(operation["responses"]) == {"200", "204", "400", "401", "429"}
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema["$ref"].endswith(spec.document_type.__name__)
    for path in ("/api/v1/client/documents", "/api/v1/client/changes"):
        example = paths[path]["get"]["responses"]["200"]["content"]["application/json"]["example"]
        assert set(example) == {"documents", "next_cursor", "has_more"}
