"""Rules that hold for every well-formed Withings response (hypothesis)."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rookery.model.identity import fingerprint
from rookery.withings.responses import Endpoint
from tests.transform.support import as_json, ctx, run, structure

ZONES = [
    "UTC",
    "Europe/Paris",
    "Asia/Kathmandu",
    "America/St_Johns",
    "Pacific/Chatham",
    "America/Havana",
]
EPOCHS = st.integers(min_value=946_684_800, max_value=4_102_444_800)  # 2000 to 2100
# Withings' lifetime: before 1972 some zones had offsets in seconds (Paris +00:09:21 until 1911),
# which ROOK's ±HH:MM cannot write.
DATES = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)).map(date.isoformat)
MEASURE_TYPES = [1, 4, 5, 6, 8, 9, 10, 11, 12, 54, 71, 73, 76, 77, 88, 91, 123, 155, 9999]
NUMBER = st.one_of(
    st.none(),
    st.integers(min_value=0, max_value=200_000),
    st.floats(min_value=0, max_value=200_000, allow_nan=False, allow_infinity=False),
)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

measures = st.lists(
    st.fixed_dictionaries(
        {
            "value": st.integers(min_value=-1_000_000, max_value=10**9),
            "type": st.sampled_from(MEASURE_TYPES),
            "unit": st.integers(min_value=-6, max_value=2),
        },
        optional={"position": st.sampled_from([None, 2, 7, 12])},
    ),
    max_size=8,
)
groups = st.lists(
    st.fixed_dictionaries(
        {
            "grpid": st.integers(min_value=1, max_value=30),
            "attrib": st.sampled_from([0, 1, 2, 4, 5, 7, 8, 15, 17, 99]),
            "date": EPOCHS,
            "created": EPOCHS,
            "modified": EPOCHS,
            "category": st.sampled_from([1, 1, 1, 2]),
            "deviceid": st.none(),
            "hash_deviceid": st.none(),
            "modelid": st.none(),
            "model": st.none(),
            "measures": measures,
        }
    ),
    max_size=6,
)
getmeas = st.fixed_dictionaries(
    {"timezone": st.sampled_from(ZONES), "measuregrps": groups, "more": st.just(0)}
)
sleep_rows = st.lists(
    st.builds(
        lambda start, length, zone, day, data, id_: {
            "id": id_,
            "timezone": zone,
            "startdate": start,
            "enddate": start + length,
            "date": day,
            "data": data,
            "modified": start + length,
        },
        EPOCHS,
        st.integers(min_value=0, max_value=16 * 3600),
        st.sampled_from(ZONES),
        DATES,
        st.dictionaries(
            st.sampled_from(
                [
                    "total_timeinbed",
                    "total_sleep_time",
                    "asleepduration",
                    "lightsleepduration",
                    "deepsleepduration",
                    "remsleepduration",
                    "sleep_efficiency",
                    "sleep_latency",
                    "durationtosleep",
                    "waso",
                    "wakeupduration",
                    "hr_average",
                    "hr_min",
                    "hr_max",
                    "rr_average",
                    "rr_min",
                    "rr_max",
                    "snoring",
                    "snoringepisodecount",
                ]
            ),
            NUMBER,
        ),
        st.integers(min_value=1, max_value=10**10),
    ),
    max_size=5,
)
workout_rows = st.lists(
    st.builds(
        lambda id_, category, zone, start, length, data: {
            "id": id_,
            "category": category,
            "timezone": zone,
            "startdate": start,
            "enddate": start + length,
            "data": data,
        },
        st.integers(min_value=1, max_value=20),
        st.integers(min_value=0, max_value=600),
        st.sampled_from(ZONES),
        EPOCHS,
        st.integers(min_value=0, max_value=86_400),
        st.dictionaries(
            st.sampled_from(
                [
                    "calories",
                    "manual_distance",
                    "manual_calories",
                    "hr_average",
                    "hr_min",
                    "hr_max",
                    "pause_duration",
                    "algo_pause_duration",
                    "spo2_average",
                    "steps",
                    "distance",
                    "pool_laps",
                    "strokes",
                    "pool_length",
                ]
            ),
            NUMBER,
        ),
    ),
    max_size=5,
)
activity_rows = st.lists(
    st.builds(
        lambda day, zone, brand, modified, data: {
            "date": day,
            "timezone": zone,
            "brand": brand,
            "modified": modified,
            **data,
        },
        DATES,
        st.sampled_from(ZONES),
        st.sampled_from([None, 1, 18]),
        EPOCHS,
        st.dictionaries(
            st.sampled_from(
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
                ]
            ),
            NUMBER,
        ),
    ),
    max_size=5,
)


@SETTINGS
@given(getmeas)
def test_any_getmeas_body_gives_valid_documents(body: dict[str, Any]) -> None:
    run(Endpoint.GETMEAS, body)  # validates every document


@SETTINGS
@given(sleep_rows)
def test_any_sleep_summary_page_gives_valid_documents(rows: list[dict[str, Any]]) -> None:
    produced = run(Endpoint.SLEEP_GETSUMMARY, {"series": rows})
    assert len(produced) == len({row["date"] for row in rows})


@SETTINGS
@given(workout_rows)
def test_any_workouts_page_gives_valid_documents(rows: list[dict[str, Any]]) -> None:
    produced = run(Endpoint.GETWORKOUTS, {"series": rows})
    assert len(produced) == len({row["id"] for row in rows})


@SETTINGS
@given(activity_rows)
def test_any_activity_page_gives_one_summary_per_date(rows: list[dict[str, Any]]) -> None:
    produced = run(Endpoint.GETACTIVITY, {"activities": rows})
    assert len(produced) == len({row["date"] for row in rows})


@given(
    st.integers(min_value=1, max_value=10**9),
    st.integers(min_value=-6, max_value=2),
    st.sampled_from(ZONES),
)
def test_weight_is_value_times_ten_to_the_unit_exactly(value: int, unit: int, zone: str) -> None:
    weigh_in = {
        "grpid": 1,
        "attrib": 0,
        "date": 1_700_000_000,
        "category": 1,
        "measures": [{"value": value, "type": 1, "unit": unit}],
    }
    produced = run(Endpoint.GETMEAS, {"timezone": zone, "measuregrps": [weigh_in]})
    weight = structure(as_json(produced[0]))["body_metrics"]["weight_kg_float"]
    # The decimal text "value E unit" read once as a float: no intermediate float rounding.
    assert weight == float(Decimal(f"{value}E{unit}"))


# The meastypes whose field is the value itself: the scale (height is metres written as cm) and
# whether 0 means "nothing measured" (null), by meastype; composition percentages are tested by
# hand in test_measure.
DIRECT_FIELDS = {
    1: ("body_metrics_event", "body_metrics", "weight_kg_float", 1, False),
    4: ("body_metrics_event", "body_metrics", "height_cm_int", 100, False),
    10: ("blood_pressure_event", "blood_pressure", "blood_pressure_avg_object", 1, False),
    11: ("heart_rate_event", "heart_rate", "hr_avg_bpm_int", 1, True),
    54: ("oxygenation_event", "oxygenation", "saturation_avg_percentage_int", 1, True),
    123: ("oxygenation_event", "oxygenation", "vo2max_mL_per_min_per_kg_int", 1, True),
    71: ("temperature_event", "temperature", "temperature_avg_object", 1, False),
}


@SETTINGS
@given(
    st.sampled_from(sorted(DIRECT_FIELDS)),
    st.integers(min_value=0, max_value=10**9),
    st.integers(min_value=-6, max_value=2),
)
def test_every_direct_measure_is_value_times_ten_to_the_unit_exactly(
    meastype: int, value: int, unit: int
) -> None:
    structure_name, section, key, scale, zero_is_null = DIRECT_FIELDS[meastype]
    group = {
        "grpid": 1,
        "attrib": 0,
        "date": 1_700_000_000,
        "category": 1,
        "measures": [{"value": value, "type": meastype, "unit": unit}],
    }
    produced = run(Endpoint.GETMEAS, {"timezone": "UTC", "measuregrps": [group]})
    events = [
        structure(as_json(i)) for i in produced if i.identity.data_structure == structure_name
    ]
    exact_value = Decimal(f"{value}E{unit}") * scale
    if zero_is_null and value == 0:
        assert all(event[section][key] is None for event in events)
        return
    (event,) = events
    written = event[section][key]
    if key == "blood_pressure_avg_object":
        written = written["systolic_mmHg_int"]
    elif key == "temperature_avg_object":
        written = written["temperature_celcius_float"]
    if key.endswith("_float") or key == "temperature_avg_object":
        assert written == float(exact_value)  # one rounding, from the exact decimal
    else:  # integers: half away from zero (values here are >= 0)
        assert written == int(exact_value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@SETTINGS
@given(getmeas, st.integers(min_value=1, max_value=10**6))
def test_fingerprints_are_stable_and_see_changes(body: dict[str, Any], delta: int) -> None:
    first = run(Endpoint.GETMEAS, body)
    again = run(Endpoint.GETMEAS, body)
    assert [item.identity for item in first] == [item.identity for item in again]
    assert [fingerprint(i.document) for i in first] == [fingerprint(i.document) for i in again]
    for item in first:
        bumped = item.document.model_copy(update={"document_version": 7})
        assert fingerprint(bumped) == fingerprint(item.document)


def test_changing_a_value_changes_the_fingerprint() -> None:
    def weigh_in(value: int) -> dict[str, Any]:
        group = {
            "grpid": 1,
            "attrib": 0,
            "date": 1_700_000_000,
            "category": 1,
            "measures": [{"value": value, "type": 1, "unit": -3}],
        }
        return {"timezone": "Europe/Paris", "measuregrps": [group]}

    before = run(Endpoint.GETMEAS, weigh_in(75_232))[0]
    after = run(Endpoint.GETMEAS, weigh_in(75_233))[0]
    assert before.identity == after.identity
    assert fingerprint(before.document) != fingerprint(after.document)


@SETTINGS
@given(sleep_rows, st.sampled_from(ZONES))
def test_the_user_zone_never_changes_identities_of_zoned_records(
    rows: list[dict[str, Any]], zone: str
) -> None:
    in_utc = run(Endpoint.SLEEP_GETSUMMARY, {"series": rows})
    elsewhere = run(Endpoint.SLEEP_GETSUMMARY, {"series": rows}, ctx(zone))
    assert [i.identity for i in in_utc] == [i.identity for i in elsewhere]
    assert [fingerprint(i.document) for i in in_utc] == [fingerprint(i.document) for i in elsewhere]


segments = st.lists(
    st.builds(
        lambda start, length, state, hr: {
            "startdate": start,
            "enddate": start + length,
            "state": state,
            "hr": {str(start + 60 * i): value for i, value in enumerate(hr)},
            "rr": {str(start): 14},
        },
        st.integers(min_value=1_600_000_000, max_value=1_600_300_000),
        st.integers(min_value=0, max_value=7200),
        st.sampled_from([0, 1, 2, 3, 4, 5, 15, 42]),
        st.lists(st.integers(min_value=0, max_value=220), max_size=4),
    ),
    max_size=12,
)


@SETTINGS
@given(segments, st.sampled_from(ZONES))
def test_any_sleep_get_gives_one_valid_summary_per_local_date(
    series: list[dict[str, Any]], zone: str
) -> None:
    produced = run(Endpoint.SLEEP_GET, {"model": 32, "series": series}, ctx(zone))
    dates = [item.identity.source_key for item in produced]
    assert dates == sorted(set(dates))
    for item in produced:
        duration = structure(as_json(item))["duration"]
        assert duration["sleep_duration_seconds_int"] <= duration["time_in_bed_seconds_int"]


@SETTINGS
@given(
    st.dictionaries(
        st.integers(min_value=1_600_000_000, max_value=1_600_200_000).map(str),
        st.fixed_dictionaries(
            {}, optional={"steps": NUMBER, "heart_rate": NUMBER, "duration": NUMBER}
        ),
        max_size=10,
    ),
    st.sampled_from(ZONES),
)
def test_any_intraday_gives_valid_summaries(series: dict[str, Any], zone: str) -> None:
    run(Endpoint.GETINTRADAYACTIVITY, {"series": series}, ctx(zone))


heart_records = st.lists(
    st.fixed_dictionaries(
        {"timestamp": EPOCHS},
        optional={
            "deviceid": st.sampled_from([None, "c405eb8e", 17]),
            "model": st.sampled_from([None, 44, 91]),
            "ecg": st.one_of(
                st.none(),
                st.fixed_dictionaries(
                    {},
                    optional={
                        "signalid": st.one_of(st.none(), st.integers(1, 50)),
                        "afib": st.sampled_from([None, 0, 1, 2, 3]),
                    },
                ),
            ),
            "bloodpressure": st.one_of(
                st.none(), st.fixed_dictionaries({"diastole": NUMBER, "systole": NUMBER})
            ),
            "heart_rate": NUMBER,
            "modified": EPOCHS,
        },
    ),
    max_size=6,
)


@SETTINGS
@given(heart_records, st.sampled_from(ZONES))
def test_any_heart_list_gives_valid_events(records: list[dict[str, Any]], zone: str) -> None:
    produced = run(Endpoint.HEART_LIST, {"series": records, "more": False}, ctx(zone))
    assert len(produced) <= len(records)
    assert len({item.identity for item in produced}) == len(produced)
