"""What a job's raw Withings responses teach about the user, beyond documents. Pure.

The user's time zone: Withings names it in getmeas bodies and in activity, workout and sleep
summary rows; sleep `get`, intraday and heart `list` name none, so the connection keeps the
latest one seen. Heights: BMI needs the user's earlier heights. Cursors: Withings' own clock
(getmeas `updatetime`, the rows' `modified`) tells how far a `lastupdate` sync has seen.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from rookery.pipeline.rebuild import RawCall
from rookery.transform.context import HeightReading
from rookery.transform.measure import heights_in, kept_groups
from rookery.transform.time import UnknownTimeZoneError, zone
from rookery.withings.errors import WithingsError, unwrap
from rookery.withings.responses import Endpoint, parse_getmeas

_ENDPOINTS = {(endpoint.service, endpoint.action): endpoint for endpoint in Endpoint}
# Where each endpoint's rows are, for the zone and `modified` of each row.
_ROWS = {
    Endpoint.GETACTIVITY: "activities",
    Endpoint.GETWORKOUTS: "series",
    Endpoint.SLEEP_GETSUMMARY: "series",
    Endpoint.HEART_LIST: "series",
}


def successful_bodies(calls: Iterable[RawCall]) -> Iterator[tuple[Endpoint, Mapping[str, Any]]]:
    """The body of every successful data response among `calls`, with its endpoint."""
    for call in calls:
        endpoint = _ENDPOINTS.get((call.service, call.action))
        if endpoint is None or call.http_status != 200 or call.response_text is None:
            continue
        try:
            body = unwrap(json.loads(call.response_text), service=call.service, action=call.action)
        except (WithingsError, ValueError, RecursionError):
            continue
        yield endpoint, body


def learned_timezone(calls: Iterable[RawCall]) -> str | None:
    """The last valid IANA zone the responses name (a getmeas body's, or a row's), if any."""
    learned: str | None = None
    for endpoint, body in successful_bodies(calls):
        names: list[object] = []
        if endpoint is Endpoint.GETMEAS:
            names.append(body.get("timezone"))
        elif endpoint in _ROWS:
            names.extend(row.get("timezone") for row in _rows(body, _ROWS[endpoint]))
        for name in names:
            if isinstance(name, str) and _is_zone(name):
                learned = name
    return learned


def learned_heights(calls: Iterable[RawCall]) -> list[HeightReading]:
    """Every height the getmeas responses among `calls` record (kept groups only)."""
    heights: list[HeightReading] = []
    for endpoint, body in successful_bodies(calls):
        if endpoint is not Endpoint.GETMEAS:
            continue
        try:
            page = parse_getmeas(body)
        except WithingsError:
            continue
        heights.extend(heights_in(kept_groups(page.measuregrps)))
    return heights


def seen_until(calls: Iterable[RawCall], endpoints: Iterable[Endpoint]) -> int | None:
    """Withings' own time up to which these responses of `endpoints` saw changes: a getmeas
    `updatetime`, else the latest `modified` of the rows; None when they say nothing."""
    wanted = set(endpoints)
    latest: int | None = None
    for endpoint, body in successful_bodies(calls):
        if endpoint not in wanted:
            continue
        stamps: list[object] = []
        if endpoint is Endpoint.GETMEAS:
            stamps.append(body.get("updatetime"))
            stamps.extend(group.get("modified") for group in _rows(body, "measuregrps"))
        elif endpoint in _ROWS:
            stamps.extend(row.get("modified") for row in _rows(body, _ROWS[endpoint]))
        for stamp in stamps:
            value = _epoch(stamp)
            if value is not None and (latest is None or value > latest):
                latest = value
    return latest


def _rows(body: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    rows = body.get(key)
    if not isinstance(rows, list):
        return []
    return [row for row in rows if isinstance(row, Mapping)]


def _epoch(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _is_zone(name: str) -> bool:
    try:
        zone(name)
    except UnknownTimeZoneError:
        return False
    return True
