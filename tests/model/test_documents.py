"""Every document the model builds is ROOK's wire format: checked against ROOK's strict schemas."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from rookery.model.body import (
    BloodPressureEvent,
    BloodPressureEventDocument,
    BodyHeartRateEventDocument,
    BodyMetricsEvent,
    BodyMetricsEventDocument,
    BodySummaryDocument,
    TemperatureEvent,
    TemperatureEventDocument,
    TemperatureEventObject,
    TemperatureEventTemperature,
)
from rookery.model.common import (
    WITHINGS_SOURCE,
    BloodPressure,
    BloodPressureObject,
    BodyMetrics,
    EventDocument,
    HeartRate,
    HeartRateEvent,
    Kind,
    RookDocument,
    SummaryDocument,
    event_metadata,
    format_datetime,
    summary_metadata,
)
from rookery.model.physical import PhysicalHeartRateEventDocument
from rookery.model.sleep import (
    SleepBreathing,
    SleepDuration,
    SleepHeartRate,
    SleepSummary,
    SleepSummaryDocument,
)
from rookery.model.structures import STRUCTURES, StructureSpec, parse_document
from tests.model.filled import CLIENT_UUID, USER_ID, filled_document, filled_document_data
from tests.model.paths import array_paths, get, leaf_paths, object_paths, replaced
from tests.support.rook_schema import RookSchemaError, validate_document

PARIS = ZoneInfo("Europe/Paris")
ENVELOPE_KEYS = {"version", "data_structure", "client_uuid", "user_id", "document_version"}


def by_schema(spec: StructureSpec) -> str:
    return spec.schema_name


def dumped(document: RookDocument) -> dict[str, Any]:
    data: dict[str, Any] = document.model_dump(mode="json")
    return data


def weigh_in(weight_kg: float, *, user_id: str = USER_ID) -> BodyMetricsEvent:
    return BodyMetricsEvent(
        metadata=event_metadata(
            datetime(2023, 11, 14, 7, 30, tzinfo=PARIS), user_id, under_physical_activity=False
        ),
        body_metrics=BodyMetrics(weight_kg_float=weight_kg),
        non_structured_data_array=({"grpid": 5423702714, "measures": [{"value": 75232}]},),
    )


# ---------------------------------------------------------------------------------------------
# Every structure: empty and filled documents match the schema


@pytest.mark.parametrize("spec", STRUCTURES, ids=by_schema)
def test_empty_document_matches_schema_with_every_leaf_null(spec: StructureSpec) -> None:
    data = dumped(spec.document_type.empty(client_uuid=CLIENT_UUID, user_id=USER_ID))

    validate_document(data)
    pillar = data[spec.pillar]
    assert all(get(pillar, path) is None for path in leaf_paths(pillar))
    assert all(get(pillar, path) == [] for path in array_paths(pillar))


@pytest.mark.parametrize("spec", STRUCTURES, ids=by_schema)
def test_filled_document_matches_schema_with_every_leaf_set(spec: StructureSpec) -> None:
    data = dumped(filled_document(spec.document_type))

    validate_document(data)
    pillar = data[spec.pillar]
    assert all(get(pillar, path) is not None for path in leaf_paths(pillar))
    assert all(get(pillar, path) != [] for path in array_paths(pillar))


@pytest.mark.parametrize("spec", STRUCTURES, ids=by_schema)
def test_document_round_trips_through_its_json(spec: StructureSpec) -> None:
    document = filled_document(spec.document_type)

    parsed = parse_document(document.model_dump_json())

    assert type(parsed) is spec.document_type
    assert parsed == document
    assert parse_document(dumped(document)) == document


@pytest.mark.parametrize("spec", STRUCTURES, ids=by_schema)
def test_envelope_follows_rook(spec: StructureSpec) -> None:
    data = dumped(spec.document_type.empty(client_uuid=CLIENT_UUID, user_id=USER_ID))

    expected_keys = ENVELOPE_KEYS | {spec.pillar.value}
    if spec.kind is Kind.EVENT:
        expected_keys.add("auto_detected")
        assert data["auto_detected"] is False
        assert data[spec.pillar]["events"] == {spec.data_structure.value: []}
    else:
        assert list(data[spec.pillar]["summary"]) == [spec.data_structure.value]
    assert set(data) == expected_keys
    assert data["version"] == 2
    assert data["data_structure"] == spec.data_structure.value
    assert data["document_version"] == 1


# ---------------------------------------------------------------------------------------------
# The validator has teeth: missing, misspelt, extra and mistyped keys fail


@pytest.mark.parametrize("spec", STRUCTURES, ids=by_schema)
def test_removing_a_key_at_any_depth_fails_validation(spec: StructureSpec) -> None:
    data = dumped(filled_document(spec.document_type))

    for path in object_paths(data):
        node = get(data, path)
        broken = copy.deepcopy(data)
        del get(broken, path)[next(reversed(node))]
        # At the root, losing the pillar key already stops the schema from being chosen.
        with pytest.raises(RookSchemaError, match=r"is a required property|pillar key"):
            validate_document(broken)


@pytest.mark.parametrize("spec", STRUCTURES, ids=by_schema)
def test_misspelling_a_key_at_any_depth_fails_validation(spec: StructureSpec) -> None:
    data = dumped(filled_document(spec.document_type))

    for path in object_paths(data):
        broken = copy.deepcopy(data)
        node = get(broken, path)
        key = next(iter(node))
        node[key.replace("_", "-", 1) if "_" in key else key + "s"] = node.pop(key)
        with pytest.raises(RookSchemaError, match="required property"):
            validate_document(broken)


@pytest.mark.parametrize(
    ("spec", "path", "wrong", "right"),
    [
        (
            TemperatureEventDocument,
            (
                "body_health",
                "events",
                "temperature_event",
                0,
                "temperature",
                "temperature_avg_object",
            ),
            "temperature_celsius_float",
            "temperature_celcius_float",
        ),
        (
            TemperatureEventDocument,
            (
                "body_health",
                "events",
                "temperature_event",
                0,
                "temperature",
                "temperature_granular_data_array",
                0,
            ),
            "temperature_celcius_float",
            "temperature_celsius_float",
        ),
        (
            BodySummaryDocument,
            ("body_health", "summary", "body_summary", "nutrition"),
            "trans_fat_intake_g_float",
            "trans_fat_intake_g_floatr",
        ),
        (
            SleepSummaryDocument,
            (
                "sleep_health",
                "summary",
                "sleep_summary",
                "breathing",
                "saturation_granular_data_array",
                0,
            ),
            "interval_duration_seconds_float",
            "interval_duration_seconds_float_number",
        ),
    ],
)
def test_the_schema_typos_are_the_wire_spelling(
    spec: type[RookDocument], path: tuple[str | int, ...], wrong: str, right: str
) -> None:
    data = dumped(filled_document(spec))
    node = get(data, path)
    assert right in node
    assert wrong not in node

    node[wrong] = node.pop(right)

    with pytest.raises(RookSchemaError, match=right):
        validate_document(data)


def test_extra_key_fails_validation() -> None:
    data = dumped(filled_document(BodyMetricsEventDocument))
    data["body_health"]["events"]["body_metrics_event"][0]["body_metrics"]["fat_ratio_float"] = 1.0

    with pytest.raises(RookSchemaError, match="fat_ratio_float"):
        validate_document(data)


def test_raw_records_are_free_form() -> None:
    data = dumped(filled_document(BodyMetricsEventDocument))
    data["body_health"]["events"]["body_metrics_event"][0]["non_structured_data_array"] = [
        {"anything": {"goes": [1, "two"]}}
    ]

    validate_document(data)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (
            ("body_health", "events", "body_metrics_event", 0, "body_metrics", "height_cm_int"),
            "180",
        ),
        (("body_health", "events", "body_metrics_event", 0, "body_metrics"), None),
        (("body_health", "events", "body_metrics_event"), None),
        (("body_health", "events", "body_metrics_event", 0, "non_structured_data_array"), None),
        (("user_id",), None),
        (("user_id",), "not a valid id!"),
    ],
)
def test_wrong_types_fail_validation(path: tuple[str | int, ...], value: Any) -> None:
    data = dumped(filled_document(BodyMetricsEventDocument))

    with pytest.raises(RookSchemaError):
        validate_document(replaced(data, path, value))


def test_violation_lists_every_failing_path() -> None:
    data = dumped(filled_document(BloodPressureEventDocument))
    event = data["body_health"]["events"]["blood_pressure_event"][0]
    del event["metadata"]["datetime_string"]
    del event["blood_pressure"]["blood_pressure_avg_object"]["systolic_mmHg_int"]

    with pytest.raises(RookSchemaError) as raised:
        validate_document(data)

    message = str(raised.value)
    assert "BodyBloodPressureEvent" in message
    assert "body_health.events.blood_pressure_event[0].metadata: 'datetime_string'" in message
    assert (
        "body_health.events.blood_pressure_event[0].blood_pressure.blood_pressure_avg_object: "
        "'systolic_mmHg_int'" in message
    )


def test_document_without_a_pillar_is_rejected() -> None:
    with pytest.raises(RookSchemaError, match="pillar"):
        validate_document({"data_structure": "sleep_summary"})


# ---------------------------------------------------------------------------------------------
# Building documents the way the transforms do


def test_transform_style_sleep_summary_serialises_to_rook() -> None:
    start = datetime(2023, 11, 13, 23, 5, tzinfo=PARIS)
    end = datetime(2023, 11, 14, 6, 40, tzinfo=PARIS)
    summary = SleepSummary(
        metadata=summary_metadata(end, USER_ID),
        duration=SleepDuration(
            sleep_start_datetime_string=format_datetime(start),
            sleep_end_datetime_string=format_datetime(end),
            sleep_date_string="2023-11-14",
            sleep_duration_seconds_int=25_200,
        ),
        heart_rate=SleepHeartRate(
            hr_avg_bpm_int=58,
            hr_granular_data_array=(
                {
                    "datetime_string": format_datetime(start),
                    "interval_duration_seconds_float": 60.0,
                    "hr_bpm_int": 61,
                },
            ),
        ),
        breathing=SleepBreathing(snoring_events_count_int=4),
        non_structured_data_array=({"date": "2023-11-14", "data": {"hr_average": 58}},),
    )

    document = SleepSummaryDocument.of(summary, client_uuid=CLIENT_UUID, user_id=USER_ID)
    data = dumped(document)

    validate_document(data)
    sleep = data["sleep_health"]["summary"]["sleep_summary"]
    assert sleep["metadata"] == {
        "datetime_string": "2023-11-14T06:40:00.000000+01:00",
        "user_id_string": USER_ID,
        "sources_of_data_array": [WITHINGS_SOURCE],
    }
    assert sleep["duration"]["sleep_duration_seconds_int"] == 25_200
    assert sleep["duration"]["time_in_bed_seconds_int"] is None
    assert sleep["heart_rate"]["hr_basal_bpm_int"] is None
    assert sleep["heart_rate"]["hr_granular_data_array"] == [
        {
            "datetime_string": "2023-11-13T23:05:00.000000+01:00",
            "interval_duration_seconds_float": 60.0,
            "hr_bpm_int": 61,
        }
    ]
    assert sleep["temperature"]["temperature_avg_object"] == {
        "temperature_celsius_float": None,
        "measurement_type_string": None,
    }
    assert document.summary is summary


def test_transform_style_temperature_event_spells_celcius_in_its_objects() -> None:
    taken = datetime(2023, 11, 14, 8, 0, tzinfo=UTC)
    event = TemperatureEvent(
        metadata=event_metadata(taken, USER_ID, under_physical_activity=False),
        temperature=TemperatureEventTemperature(
            temperature_avg_object=TemperatureEventObject(
                temperature_celcius_float=36.7, measurement_type_string="body"
            ),
            temperature_granular_data_array=(
                {
                    "datetime_string": format_datetime(taken),
                    "temperature_celsius_float": 36.7,
                    "measurement_type_string": "body",
                },
            ),
        ),
    )

    data = dumped(TemperatureEventDocument.of(event, client_uuid=CLIENT_UUID, user_id=USER_ID))

    validate_document(data)
    temperature = data["body_health"]["events"]["temperature_event"][0]["temperature"]
    assert temperature["temperature_avg_object"] == {
        "temperature_celcius_float": 36.7,
        "measurement_type_string": "body",
    }
    assert temperature["temperature_maximum_object"] == {
        "temperature_celcius_float": None,
        "measurement_type_string": None,
    }
    assert temperature["temperature_granular_data_array"][0]["datetime_string"] == (
        "2023-11-14T08:00:00.000000Z"
    )


def test_event_metadata_says_whether_the_user_was_exercising() -> None:
    event = BloodPressureEvent(
        metadata=event_metadata(
            datetime(2023, 11, 14, 8, tzinfo=PARIS), USER_ID, under_physical_activity=True
        ),
        blood_pressure=BloodPressure(
            blood_pressure_avg_object=BloodPressureObject(
                systolic_mmHg_int=121, diastolic_mmHg_int=79
            )
        ),
    )
    data = dumped(BloodPressureEventDocument.of(event, client_uuid=CLIENT_UUID, user_id=USER_ID))

    validate_document(data)
    only = data["body_health"]["events"]["blood_pressure_event"][0]
    assert only["metadata"]["was_the_user_under_physical_activity_bool"] is True
    assert only["blood_pressure"]["blood_pressure_avg_object"] == {
        "systolic_mmHg_int": 121,
        "diastolic_mmHg_int": 79,
    }


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2023, 11, 14, 23, tzinfo=PARIS), "2023-11-14T23:00:00.000000+01:00"),
        (datetime(2023, 7, 14, 23, tzinfo=PARIS), "2023-07-14T23:00:00.000000+02:00"),
        (datetime(2023, 11, 14, 23, 0, 1, 5, tzinfo=UTC), "2023-11-14T23:00:01.000005Z"),
        (datetime(2023, 1, 2, 3, tzinfo=ZoneInfo("Europe/London")), "2023-01-02T03:00:00.000000Z"),
        (
            datetime(2023, 1, 2, 3, tzinfo=timezone(-timedelta(hours=7))),
            "2023-01-02T03:00:00.000000-07:00",
        ),
    ],
)
def test_format_datetime_writes_the_records_own_offset(moment: datetime, expected: str) -> None:
    assert format_datetime(moment) == expected


def test_format_datetime_rejects_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_datetime(datetime(2023, 11, 14, 23))  # naive on purpose


ROOK_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(?:Z|[+-]\d{2}:\d{2})")


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        # Paris kept its local mean time, +00:09:21, until 1911: 21 s less on the wall clock.
        (datetime(1900, 6, 1, 12, tzinfo=PARIS), "1900-06-01T11:59:39.000000+00:09"),
        # Dublin, -00:25:21 until 1916: rounds to -00:25 and the wall clock moves 21 s on.
        (
            datetime(1900, 6, 1, 12, tzinfo=ZoneInfo("Europe/Dublin")),
            "1900-06-01T12:00:21.000000-00:25",
        ),
        # Half a minute rounds away from zero, and across midnight the date moves too.
        (
            datetime(2000, 1, 1, 0, 0, 10, tzinfo=timezone(timedelta(minutes=4, seconds=30))),
            "2000-01-01T00:00:40.000000+00:05",
        ),
        (
            datetime(2000, 1, 1, 0, 0, 10, tzinfo=timezone(-timedelta(minutes=4, seconds=30))),
            "1999-12-31T23:59:40.000000-00:05",
        ),
        (
            datetime(2000, 1, 1, tzinfo=timezone(timedelta(seconds=29))),
            "1999-12-31T23:59:31.000000Z",
        ),
    ],
)
def test_format_datetime_rounds_offsets_with_seconds_to_the_minute(
    moment: datetime, expected: str
) -> None:
    assert format_datetime(moment) == expected
    assert datetime.fromisoformat(expected) == moment  # the same instant


@given(
    st.datetimes(
        min_value=datetime(1800, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.timedeltas(
            min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59)
        ).map(timezone),
    )
)
def test_format_datetime_writes_rooks_pattern_for_the_same_instant(moment: datetime) -> None:
    text = format_datetime(moment)
    assert ROOK_DATETIME.fullmatch(text)
    assert datetime.fromisoformat(text) == moment
    offset = moment.utcoffset()
    assert offset is not None
    if offset % timedelta(minutes=1) == timedelta(0):
        assert text[:26] == moment.isoformat(timespec="microseconds")[:26]  # the wall time kept


@pytest.mark.parametrize(
    "build",
    [
        lambda: HeartRate(hr_avg_bpm=60),  # type: ignore[call-arg]  # misspelt key
        lambda: HeartRate(hr_avg_bpm_int=60.5),  # not an integer
        lambda: BodyMetrics(weight_kg_float=float("nan")),
        lambda: SleepDuration(sleep_date_string="14/11/2023"),
        lambda: SleepDuration(sleep_start_datetime_string="2023-11-14T23:00:00"),  # naive
        lambda: HeartRate(hr_granular_data_array=({"datetime_string": None, "hr_bpm_int": 1},)),
        lambda: BodyMetricsEventDocument.of(weigh_in(75.0), client_uuid=CLIENT_UUID, user_id="x y"),
        lambda: BodyMetricsEventDocument.of(
            weigh_in(75.0), client_uuid=CLIENT_UUID, user_id=USER_ID, document_version=0
        ),
        lambda: BodyMetricsEventDocument.of(
            weigh_in(75.0, user_id="someone-else"), client_uuid=CLIENT_UUID, user_id=USER_ID
        ),
    ],
    ids=[
        "misspelt-key",
        "float-for-int",
        "nan",
        "date-format",
        "naive-datetime",
        "incomplete-item",
        "bad-user-id",
        "document-version-0",
        "metadata-user-mismatch",
    ],
)
def test_model_rejects_bad_input_with_a_validation_error(build: Any) -> None:
    with pytest.raises(ValidationError):
        build()


def test_models_are_immutable() -> None:
    document = BodyMetricsEventDocument.of(weigh_in(75.0), client_uuid=CLIENT_UUID, user_id=USER_ID)

    with pytest.raises(ValidationError):
        document.document_version = 2  # type: ignore[misc]


def test_summary_is_reachable_from_its_document() -> None:
    data = filled_document_data(SleepSummaryDocument)
    document = SleepSummaryDocument.model_validate(data)

    assert isinstance(document, SummaryDocument)
    assert dumped(document)["sleep_health"]["summary"]["sleep_summary"] == (
        document.summary.model_dump(mode="json")
    )


# ---------------------------------------------------------------------------------------------
# Events documents: one event delivered, a day's events in one document


def test_event_document_delivers_one_event() -> None:
    event = weigh_in(75.232)

    document = BodyMetricsEventDocument.of(
        event, client_uuid=CLIENT_UUID, user_id=USER_ID, auto_detected=True
    )

    assert document.events == (event,)
    assert document.auto_detected is True
    validate_document(dumped(document))


def test_with_events_appends_to_an_events_document() -> None:
    first, second, third = weigh_in(75.0), weigh_in(75.5), weigh_in(76.0)
    empty = BodyMetricsEventDocument.empty(client_uuid=CLIENT_UUID, user_id=USER_ID)

    day = empty.with_events([first, second]).with_events([third])

    assert day.events == (first, second, third)
    assert empty.events == ()
    validate_document(dumped(day))


def test_merge_puts_all_events_in_one_document() -> None:
    documents = [
        BodyMetricsEventDocument.of(
            weigh_in(70.0 + n),
            client_uuid=CLIENT_UUID,
            user_id=USER_ID,
            document_version=version,
            auto_detected=n > 0,
        )
        for n, version in enumerate([1, 4, 2])
    ]

    merged = BodyMetricsEventDocument.merge(documents)

    assert [event.body_metrics.weight_kg_float for event in merged.events] == [70.0, 71.0, 72.0]
    assert merged.document_version == 4
    assert merged.auto_detected is False
    assert BodyMetricsEventDocument.merge(documents[1:]).auto_detected is True
    validate_document(dumped(merged))


def test_merge_rejects_what_does_not_belong_together() -> None:
    mine = BodyMetricsEventDocument.of(weigh_in(70.0), client_uuid=CLIENT_UUID, user_id=USER_ID)
    theirs = BodyMetricsEventDocument.of(
        weigh_in(70.0, user_id="other"), client_uuid=CLIENT_UUID, user_id="other"
    )
    pulse = HeartRateEvent(heart_rate=HeartRate(hr_avg_bpm_int=60))
    physical = PhysicalHeartRateEventDocument.of(pulse, client_uuid=CLIENT_UUID, user_id=USER_ID)
    body = BodyHeartRateEventDocument.of(pulse, client_uuid=CLIENT_UUID, user_id=USER_ID)

    with pytest.raises(ValueError, match="no BodyMetricsEventDocument"):
        BodyMetricsEventDocument.merge([])
    with pytest.raises(ValueError, match="user"):
        BodyMetricsEventDocument.merge([mine, theirs])
    with pytest.raises(ValueError, match="BodyHeartRateEventDocument"):
        PhysicalHeartRateEventDocument.merge([physical, body])  # type: ignore[list-item]


def test_heart_rate_event_is_filed_under_either_pillar() -> None:
    pulse = HeartRateEvent(heart_rate=HeartRate(hr_avg_bpm_int=60))

    physical = dumped(
        PhysicalHeartRateEventDocument.of(pulse, client_uuid=CLIENT_UUID, user_id=USER_ID)
    )
    body = dumped(BodyHeartRateEventDocument.of(pulse, client_uuid=CLIENT_UUID, user_id=USER_ID))

    validate_document(physical)
    validate_document(body)
    assert "body_health" not in physical
    assert physical["physical_health"] == body["body_health"]
    assert isinstance(parse_document(physical), EventDocument)
