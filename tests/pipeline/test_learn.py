"""What the pipeline learns from a job's responses beyond documents: the user's zone, heights
and how far a `lastupdate` sync has seen."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from rookery.pipeline.learn import learned_heights, learned_timezone, seen_until, successful_bodies
from rookery.transform.context import HeightReading
from rookery.withings.client import Exchange
from rookery.withings.responses import Endpoint
from tests.store.document_data import getmeas_body, weigh_in


def call(
    endpoint: Endpoint, body: dict[str, Any] | None, *, status: int = 0, http_status: int = 200
) -> Exchange:
    payload: dict[str, Any] = {"status": status, "body": body or {}}
    return Exchange(
        service=endpoint.service,
        action=endpoint.action,
        params={},
        http_status=http_status,
        response_text=json.dumps(payload),
        elapsed_s=0.1,
        started_at_utc=datetime(2026, 11, 28, 9, 0, tzinfo=UTC),
    )


def rows(key: str, *items: dict[str, Any]) -> dict[str, Any]:
    return {key: list(items), "more": False, "offset": 0}


def height(grpid: int, at_s: int, centimetres: int) -> dict[str, Any]:
    group = weigh_in(grpid, at_s, 0)
    group["measures"] = [{"value": centimetres, "type": 4, "unit": -2}]
    return group


def test_the_zone_is_the_last_valid_one_named() -> None:
    calls = [
        call(Endpoint.GETMEAS, {**getmeas_body(), "timezone": "Europe/Paris"}),
        call(Endpoint.GETACTIVITY, rows("activities", {"timezone": "Not/AZone"})),
        call(Endpoint.SLEEP_GETSUMMARY, rows("series", {"timezone": "America/New_York"})),
        call(Endpoint.GETWORKOUTS, rows("series", {"timezone": 7})),
    ]
    assert learned_timezone(calls) == "America/New_York"


def test_responses_without_a_zone_teach_none() -> None:
    calls = [
        call(Endpoint.SLEEP_GET, {"series": []}),
        call(Endpoint.GETINTRADAYACTIVITY, {"series": {}}),
        call(Endpoint.GETMEAS, {**getmeas_body(), "timezone": "Mars/Olympus"}),
        call(Endpoint.GETMEAS, {"timezone": "Europe/Paris"}, status=601),
    ]
    assert learned_timezone(calls) is None


def test_heights_come_from_kept_groups_only() -> None:
    kept = height(1, 1_700_000_000, 181)
    unsure = height(2, 1_700_000_100, 150)
    unsure["attrib"] = 1  # ambiguous: Withings could not tell whose it is
    calls = [
        call(Endpoint.GETMEAS, getmeas_body(kept, unsure, weigh_in(3, 1_700_000_200, 80_000))),
        call(Endpoint.GETACTIVITY, rows("activities")),
    ]
    assert learned_heights(calls) == [HeightReading(1_700_000_000, Decimal("1.81"))]


def test_seen_until_is_the_latest_withings_time_of_the_asked_endpoints() -> None:
    calls = [
        call(Endpoint.GETMEAS, {**getmeas_body(weigh_in(1, 1_600_000_000, 70_000))}),
        call(Endpoint.GETACTIVITY, rows("activities", {"modified": 1_700_000_500})),
        call(Endpoint.GETWORKOUTS, rows("series", {"modified": "1700000900"}, {"modified": True})),
        call(Endpoint.GETWORKOUTS, rows("series", {"modified": 1_800_000_000}), status=601),
    ]
    # getmeas says its own `updatetime` (1700000000), above its groups' `modified`.
    assert seen_until(calls, [Endpoint.GETMEAS]) == 1_700_000_000
    assert seen_until(calls, [Endpoint.GETACTIVITY, Endpoint.GETWORKOUTS]) == 1_700_000_900
    assert seen_until(calls, [Endpoint.HEART_LIST]) is None


def test_only_successful_data_responses_count() -> None:
    broken = Exchange(
        service="/measure",
        action="getmeas",
        params={},
        http_status=200,
        response_text="{not json",
        elapsed_s=0.1,
        started_at_utc=datetime(2026, 11, 28, 9, 0, tzinfo=UTC),
    )
    calls = [
        broken,
        call(Endpoint.GETMEAS, getmeas_body(), http_status=500),
        call(Endpoint.GETMEAS, getmeas_body(), status=401),
        Exchange(
            service="/v2/user",
            action="getdevice",
            params={},
            http_status=200,
            response_text=json.dumps({"status": 0, "body": {"devices": []}}),
            elapsed_s=0.1,
            started_at_utc=datetime(2026, 11, 28, 9, 0, tzinfo=UTC),
        ),
        call(Endpoint.HEART_LIST, rows("series")),
    ]
    assert [endpoint for endpoint, _ in successful_bodies(calls)] == [Endpoint.HEART_LIST]
