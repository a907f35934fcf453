"""Typed views of Withings response bodies (pure: no I/O).

One `parse_*` function per endpoint takes the `body` of a successful envelope (see
`errors.unwrap`) and returns slotted dataclass records. The rules:

* Field names stay Withings' own (`hr_average`, `deepsleepduration`, `startdate`); epoch fields are
  unix seconds as Withings sent them, `YYYY-MM-DD` fields become `datetime.date`.
* Every record keeps the dict it was read from, unchanged and uncopied, in `raw`: ROOK documents
  carry it in `non_structured_data_array`. Parsing never mutates its input.
* Records are read-only views: treat them (and `raw`) as immutable. They are not frozen because a
  frozen dataclass's `__init__` made parsing the captured fixtures about 1.5 times slower.
* Tolerant where real Withings differs from its spec (research §8, fixtures README): `modelid` or
  `model_id`, an integer or string `userid`, an integer or string `updatetime`, `more` as 0/1 or a
  bool, sleep `get` series as an array, the empty array PHP writes for an empty object
  (`"goals": []`), nulls for manually entered data, unknown keys ignored, fields Withings leaves
  out when they were not requested.
* Strict where it matters: a wrong type, a missing id or a body without its records array
  (`measuregrps`, `activities`, `series`: another endpoint's response) raises
  `WithingsMalformedResponse` with one line naming the endpoint and the field
  (`body.measuregrps[3].grpid: expected an integer, got str`). Values never appear in that
  message: they may be health data.
* Unknown codes (meastype, attrib, sleep state, appli, scope) become the UNKNOWN member of the
  tables in `codes`, logged once there.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from operator import attrgetter
from typing import Any, Final, TypeGuard, TypeVar

from rookery.withings import codes
from rookery.withings.codes import Appli, MeasureAttrib, MeasureType, Scope, SleepState
from rookery.withings.errors import WithingsMalformedResponse

__all__ = [
    "DATA_FIELDS",
    "ActivityDay",
    "ActivityPage",
    "BloodPressure",
    "Device",
    "Ecg",
    "Endpoint",
    "EndpointResponse",
    "Goals",
    "HeartPage",
    "HeartRecord",
    "IntradayActivity",
    "IntradaySample",
    "Measure",
    "MeasureGroup",
    "MeasureGroupsPage",
    "NotifyProfile",
    "Sample",
    "ScaledValue",
    "SleepSegment",
    "SleepSeries",
    "SleepSummaryData",
    "SleepSummaryPage",
    "SleepSummaryRow",
    "TokenSet",
    "Workout",
    "WorkoutData",
    "WorkoutsPage",
    "parse_endpoint",
    "parse_getactivity",
    "parse_getdevice",
    "parse_getgoals",
    "parse_getintradayactivity",
    "parse_getmeas",
    "parse_getnonce",
    "parse_getworkouts",
    "parse_heart_list",
    "parse_notify_get",
    "parse_notify_list",
    "parse_sleep_get",
    "parse_sleep_getsummary",
    "parse_token",
]

Raw = Mapping[str, Any]
T = TypeVar("T")


class Endpoint(StrEnum):
    """The seven endpoints whose responses become ROOK documents, by their CLI names."""

    GETMEAS = "measure/getmeas"
    GETACTIVITY = "v2/measure/getactivity"
    GETWORKOUTS = "v2/measure/getworkouts"
    SLEEP_GETSUMMARY = "v2/sleep/getsummary"
    GETINTRADAYACTIVITY = "v2/measure/getintradayactivity"
    SLEEP_GET = "v2/sleep/get"
    HEART_LIST = "v2/heart/list"

    @property
    def service(self) -> str:
        """The service path, as `errors.unwrap` and the client name it (`/v2/sleep`)."""
        return "/" + self.value.rpartition("/")[0]

    @property
    def action(self) -> str:
        """The `action` parameter (`getsummary`)."""
        return self.value.rpartition("/")[2]


# The `data_fields` each endpoint accepts (research §3) that its record below holds: what the client
# asks for by default, since Withings returns only what is asked for.
DATA_FIELDS: Final[Mapping[Endpoint, tuple[str, ...]]] = {
    Endpoint.GETACTIVITY: (
        "steps", "distance", "elevation", "soft", "moderate", "intense", "active", "calories",
        "totalcalories", "hr_average", "hr_min", "hr_max", "hr_zone_0", "hr_zone_1", "hr_zone_2",
        "hr_zone_3",
    ),
    Endpoint.GETWORKOUTS: (
        "calories", "intensity", "manual_intensity", "manual_distance", "manual_calories",
        "hr_average", "hr_min", "hr_max", "hr_zone_0", "hr_zone_1", "hr_zone_2", "hr_zone_3",
        "pause_duration", "algo_pause_duration", "spo2_average", "core_body_temperature_avg",
        "core_body_temperature_min", "core_body_temperature_max", "steps", "distance",
        "elevation", "pool_laps", "strokes", "pool_length",
    ),
    Endpoint.SLEEP_GETSUMMARY: (
        "total_timeinbed", "total_sleep_time", "asleepduration", "lightsleepduration",
        "remsleepduration", "deepsleepduration", "sleep_efficiency", "sleep_latency",
        "wakeup_latency", "wakeupduration", "wakeupcount", "waso", "nb_rem_episodes",
        "breathing_disturbances_intensity", "apnea_hypopnea_index", "withings_index",
        "durationtosleep", "durationtowakeup", "out_of_bed_count", "hr_average", "hr_min",
        "hr_max", "rr_average", "rr_min", "rr_max", "breathing_quality_assessment", "snoring",
        "snoringepisodecount", "sleep_score", "night_events", "mvt_score_avg",
        "mvt_active_duration", "rmssd_start_avg", "rmssd_end_avg",
        "chest_movement_rate_wellness_average", "chest_movement_rate_wellness_min",
        "chest_movement_rate_wellness_max", "breathing_sounds", "breathing_sounds_episode_count",
        "chest_movement_rate_average", "chest_movement_rate_min", "chest_movement_rate_max",
        "core_body_temperature_min", "core_body_temperature_max", "core_body_temperature_avg",
    ),
    Endpoint.GETINTRADAYACTIVITY: (
        "steps", "elevation", "calories", "distance", "stroke", "pool_lap", "duration",
        "heart_rate", "spo2_auto", "rmssd", "sdnn1", "hrv_quality", "rr", "chest_movement_rate",
        "core_body_temperature",
    ),
    Endpoint.SLEEP_GET: (
        "hr", "rr", "snoring", "sdnn_1", "rmssd", "hrv_quality", "mvt_score",
        "chest_movement_rate", "withings_index", "breathing_sounds",
    ),
}  # fmt: skip


def _field_names(names: Iterable[str]) -> Mapping[str, str]:
    """Each field name to itself, interned: see `_numbers`."""
    return {sys.intern(name): sys.intern(name) for name in names}


# The numeric fields of the wide records, read in one pass (see `_numbers`).
_ACTIVITY_NUMBERS: Final = _field_names(DATA_FIELDS[Endpoint.GETACTIVITY])
_INTRADAY_NUMBERS: Final = _field_names(DATA_FIELDS[Endpoint.GETINTRADAYACTIVITY])
_WORKOUT_NUMBERS: Final = _field_names(DATA_FIELDS[Endpoint.GETWORKOUTS])
_SLEEP_SUMMARY_NUMBERS: Final = _field_names(
    name for name in DATA_FIELDS[Endpoint.SLEEP_GETSUMMARY] if name != "night_events"
)


# ---------------------------------------------------------------------------------------------
# Records


@dataclass(slots=True)
class Measure:
    """One value of a measure group; the real value is `value × 10^unit`."""

    type: MeasureType
    value: int
    unit: int
    position: int | None
    raw: Raw = field(repr=False)

    @property
    def real_value(self) -> Decimal:
        """`value × 10^unit`, exactly (75232, -3 → Decimal("75.232"))."""
        return Decimal(self.value).scaleb(self.unit)


@dataclass(slots=True)
class MeasureGroup:
    """One getmeas measure group: the measures one device (or the user) took at `date`."""

    grpid: int
    attrib: MeasureAttrib
    date: int
    created: int | None
    modified: int | None
    category: int
    deviceid: str | None
    hash_deviceid: str | None
    model: str | None
    modelid: int | None
    measures: tuple[Measure, ...]
    raw: Raw = field(repr=False)


@dataclass(slots=True)
class MeasureGroupsPage:
    """A getmeas body. `timezone` is the user's zone, the one every group's dates are read in."""

    updatetime: int | None
    timezone: str | None
    more: bool
    offset: int
    measuregrps: tuple[MeasureGroup, ...]
    raw: Raw = field(repr=False)


@dataclass(slots=True, kw_only=True)
class ActivityDay:
    """One getactivity row: a local day's activity from one source."""

    date: dt.date
    timezone: str
    deviceid: str | None
    hash_deviceid: str | None
    brand: int | None
    is_tracker: bool | None
    modified: int | None
    model: str | None
    modelid: int | None
    steps: float | None = None
    distance: float | None = None
    elevation: float | None = None
    soft: float | None = None
    moderate: float | None = None
    intense: float | None = None
    active: float | None = None
    calories: float | None = None
    totalcalories: float | None = None
    hr_average: float | None = None
    hr_min: float | None = None
    hr_max: float | None = None
    hr_zone_0: float | None = None
    hr_zone_1: float | None = None
    hr_zone_2: float | None = None
    hr_zone_3: float | None = None
    raw: Raw = field(repr=False)


@dataclass(slots=True)
class ActivityPage:
    """A getactivity body."""

    activities: tuple[ActivityDay, ...]
    more: bool
    offset: int
    raw: Raw = field(repr=False)


@dataclass(slots=True, kw_only=True)
class IntradaySample:
    """One getintradayactivity sample, starting at `timestamp` and lasting `duration` seconds."""

    timestamp: int
    deviceid: str | None
    model: str | None
    model_id: int | None
    steps: float | None = None
    elevation: float | None = None
    calories: float | None = None
    distance: float | None = None
    stroke: float | None = None
    pool_lap: float | None = None
    duration: float | None = None
    heart_rate: float | None = None
    spo2_auto: float | None = None
    rmssd: float | None = None
    sdnn1: float | None = None
    hrv_quality: float | None = None
    rr: float | None = None
    chest_movement_rate: float | None = None
    core_body_temperature: float | None = None
    raw: Raw = field(repr=False)


@dataclass(slots=True)
class IntradayActivity:
    """A getintradayactivity body: its samples in time order."""

    series: tuple[IntradaySample, ...]
    raw: Raw = field(repr=False)


@dataclass(slots=True, kw_only=True)
class WorkoutData:
    """A workout's `data`; Withings returns only the requested fields, so each may be None."""

    calories: float | None = None
    intensity: float | None = None
    manual_intensity: float | None = None
    manual_distance: float | None = None
    manual_calories: float | None = None
    hr_average: float | None = None
    hr_min: float | None = None
    hr_max: float | None = None
    hr_zone_0: float | None = None
    hr_zone_1: float | None = None
    hr_zone_2: float | None = None
    hr_zone_3: float | None = None
    pause_duration: float | None = None
    algo_pause_duration: float | None = None
    spo2_average: float | None = None
    core_body_temperature_avg: float | None = None
    core_body_temperature_min: float | None = None
    core_body_temperature_max: float | None = None
    steps: float | None = None
    distance: float | None = None
    elevation: float | None = None
    pool_laps: float | None = None
    strokes: float | None = None
    pool_length: float | None = None


@dataclass(slots=True)
class Workout:
    """One getworkouts row. `category` is the workout code (`codes.workout_name` names it)."""

    id: int
    category: int
    timezone: str
    model: int | None
    attrib: int | None
    startdate: int
    enddate: int
    date: dt.date | None
    modified: int | None
    deviceid: str | None
    data: WorkoutData
    raw: Raw = field(repr=False)


@dataclass(slots=True)
class WorkoutsPage:
    """A getworkouts body."""

    series: tuple[Workout, ...]
    more: bool
    offset: int
    raw: Raw = field(repr=False)


@dataclass(slots=True)
class Sample:
    """One point of a time series keyed by epoch second (`{"1699999200": 64}`)."""

    timestamp: int
    value: float


@dataclass(slots=True)
class SleepSegment:
    """One sleep `get` segment: a state from `startdate` to `enddate`, with per-minute series.

    Each series is in time order and empty when Withings did not return it (it returns only the
    `data_fields` asked for).
    """

    startdate: int
    enddate: int
    state: SleepState
    model: str | None
    model_id: int | None
    hash_deviceid: str | None
    hr: tuple[Sample, ...]
    rr: tuple[Sample, ...]
    snoring: tuple[Sample, ...]
    sdnn_1: tuple[Sample, ...]
    rmssd: tuple[Sample, ...]
    hrv_quality: tuple[Sample, ...]
    mvt_score: tuple[Sample, ...]
    chest_movement_rate: tuple[Sample, ...]
    withings_index: tuple[Sample, ...]
    breathing_sounds: tuple[Sample, ...]
    raw: Raw = field(repr=False)


@dataclass(slots=True)
class SleepSeries:
    """A sleep `get` body; `model` is 16 (activity tracker) or 32 (sleep monitor)."""

    model: int | None
    series: tuple[SleepSegment, ...]
    raw: Raw = field(repr=False)


@dataclass(slots=True, kw_only=True)
class SleepSummaryData:
    """A sleep summary's `data`: durations in seconds, `sleep_efficiency` a ratio 0–1.

    Every field is optional: Withings returns a default subset unless `data_fields` asks for more.
    `night_events` maps an event type (1 in bed, 2 asleep, 3 awake, 4 out of bed, 5 and 6 manual)
    to offsets in seconds from the summary's `startdate`.
    """

    total_timeinbed: float | None = None
    total_sleep_time: float | None = None
    asleepduration: float | None = None
    lightsleepduration: float | None = None
    remsleepduration: float | None = None
    deepsleepduration: float | None = None
    sleep_efficiency: float | None = None
    sleep_latency: float | None = None
    wakeup_latency: float | None = None
    wakeupduration: float | None = None
    wakeupcount: float | None = None
    waso: float | None = None
    nb_rem_episodes: float | None = None
    breathing_disturbances_intensity: float | None = None
    apnea_hypopnea_index: float | None = None
    withings_index: float | None = None
    durationtosleep: float | None = None
    durationtowakeup: float | None = None
    out_of_bed_count: float | None = None
    hr_average: float | None = None
    hr_min: float | None = None
    hr_max: float | None = None
    rr_average: float | None = None
    rr_min: float | None = None
    rr_max: float | None = None
    breathing_quality_assessment: float | None = None
    snoring: float | None = None
    snoringepisodecount: float | None = None
    sleep_score: float | None = None
    mvt_score_avg: float | None = None
    mvt_active_duration: float | None = None
    rmssd_start_avg: float | None = None
    rmssd_end_avg: float | None = None
    chest_movement_rate_wellness_average: float | None = None
    chest_movement_rate_wellness_min: float | None = None
    chest_movement_rate_wellness_max: float | None = None
    breathing_sounds: float | None = None
    breathing_sounds_episode_count: float | None = None
    chest_movement_rate_average: float | None = None
    chest_movement_rate_min: float | None = None
    chest_movement_rate_max: float | None = None
    core_body_temperature_min: float | None = None
    core_body_temperature_max: float | None = None
    core_body_temperature_avg: float | None = None
    night_events: Mapping[int, tuple[int, ...]] | None = None


@dataclass(slots=True)
class SleepSummaryRow:
    """One sleep getsummary row: a night (or nap) from `startdate` to `enddate`."""

    id: int
    timezone: str
    model: int | None
    model_id: int | None
    hash_deviceid: str | None
    startdate: int
    enddate: int
    date: dt.date
    created: int | None
    modified: int | None
    completed: bool | None
    data: SleepSummaryData
    raw: Raw = field(repr=False)


@dataclass(slots=True)
class SleepSummaryPage:
    """A sleep getsummary body."""

    series: tuple[SleepSummaryRow, ...]
    more: bool
    offset: int
    raw: Raw = field(repr=False)


@dataclass(slots=True)
class Ecg:
    """An ECG recording's id and its AFib classification (0 negative, 1 positive, 2 unclear)."""

    signalid: int | None
    afib: int | None


@dataclass(slots=True)
class BloodPressure:
    """The blood pressure a BPM Core took with its ECG, in mmHg."""

    diastole: float | None
    systole: float | None


@dataclass(slots=True)
class HeartRecord:
    """One heart `list` row: an ECG (and, from a BPM Core, a blood pressure) at `timestamp`."""

    deviceid: str | None
    model: int | None
    ecg: Ecg | None
    bloodpressure: BloodPressure | None
    heart_rate: float | None
    timestamp: int
    modified: int | None
    raw: Raw = field(repr=False)


@dataclass(slots=True)
class HeartPage:
    """A heart `list` body."""

    series: tuple[HeartRecord, ...]
    more: bool
    offset: int
    raw: Raw = field(repr=False)


@dataclass(slots=True)
class Device:
    """One getdevice row. `model` may be "" (Sleep Analyzer); `battery` high/medium/low/unknown."""

    type: str | None
    battery: str | None
    model: str | None
    model_id: int | None
    deviceid: str
    hash_deviceid: str | None
    timezone: str | None
    first_session_date: int | None
    last_session_date: int | None
    raw: Raw = field(repr=False)


@dataclass(slots=True)
class ScaledValue:
    """A `{value, unit}` pair outside a measure group (the weight goal)."""

    value: int
    unit: int

    @property
    def real_value(self) -> Decimal:
        """`value × 10^unit`, exactly."""
        return Decimal(self.value).scaleb(self.unit)


@dataclass(slots=True)
class Goals:
    """The user's goals: daily steps, nightly sleep in seconds, weight; each may be unset."""

    steps: int | None
    sleep: int | None
    weight: ScaledValue | None
    raw: Raw = field(repr=False)


@dataclass(slots=True)
class NotifyProfile:
    """One notification subscription of a user. `expires` is absent from the spec, not the data."""

    appli: Appli
    callbackurl: str
    expires: int | None
    comment: str | None
    raw: Raw = field(repr=False)


@dataclass(slots=True)
class TokenSet:
    """A token endpoint answer. The tokens stay out of `repr`; there is no `raw` on purpose."""

    userid: str
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_in: int
    scope: frozenset[Scope]
    token_type: str


EndpointResponse = (
    MeasureGroupsPage
    | ActivityPage
    | WorkoutsPage
    | SleepSummaryPage
    | IntradayActivity
    | SleepSeries
    | HeartPage
)


# ---------------------------------------------------------------------------------------------
# Field readers. They raise `_FieldError`, which carries the path to the field; each level of
# nesting prepends its key or index on the way out, so the success path pays no bookkeeping.


class _FieldError(Exception):
    def __init__(self, problem: str, *path: object) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path: list[object] = list(path)

    def render(self) -> str:
        return "body" + "".join(map(_path_part, self.path)) + f": {self.problem}"


_PLAIN_KEY: Final = re.compile(r"[A-Za-z0-9_]{1,64}")


def _path_part(part: object) -> str:
    if type(part) is int:
        return f"[{part}]"
    if type(part) is str and _PLAIN_KEY.fullmatch(part):
        return f".{part}"
    # A key that came from the payload may hold anything, newlines included: keep the line one.
    return f"[{str(part)[:32]!r}]"


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _expected(what: str, value: object, key: object) -> _FieldError:
    return _FieldError(f"expected {what}, got {_kind(value)}", key)


def _missing(d: Raw, key: str) -> _FieldError:
    return _FieldError("is missing" if key not in d else "is null", key)


def _int(d: Raw, key: str) -> int:
    value = d.get(key)
    if type(value) is int:
        return value
    if value is None:
        raise _missing(d, key)
    raise _expected("an integer", value, key)


def _opt_int(d: Raw, key: str) -> int | None:
    value = d.get(key)
    if value is None or type(value) is int:
        return value
    raise _expected("an integer", value, key)


def _opt_num(d: Raw, key: str) -> float | None:
    value = d.get(key)
    # `type() is` rather than isinstance: a JSON true is not the number 1.
    if value is None or type(value) is int or type(value) is float:
        return value
    raise _expected("a number", value, key)


def _numbers(d: Raw, names: Mapping[str, str]) -> dict[str, Any]:
    """The optional numeric fields among `names` that `d` has, checked in one pass over `d`.

    One pass over the keys present is several times faster than one lookup per known field, and
    wide records (44 sleep summary fields) are most of the parse time. The result's keys are the
    interned field names from `names`, not the decoded JSON's keys: Python matches keyword
    arguments to parameters by identity first, so `Record(**found)` with the JSON's own strings
    costs a string comparison per parameter tried, four times the whole construction.
    """
    found: dict[str, Any] = {}
    for key, value in d.items():
        name = names.get(key)
        if name is not None:
            if value is not None and type(value) is not int and type(value) is not float:
                raise _expected("a number", value, key)
            found[name] = value
    return found


def _str(d: Raw, key: str) -> str:
    value = d.get(key)
    if type(value) is str:
        return value
    if value is None:
        raise _missing(d, key)
    raise _expected("a string", value, key)


def _opt_str(d: Raw, key: str) -> str | None:
    value = d.get(key)
    if value is None or type(value) is str:
        return value
    raise _expected("a string", value, key)


def _opt_bool(d: Raw, key: str) -> bool | None:
    value = d.get(key)
    if value is None or type(value) is bool:
        return value
    raise _expected("a boolean", value, key)


def _opt_id(d: Raw, key: str) -> str | None:
    """A device id: a hex string in practice, an integer in one documented example."""
    value = d.get(key)
    if value is None or type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    raise _expected("a string or an integer", value, key)


def _int_or_digits(d: Raw, key: str) -> int | None:
    """An epoch the spec types as a string and real responses send as an integer."""
    value = d.get(key)
    if value is None or type(value) is int:
        return value
    if _is_epoch_text(value):
        return int(value)
    raise _expected("an integer", value, key)


def _model_id(d: Raw) -> int | None:
    """`modelid` or `model_id`: Withings spells it both ways, the spec and the data disagree."""
    if "modelid" in d:
        return _opt_int(d, "modelid")
    return _opt_int(d, "model_id")


def _ymd(d: Raw, key: str) -> dt.date:
    value = d.get(key)
    if value is None:
        raise _missing(d, key)
    return _parse_ymd(value, key)


def _opt_ymd(d: Raw, key: str) -> dt.date | None:
    value = d.get(key)
    return None if value is None else _parse_ymd(value, key)


def _parse_ymd(value: object, key: str) -> dt.date:
    if type(value) is str and len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise _expected("a YYYY-MM-DD date", value, key)


def _more(d: Raw) -> bool:
    """`more`: an integer 0/1 in getmeas, a boolean in the v2 services; absent means no more."""
    value = d.get("more")
    if value is None or value is False or value == 0:
        return False
    if value is True or value == 1:
        return True
    raise _expected("0, 1 or a boolean", value, "more")


def _offset(d: Raw) -> int:
    value = d.get("offset")
    if value is None:
        return 0
    if type(value) is int and value >= 0:
        return value
    raise _expected("a non-negative integer", value, "offset")


def _as_obj(value: object, *path: object) -> Raw:
    # Decoded JSON objects are dicts: the exact check spares the ABC check in the common case.
    if type(value) is dict or isinstance(value, Mapping):
        return value
    raise _FieldError(f"expected an object, got {_kind(value)}", *path)


def _obj(d: Raw, key: str) -> Raw:
    """A nested object; PHP encodes an empty one as `[]`, and absent or null reads as empty."""
    value = d.get(key)
    if value is None or value == []:
        return _EMPTY
    return _as_obj(value, key)


def _opt_obj(d: Raw, key: str) -> Raw | None:
    value = d.get(key)
    if value is None or value == []:
        return None
    return _as_obj(value, key)


def _records(d: Raw, key: str, read: Callable[[Raw], T]) -> tuple[T, ...]:
    """The records array of a response body: like `_items`, but a body with other keys and not
    this one is refused.

    Withings writes the array (`[]` when there is nothing), so such a body is another endpoint's
    response. An empty body still reads as no records: what Withings answers for an empty window
    is not documented for every endpoint, and a quiet day must not fail a job.
    """
    if d and key not in d:
        raise _missing(d, key)
    return _items(d, key, read)


def _items(d: Raw, key: str, read: Callable[[Raw], T]) -> tuple[T, ...]:
    """The array under `key` (absent or null: empty), each element an object read by `read`."""
    value = d.get(key)
    if value is None:
        return ()
    if type(value) is not list:
        raise _expected("an array", value, key)
    return _read_each(value, read, key)


def _read_each(values: list[Any], read: Callable[[Raw], T], key: str) -> tuple[T, ...]:
    out: list[T] = []
    for index, item in enumerate(values):
        try:
            out.append(read(_as_obj(item)))
        except _FieldError as bad:
            bad.path[:0] = (key, index)
            raise
    return tuple(out)


def _nested(key: str, read: Callable[[Raw], T], d: Raw) -> T:
    try:
        return read(d)
    except _FieldError as bad:
        bad.path.insert(0, key)
        raise


def _is_epoch_text(text: object) -> TypeGuard[str]:
    # Bounded length: epochs have 10 digits, and int() refuses strings of thousands of digits.
    return type(text) is str and 0 < len(text) <= 15 and text.isascii() and text.isdigit()


def _epoch_key(key: object) -> int:
    if _is_epoch_text(key):
        return int(key)
    raise _FieldError("expected epoch-second keys")


def _samples(d: Raw, key: str) -> tuple[Sample, ...]:
    """A `{"<epoch>": value}` series in time order; absent, null or `[]` is empty."""
    series = _opt_obj(d, key)
    if not series:
        return ()
    try:
        samples: list[Sample] = []
        for stamp, value in series.items():
            if type(value) is not int and type(value) is not float:
                raise _expected("a number", value, stamp)
            samples.append(Sample(_epoch_key(stamp), value))
    except _FieldError as bad:
        bad.path.insert(0, key)
        raise
    samples.sort(key=_by_timestamp)
    return tuple(samples)


_EMPTY: Final[Raw] = {}
# Every captured unit is between -3 and 0. Far beyond that, `value × 10^unit` leaves what Decimal's
# context can scale (an exponent of 10^8 raises) and what a float can hold.
_MAX_UNIT: Final = 30
_by_timestamp: Final = attrgetter("timestamp")


# ---------------------------------------------------------------------------------------------
# Record readers


def _measure(d: Raw) -> Measure:
    type_ = codes.measure_type(_int(d, "type"))
    value = _int(d, "value")
    unit = _int(d, "unit")
    if not -_MAX_UNIT <= unit <= _MAX_UNIT:
        raise _FieldError(f"expected an exponent from -{_MAX_UNIT} to {_MAX_UNIT}", "unit")
    return Measure(
        type=type_,
        value=value,
        unit=unit,
        position=_opt_int(d, "position"),
        raw=d,
    )


def _measure_group(d: Raw) -> MeasureGroup:
    return MeasureGroup(
        grpid=_int(d, "grpid"),
        attrib=codes.measure_attrib(_int(d, "attrib")),
        date=_int(d, "date"),
        created=_opt_int(d, "created"),
        modified=_opt_int(d, "modified"),
        category=_int(d, "category"),
        deviceid=_opt_id(d, "deviceid"),
        hash_deviceid=_opt_id(d, "hash_deviceid"),
        model=_opt_str(d, "model"),
        modelid=_model_id(d),
        measures=_items(d, "measures", _measure),
        raw=d,
    )


def _getmeas(d: Raw) -> MeasureGroupsPage:
    return MeasureGroupsPage(
        updatetime=_int_or_digits(d, "updatetime"),
        timezone=_opt_str(d, "timezone"),
        more=_more(d),
        offset=_offset(d),
        measuregrps=_records(d, "measuregrps", _measure_group),
        raw=d,
    )


def _activity_day(d: Raw) -> ActivityDay:
    return ActivityDay(
        date=_ymd(d, "date"),
        timezone=_str(d, "timezone"),
        deviceid=_opt_id(d, "deviceid"),
        hash_deviceid=_opt_id(d, "hash_deviceid"),
        brand=_opt_int(d, "brand"),
        is_tracker=_opt_bool(d, "is_tracker"),
        modified=_opt_int(d, "modified"),
        model=_opt_str(d, "model"),
        modelid=_model_id(d),
        raw=d,
        **_numbers(d, _ACTIVITY_NUMBERS),
    )


def _getactivity(d: Raw) -> ActivityPage:
    return ActivityPage(
        activities=_records(d, "activities", _activity_day),
        more=_more(d),
        offset=_offset(d),
        raw=d,
    )


def _intraday_sample(timestamp: int, d: Raw) -> IntradaySample:
    return IntradaySample(
        timestamp=timestamp,
        deviceid=_opt_id(d, "deviceid"),
        model=_opt_str(d, "model"),
        model_id=_model_id(d),
        raw=d,
        **_numbers(d, _INTRADAY_NUMBERS),
    )


def _getintradayactivity(d: Raw) -> IntradayActivity:
    if d and "series" not in d:  # another endpoint's body: see `_records`
        raise _missing(d, "series")
    series = _obj(d, "series") if d else _EMPTY
    samples: list[IntradaySample] = []
    for stamp, item in series.items():
        try:
            samples.append(_intraday_sample(_epoch_key(stamp), _as_obj(item)))
        except _FieldError as bad:
            bad.path[:0] = ("series", stamp)
            raise
    samples.sort(key=_by_timestamp)
    return IntradayActivity(series=tuple(samples), raw=d)


def _workout_data(d: Raw) -> WorkoutData:
    return WorkoutData(**_numbers(d, _WORKOUT_NUMBERS))


def _workout(d: Raw) -> Workout:
    return Workout(
        id=_int(d, "id"),
        category=_int(d, "category"),
        timezone=_str(d, "timezone"),
        model=_opt_int(d, "model"),
        attrib=_opt_int(d, "attrib"),
        startdate=_int(d, "startdate"),
        enddate=_int(d, "enddate"),
        date=_opt_ymd(d, "date"),
        modified=_opt_int(d, "modified"),
        deviceid=_opt_id(d, "deviceid"),
        data=_nested("data", _workout_data, _obj(d, "data")),
        raw=d,
    )


def _getworkouts(d: Raw) -> WorkoutsPage:
    return WorkoutsPage(
        series=_records(d, "series", _workout), more=_more(d), offset=_offset(d), raw=d
    )


def _sleep_segment(d: Raw) -> SleepSegment:
    return SleepSegment(
        startdate=_int(d, "startdate"),
        enddate=_int(d, "enddate"),
        state=codes.sleep_state(_int(d, "state")),
        model=_opt_str(d, "model"),
        model_id=_model_id(d),
        hash_deviceid=_opt_id(d, "hash_deviceid"),
        hr=_samples(d, "hr"),
        rr=_samples(d, "rr"),
        snoring=_samples(d, "snoring"),
        sdnn_1=_samples(d, "sdnn_1"),
        rmssd=_samples(d, "rmssd"),
        hrv_quality=_samples(d, "hrv_quality"),
        mvt_score=_samples(d, "mvt_score"),
        chest_movement_rate=_samples(d, "chest_movement_rate"),
        withings_index=_samples(d, "withings_index"),
        breathing_sounds=_samples(d, "breathing_sounds"),
        raw=d,
    )


def _sleep_get(d: Raw) -> SleepSeries:
    return SleepSeries(
        model=_opt_int(d, "model"), series=_records(d, "series", _sleep_segment), raw=d
    )


def _night_events(d: Raw) -> Mapping[int, tuple[int, ...]] | None:
    events = _opt_obj(d, "night_events")
    if events is None:
        return None
    out: dict[int, tuple[int, ...]] = {}
    try:
        for event_type, offsets in events.items():
            if type(offsets) is not list or any(type(offset) is not int for offset in offsets):
                raise _expected("an array of integers", offsets, event_type)
            out[_epoch_key(event_type)] = tuple(offsets)
    except _FieldError as bad:
        bad.path.insert(0, "night_events")
        raise
    return out


def _sleep_summary_data(d: Raw) -> SleepSummaryData:
    return SleepSummaryData(night_events=_night_events(d), **_numbers(d, _SLEEP_SUMMARY_NUMBERS))


def _sleep_summary_row(d: Raw) -> SleepSummaryRow:
    if "category" in d:
        # Workouts have the same id, zone, dates and data as a night; only a workout has a
        # category, so this row comes from a getworkouts response.
        raise _FieldError("is a workout's field, not a night's", "category")
    return SleepSummaryRow(
        id=_int(d, "id"),
        timezone=_str(d, "timezone"),
        model=_opt_int(d, "model"),
        model_id=_model_id(d),
        hash_deviceid=_opt_id(d, "hash_deviceid"),
        startdate=_int(d, "startdate"),
        enddate=_int(d, "enddate"),
        date=_ymd(d, "date"),
        created=_opt_int(d, "created"),
        modified=_opt_int(d, "modified"),
        completed=_opt_bool(d, "completed"),
        data=_nested("data", _sleep_summary_data, _obj(d, "data")),
        raw=d,
    )


def _sleep_getsummary(d: Raw) -> SleepSummaryPage:
    return SleepSummaryPage(
        series=_records(d, "series", _sleep_summary_row), more=_more(d), offset=_offset(d), raw=d
    )


def _ecg(d: Raw) -> Ecg:
    return Ecg(signalid=_opt_int(d, "signalid"), afib=_opt_int(d, "afib"))


def _blood_pressure(d: Raw) -> BloodPressure:
    return BloodPressure(diastole=_opt_num(d, "diastole"), systole=_opt_num(d, "systole"))


def _heart_record(d: Raw) -> HeartRecord:
    ecg = _opt_obj(d, "ecg")
    bloodpressure = _opt_obj(d, "bloodpressure")
    return HeartRecord(
        deviceid=_opt_id(d, "deviceid"),
        model=_opt_int(d, "model"),
        ecg=None if ecg is None else _nested("ecg", _ecg, ecg),
        bloodpressure=(
            None
            if bloodpressure is None
            else _nested("bloodpressure", _blood_pressure, bloodpressure)
        ),
        heart_rate=_opt_num(d, "heart_rate"),
        timestamp=_int(d, "timestamp"),
        modified=_opt_int(d, "modified"),
        raw=d,
    )


def _heart_list(d: Raw) -> HeartPage:
    return HeartPage(
        series=_records(d, "series", _heart_record), more=_more(d), offset=_offset(d), raw=d
    )


def _device(d: Raw) -> Device:
    return Device(
        type=_opt_str(d, "type"),
        battery=_opt_str(d, "battery"),
        model=_opt_str(d, "model"),
        model_id=_model_id(d),
        deviceid=_required_id(d, "deviceid"),
        hash_deviceid=_opt_id(d, "hash_deviceid"),
        timezone=_opt_str(d, "timezone"),
        first_session_date=_opt_int(d, "first_session_date"),
        last_session_date=_opt_int(d, "last_session_date"),
        raw=d,
    )


def _required_id(d: Raw, key: str) -> str:
    value = _opt_id(d, key)
    if value is None:
        raise _missing(d, key)
    return value


def _getdevice(d: Raw) -> tuple[Device, ...]:
    return _items(d, "devices", _device)


def _scaled_value(d: Raw) -> ScaledValue:
    return ScaledValue(value=_int(d, "value"), unit=_int(d, "unit"))


def _getgoals(d: Raw) -> Goals:
    goals = _obj(d, "goals")
    try:
        weight = _opt_obj(goals, "weight")
        return Goals(
            steps=_opt_int(goals, "steps"),
            sleep=_opt_int(goals, "sleep"),
            weight=None if weight is None else _nested("weight", _scaled_value, weight),
            raw=goals,
        )
    except _FieldError as bad:
        bad.path.insert(0, "goals")
        raise


def _notify_profile(d: Raw) -> NotifyProfile:
    return NotifyProfile(
        appli=codes.appli(_int(d, "appli")),
        callbackurl=_str(d, "callbackurl"),
        expires=_opt_int(d, "expires"),
        comment=_opt_str(d, "comment"),
        raw=d,
    )


def _notify_list(d: Raw) -> tuple[NotifyProfile, ...]:
    return _items(d, "profiles", _notify_profile)


def _token(d: Raw, fallback_refresh_token: str | None) -> TokenSet:
    userid = d.get("userid")
    if type(userid) is int:
        userid = str(userid)
    elif type(userid) is not str or not userid:
        raise _missing(d, "userid") if userid is None else _expected("an id", userid, "userid")
    refresh_token = _opt_str(d, "refresh_token") or fallback_refresh_token
    if refresh_token is None:
        raise _missing(d, "refresh_token")
    scope = _opt_str(d, "scope")
    return TokenSet(
        userid=userid,
        access_token=_str(d, "access_token"),
        refresh_token=refresh_token,
        expires_in=_int(d, "expires_in"),
        scope=frozenset() if scope is None else codes.parse_scopes(scope),
        token_type=_opt_str(d, "token_type") or "Bearer",
    )


def _getnonce(d: Raw) -> str:
    return _str(d, "nonce")


# ---------------------------------------------------------------------------------------------
# Public parse functions


def _run(name: str, read: Callable[[Raw], T], body: Raw) -> T:
    service, _, action = name.rpartition("/")
    try:
        return read(_as_obj(body))
    except _FieldError as bad:
        raise WithingsMalformedResponse(
            f"Withings {name}: {bad.render()}", service="/" + service, action=action
        ) from None


def parse_getmeas(body: Raw) -> MeasureGroupsPage:
    """Parse a `measure/getmeas` body."""
    return _run(Endpoint.GETMEAS, _getmeas, body)


def parse_getactivity(body: Raw) -> ActivityPage:
    """Parse a `v2/measure/getactivity` body."""
    return _run(Endpoint.GETACTIVITY, _getactivity, body)


def parse_getintradayactivity(body: Raw) -> IntradayActivity:
    """Parse a `v2/measure/getintradayactivity` body; samples come out in time order."""
    return _run(Endpoint.GETINTRADAYACTIVITY, _getintradayactivity, body)


def parse_getworkouts(body: Raw) -> WorkoutsPage:
    """Parse a `v2/measure/getworkouts` body."""
    return _run(Endpoint.GETWORKOUTS, _getworkouts, body)


def parse_sleep_get(body: Raw) -> SleepSeries:
    """Parse a `v2/sleep/get` body (its `series` is an array of segments)."""
    return _run(Endpoint.SLEEP_GET, _sleep_get, body)


def parse_sleep_getsummary(body: Raw) -> SleepSummaryPage:
    """Parse a `v2/sleep/getsummary` body."""
    return _run(Endpoint.SLEEP_GETSUMMARY, _sleep_getsummary, body)


def parse_heart_list(body: Raw) -> HeartPage:
    """Parse a `v2/heart/list` body."""
    return _run(Endpoint.HEART_LIST, _heart_list, body)


def parse_getdevice(body: Raw) -> tuple[Device, ...]:
    """Parse a `v2/user/getdevice` body into the user's devices."""
    return _run("v2/user/getdevice", _getdevice, body)


def parse_getgoals(body: Raw) -> Goals:
    """Parse a `v2/user/getgoals` body; `"goals": []` means no goals at all."""
    return _run("v2/user/getgoals", _getgoals, body)


def parse_notify_list(body: Raw) -> tuple[NotifyProfile, ...]:
    """Parse a `notify/list` body into the user's subscriptions."""
    return _run("notify/list", _notify_list, body)


def parse_notify_get(body: Raw) -> NotifyProfile:
    """Parse a `notify/get` body (one subscription)."""
    return _run("notify/get", _notify_profile, body)


def parse_token(body: Raw, *, fallback_refresh_token: str | None = None) -> TokenSet:
    """Parse a `v2/oauth2/requesttoken` body.

    `userid` may be an integer or a string and comes out as a string. When a refresh answer
    carries no new refresh token, `fallback_refresh_token` (the one just used) is kept; without a
    fallback a missing refresh token is malformed. An absent `scope` grants nothing.
    """
    return _run("v2/oauth2/requesttoken", lambda d: _token(d, fallback_refresh_token), body)


def parse_getnonce(body: Raw) -> str:
    """Parse a `v2/signature/getnonce` body into the nonce."""
    return _run("v2/signature/getnonce", _getnonce, body)


_PARSERS: Final[dict[Endpoint, Callable[[Raw], EndpointResponse]]] = {
    Endpoint.GETMEAS: parse_getmeas,
    Endpoint.GETACTIVITY: parse_getactivity,
    Endpoint.GETWORKOUTS: parse_getworkouts,
    Endpoint.SLEEP_GETSUMMARY: parse_sleep_getsummary,
    Endpoint.GETINTRADAYACTIVITY: parse_getintradayactivity,
    Endpoint.SLEEP_GET: parse_sleep_get,
    Endpoint.HEART_LIST: parse_heart_list,
}


def parse_endpoint(endpoint: Endpoint, body: Raw) -> EndpointResponse:
    """Parse the body of one of the seven transformable endpoints."""
    return _PARSERS[endpoint](body)
