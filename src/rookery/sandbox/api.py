"""The data services: filtering, paging and `data_fields` selection over a user's raw records.

Records are stored in Withings' wire shape, so a handler only selects: which rows (dates,
`lastupdate`, types), which page (`more`/`offset`: an int for getmeas, a bool for v2) and which
fields (`data_fields`, with Withings' defaults when it is absent).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from rookery.sandbox.protocol import (
    csv_param,
    int_param,
    invalid_params,
    required_int,
    ymd_param,
)
from rookery.sandbox.records import Record, SandboxUser
from rookery.sandbox.settings import SandboxSettings
from rookery.sandbox.world import SandboxWorld
from rookery.withings.codes import Scope

DAY_S: Final = 86_400

ACTIVITY_FIELDS: Final = frozenset(
    [
        "steps",
        "distance",
        "elevation",
        "soft",
        "moderate",
        "intense",
        "active",
        "calories",
        "totalcalories",
        "hr_average",
        "hr_min",
        "hr_max",
        "hr_zone_0",
        "hr_zone_1",
        "hr_zone_2",
        "hr_zone_3",
    ]
)
WORKOUT_FIELDS: Final = frozenset(
    [
        "calories",
        "intensity",
        "manual_intensity",
        "manual_distance",
        "manual_calories",
        "hr_average",
        "hr_min",
        "hr_max",
        "hr_zone_0",
        "hr_zone_1",
        "hr_zone_2",
        "hr_zone_3",
        "pause_duration",
        "algo_pause_duration",
        "spo2_average",
        "core_body_temperature_avg",
        "core_body_temperature_min",
        "core_body_temperature_max",
        "core_body_temperature_status",
        "steps",
        "distance",
        "elevation",
        "pool_laps",
        "strokes",
        "pool_length",
    ]
)
SLEEP_SUMMARY_FIELDS: Final = frozenset(
    [
        "total_timeinbed",
        "total_sleep_time",
        "asleepduration",
        "lightsleepduration",
        "remsleepduration",
        "deepsleepduration",
        "sleep_efficiency",
        "sleep_latency",
        "wakeup_latency",
        "wakeupduration",
        "wakeupcount",
        "waso",
        "nb_rem_episodes",
        "breathing_disturbances_intensity",
        "apnea_hypopnea_index",
        "withings_index",
        "durationtosleep",
        "durationtowakeup",
        "out_of_bed_count",
        "hr_average",
        "hr_min",
        "hr_max",
        "rr_average",
        "rr_min",
        "rr_max",
        "breathing_quality_assessment",
        "snoring",
        "snoringepisodecount",
        "sleep_score",
        "night_events",
        "mvt_score_avg",
        "mvt_active_duration",
        "rmssd_start_avg",
        "rmssd_end_avg",
        "chest_movement_rate_wellness_average",
        "chest_movement_rate_wellness_min",
        "chest_movement_rate_wellness_max",
        "breathing_sounds",
        "breathing_sounds_episode_count",
        "chest_movement_rate_average",
        "chest_movement_rate_min",
        "chest_movement_rate_max",
        "core_body_temperature_min",
        "core_body_temperature_max",
        "core_body_temperature_avg",
        "core_body_temperature_status",
    ]
)
# What getsummary returns without data_fields (fixture sleep_summary_no_datafields.json).
SLEEP_SUMMARY_DEFAULT_FIELDS: Final = frozenset(
    [
        "total_timeinbed",
        "total_sleep_time",
        "lightsleepduration",
        "remsleepduration",
        "deepsleepduration",
        "sleep_efficiency",
        "sleep_latency",
        "wakeup_latency",
        "wakeupduration",
        "wakeupcount",
        "waso",
        "nb_rem_episodes",
        "durationtosleep",
        "durationtowakeup",
        "out_of_bed_count",
    ]
)
SLEEP_SERIES_FIELDS: Final = frozenset(
    [
        "hr",
        "rr",
        "snoring",
        "sdnn_1",
        "rmssd",
        "hrv_quality",
        "mvt_score",
        "chest_movement_rate",
        "withings_index",
        "breathing_sounds",
    ]
)
INTRADAY_FIELDS: Final = frozenset(
    [
        "steps",
        "elevation",
        "calories",
        "distance",
        "stroke",
        "pool_lap",
        "duration",
        "heart_rate",
        "spo2_auto",
        "rmssd",
        "sdnn1",
        "hrv_quality",
        "core_body_temperature",
        "rr",
        "chest_movement_rate",
    ]
)
_SLEEP_MODEL_MONITOR: Final = 32


@dataclass(frozen=True, slots=True)
class DataCall:
    """One authenticated data call: whose data, from where, at what sandbox time."""

    user: SandboxUser
    world: SandboxWorld
    settings: SandboxSettings
    now: float


Handler = Callable[[DataCall, Mapping[str, str]], dict[str, Any]]


def _data_fields(params: Mapping[str, str], known: frozenset[str]) -> frozenset[str] | None:
    fields = csv_param(params, "data_fields")
    if fields is None:
        return None
    unknown = sorted(set(fields) - known)
    if unknown:
        raise invalid_params(f"unknown data_fields {','.join(unknown)}")
    return frozenset(fields)


def _page(
    rows: Sequence[Record], params: Mapping[str, str], size: int
) -> tuple[Sequence[Record], bool, int]:
    offset = int_param(params, "offset") or 0
    if offset < 0:
        raise invalid_params("offset must be >= 0")
    page = rows[offset : offset + size]
    more = offset + size < len(rows)
    return page, more, offset + size if more else 0


def _ymd_rows(
    rows: Iterable[Record], params: Mapping[str, str], *, required: bool = True
) -> list[Record]:
    """Rows by `date` in [startdateymd, enddateymd], or `modified` >= `lastupdate`."""
    start = ymd_param(params, "startdateymd")
    end = ymd_param(params, "enddateymd")
    lastupdate = int_param(params, "lastupdate")
    if lastupdate is None and (start is None or end is None) and required:
        raise invalid_params("startdateymd and enddateymd, or lastupdate, are required")
    return [
        row
        for row in rows
        if (start is None or row["date"] >= start)
        and (end is None or row["date"] <= end)
        and (lastupdate is None or row["modified"] >= lastupdate)
    ]


def _select(row: Record, keep: frozenset[str], droppable: frozenset[str]) -> Record:
    """`row` without the droppable keys that are not kept."""
    return {k: v for k, v in row.items() if k not in droppable or k in keep}


def _select_data(row: Record, keep: frozenset[str] | None) -> Record:
    if keep is None:
        return row
    return {**row, "data": {k: v for k, v in row["data"].items() if k in keep}}


def getmeas(call: DataCall, params: Mapping[str, str]) -> dict[str, Any]:
    """Measure groups by category, type, date window or lastupdate; paged with an int `more`."""
    single = int_param(params, "meastype")
    listed = csv_param(params, "meastypes")
    types: set[int] | None = None
    if single is not None or listed is not None:
        try:
            types = {int(t) for t in listed or ()} | ({single} if single is not None else set())
        except ValueError:
            raise invalid_params("meastypes must be integers") from None
    category = int_param(params, "category") or 1
    start = int_param(params, "startdate")
    end = int_param(params, "enddate")
    lastupdate = int_param(params, "lastupdate")
    groups: list[Record] = []
    for group in call.user.measuregrps:
        if (
            group["category"] != category
            or (start is not None and group["date"] < start)
            or (end is not None and group["date"] > end)
            or (lastupdate is not None and group["modified"] < lastupdate)
        ):
            continue
        if types is None:
            groups.append(group)
            continue
        measures = [m for m in group["measures"] if m["type"] in types]
        if measures:
            groups.append({**group, "measures": measures})
    page, more, offset = _page(groups, params, call.settings.getmeas_page_size)
    return {
        "updatetime": int(call.now),
        "timezone": call.user.timezone,
        "measuregrps": page,
        "more": int(more),
        "offset": offset,
    }


def getactivity(call: DataCall, params: Mapping[str, str]) -> dict[str, Any]:
    """Daily activity rows; `data_fields` selects among the activity measures."""
    keep = _data_fields(params, ACTIVITY_FIELDS)
    rows = _ymd_rows(call.user.activities, params)
    page, more, offset = _page(rows, params, call.settings.v2_page_size)
    if keep is not None:
        page = [_select(row, keep, ACTIVITY_FIELDS) for row in page]
    return {"activities": page, "more": more, "offset": offset}


def getworkouts(call: DataCall, params: Mapping[str, str]) -> dict[str, Any]:
    """Workouts; `data_fields` selects inside each workout's `data`."""
    keep = _data_fields(params, WORKOUT_FIELDS)
    rows = _ymd_rows(call.user.workouts, params)
    page, more, offset = _page(rows, params, call.settings.v2_page_size)
    return {"series": [_select_data(r, keep) for r in page], "more": more, "offset": offset}


def sleep_getsummary(call: DataCall, params: Mapping[str, str]) -> dict[str, Any]:
    """Nightly summaries; without `data_fields`, Withings' default subset of `data`."""
    keep = _data_fields(params, SLEEP_SUMMARY_FIELDS) or SLEEP_SUMMARY_DEFAULT_FIELDS
    rows = _ymd_rows(call.user.sleep_summaries, params)
    page, more, offset = _page(rows, params, call.settings.v2_page_size)
    return {"series": [_select_data(r, keep) for r in page], "more": more, "offset": offset}


def _window_24h(params: Mapping[str, str], now: float, *, required: bool) -> tuple[int, int]:
    """[start, end) from startdate/enddate, capped to the first 24 hours."""
    if required:
        start, end = required_int(params, "startdate"), required_int(params, "enddate")
    else:
        start_or_none, end_or_none = int_param(params, "startdate"), int_param(params, "enddate")
        if start_or_none is None:
            end = int(now) if end_or_none is None else end_or_none
            start = end - DAY_S
        else:
            start = start_or_none
            end = start + DAY_S if end_or_none is None else end_or_none
    if end < start:
        raise invalid_params("enddate is before startdate")
    return start, min(end, start + DAY_S)


def sleep_get(call: DataCall, params: Mapping[str, str]) -> dict[str, Any]:
    """Sleep-state segments of at most 24 h; the per-minute series only when asked for."""
    keep = _data_fields(params, SLEEP_SERIES_FIELDS) or frozenset()
    start, end = _window_24h(params, call.now, required=True)
    segments = call.world.sleep_segments(call.user, start, end)
    model = next(
        (
            night["model"]
            for night in call.user.sleep_summaries
            if night["startdate"] < end and night["enddate"] > start
        ),
        _SLEEP_MODEL_MONITOR,
    )
    return {"series": [_select(s, keep, SLEEP_SERIES_FIELDS) for s in segments], "model": model}


def getintradayactivity(call: DataCall, params: Mapping[str, str]) -> dict[str, Any]:
    """Intraday samples keyed by epoch string, at most 24 h (the latest day without dates)."""
    keep = _data_fields(params, INTRADAY_FIELDS)
    start, end = _window_24h(params, call.now, required=False)
    samples = call.world.intraday(call.user, start, end)
    series: dict[str, Record] = {}
    for at, sample in samples.items():
        if keep is None:
            series[at] = sample
        elif keep.intersection(sample):
            series[at] = _select(sample, keep, INTRADAY_FIELDS)
    return {"series": series}


def heart_list(call: DataCall, params: Mapping[str, str]) -> dict[str, Any]:
    """ECG recordings by `timestamp` window; paged with a bool `more`."""
    start = int_param(params, "startdate")
    end = int_param(params, "enddate")
    rows = [
        row
        for row in call.user.heart
        if (start is None or row["timestamp"] >= start) and (end is None or row["timestamp"] <= end)
    ]
    page, more, offset = _page(rows, params, call.settings.v2_page_size)
    return {"series": page, "more": more, "offset": offset}


def heart_get(call: DataCall, params: Mapping[str, str]) -> dict[str, Any]:
    """One ECG's signal (µV), sampling frequency, wear position, model and heart rate."""
    signalid = required_int(params, "signalid")
    try:
        return call.world.ecg_signal(call.user, signalid)
    except LookupError:
        raise invalid_params(f"no ECG with signalid {signalid}") from None


def getdevice(call: DataCall, params: Mapping[str, str]) -> dict[str, Any]:
    """The user's devices."""
    return {"devices": call.user.devices}


def getgoals(call: DataCall, params: Mapping[str, str]) -> dict[str, Any]:
    """The user's goals; Withings sends an empty list, not an object, when there are none."""
    return {"goals": call.user.goals or []}


# (path, action) → (scope the token needs, handler). getdevice/getgoals need no particular scope.
DATA_ACTIONS: Final[dict[tuple[str, str], tuple[Scope | None, Handler]]] = {
    ("/measure", "getmeas"): (Scope.METRICS, getmeas),
    ("/v2/measure", "getactivity"): (Scope.ACTIVITY, getactivity),
    ("/v2/measure", "getintradayactivity"): (Scope.ACTIVITY, getintradayactivity),
    ("/v2/measure", "getworkouts"): (Scope.ACTIVITY, getworkouts),
    ("/v2/sleep", "get"): (Scope.ACTIVITY, sleep_get),
    ("/v2/sleep", "getsummary"): (Scope.ACTIVITY, sleep_getsummary),
    ("/v2/heart", "list"): (Scope.METRICS, heart_list),
    ("/v2/heart", "get"): (Scope.METRICS, heart_get),
    ("/v2/user", "getdevice"): (None, getdevice),
    ("/v2/user", "getgoals"): (None, getgoals),
}
