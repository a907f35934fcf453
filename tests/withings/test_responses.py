"""Parsing Withings response bodies: captured fixtures, exact values, tolerance, strictness."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import pytest

from rookery.withings import responses as r
from rookery.withings.codes import Appli, MeasureAttrib, MeasureType, Scope, SleepState
from rookery.withings.errors import WithingsMalformedResponse, unwrap
from tests.withings.captured import CAPTURED, load_captured


def body_of(name: str) -> Mapping[str, Any]:
    return unwrap(load_captured(name), service="/fixture", action=name)


def getmeas_body(groups: list[Any]) -> dict[str, Any]:
    return {
        "updatetime": 1700000123,
        "timezone": "Europe/Paris",
        "more": 0,
        "offset": 0,
        "measuregrps": groups,
    }


ENVELOPED: dict[str, Callable[[Mapping[str, Any]], object]] = {
    "activity.json": r.parse_getactivity,
    "device.json": r.parse_getdevice,
    "new_device.json": r.parse_getdevice,
    "goals.json": r.parse_getgoals,
    "goals_1.json": r.parse_getgoals,
    "goals_2.json": r.parse_getgoals,
    "no_goals.json": r.parse_getgoals,
    "measurement.json": r.parse_getmeas,
    "notify_list.json": r.parse_notify_list,
    "sleep.json": r.parse_sleep_get,
    "sleep_no_datafields.json": r.parse_sleep_get,
    "sleep_summary.json": r.parse_sleep_getsummary,
    "sleep_summary_no_datafields.json": r.parse_sleep_getsummary,
    "workouts.json": r.parse_getworkouts,
}
GROUP_LISTS = ("measurement_list.json", "measurement_list_2.json", "measurement_positions.json")


def test_every_captured_file_is_covered() -> None:
    on_disk = {path.name for path in CAPTURED.glob("*.json")}
    empty_bodies = {"notify_subscribe.json", "notify_revoke.json"}
    assert on_disk == set(ENVELOPED) | set(GROUP_LISTS) | empty_bodies


@pytest.mark.parametrize("name", sorted(ENVELOPED))
def test_every_enveloped_fixture_parses(name: str) -> None:
    assert ENVELOPED[name](body_of(name)) is not None


@pytest.mark.parametrize("name", ["notify_subscribe.json", "notify_revoke.json"])
def test_empty_notify_bodies_unwrap_to_empty(name: str) -> None:
    assert body_of(name) == {}


@pytest.mark.parametrize("name", GROUP_LISTS)
def test_every_measure_group_list_parses(name: str) -> None:
    groups = load_captured(name)
    page = r.parse_getmeas(getmeas_body(groups))
    assert len(page.measuregrps) == len(groups)
    assert [g.raw for g in page.measuregrps] == groups
    for group, raw_group in zip(page.measuregrps, groups, strict=True):
        assert len(group.measures) == len(raw_group["measures"])


def test_measurement_values_are_exact() -> None:
    page = r.parse_getmeas(body_of("measurement.json"))
    assert page.updatetime == 1693651185
    assert page.timezone == "Europe/Amsterdam"
    assert page.more is False
    first, second = page.measuregrps
    assert first.grpid == 4815757309
    assert first.attrib is MeasureAttrib.DEVICE
    assert second.attrib is MeasureAttrib.SAME_AS_DEVICE
    assert first.modelid == 5
    assert first.model == "Body+"
    (weight,) = first.measures
    assert weight.type is MeasureType.WEIGHT_KG
    assert weight.real_value == Decimal("118.003")
    assert str(weight.real_value) == "118.003"


def test_research_example_weight_is_exactly_75_232() -> None:
    group = {
        "grpid": 5423702714,
        "attrib": 0,
        "date": 1699941600,
        "created": 1699941650,
        "modified": 1699941650,
        "category": 1,
        "deviceid": "892359876fd8805ac45bab078c4828692f0276b1",
        "hash_deviceid": "892359876fd8805ac45bab078c4828692f0276b1",
        "modelid": 6,
        "model": "Body Cardio",
        "comment": None,
        "measures": [{"value": 75232, "type": 1, "unit": -3, "algo": 0, "fm": 3}],
    }
    (measure,) = r.parse_getmeas(getmeas_body([group])).measuregrps[0].measures
    assert measure.real_value == Decimal("75.232")
    assert measure.real_value.as_tuple() == (0, (7, 5, 2, 3, 2), -3)


def test_manual_groups_have_null_devices_and_positions_survive() -> None:
    manual = r.parse_getmeas(getmeas_body(load_captured("measurement_list.json"))).measuregrps[0]
    assert manual.attrib is MeasureAttrib.MANUAL
    assert (manual.deviceid, manual.hash_deviceid, manual.model, manual.modelid) == (None,) * 4
    assert manual.measures[0].type is MeasureType.HEIGHT_M
    assert manual.measures[0].real_value == Decimal("1.600")

    scan = r.parse_getmeas(getmeas_body(load_captured("measurement_positions.json"))).measuregrps[0]
    assert scan.measures[0].position is None
    segmental = [m for m in scan.measures if m.type is MeasureType.SEGMENTAL_FAT_FREE_MASS_KG]
    assert [m.position for m in segmental][:4] == [12, 10, 3, 11]
    assert segmental[0].real_value == Decimal("40.00")


def test_activity_rows() -> None:
    page = r.parse_getactivity(body_of("activity.json"))
    assert page.more is False
    assert page.offset == 200
    first, second = page.activities
    assert first.date == dt.date(2023, 10, 20)
    assert first.timezone == "Europe/Amsterdam"
    assert first.modelid == 1055
    assert first.brand == 18
    assert first.is_tracker is False
    assert first.deviceid is None
    assert first.steps == 1209
    assert first.calories == 85.497
    assert first.totalcalories == 2303.788
    assert first.hr_zone_3 == 400
    # The second day has no heart rate: absent fields are None, not 0.
    assert second.hr_average is None
    assert second.hr_zone_0 is None
    assert second.active == 707


def test_workouts_keep_nulls_and_absent_data_fields() -> None:
    page = r.parse_getworkouts(body_of("workouts.json"))
    assert len(page.series) == 11
    first, second = page.series[:2]
    assert first.id == 3661300277
    assert first.category == 1
    assert first.model == 1055
    assert first.date == dt.date(2023, 8, 29)
    assert (first.startdate, first.enddate) == (1693336011, 1693336513)
    assert first.data.calories == 47
    assert first.data.manual_distance == 60
    assert first.data.pause_duration == 80
    assert first.data.algo_pause_duration is None
    assert first.data.spo2_average == 15
    assert second.data.steps is None
    assert second.data.algo_pause_duration is None


def test_sleep_get_series_is_an_array_with_ordered_samples() -> None:
    body = body_of("sleep.json")
    sleep = r.parse_sleep_get(body)
    assert sleep.model == 32
    assert len(sleep.series) == len(body["series"]) == 613
    first = sleep.series[0]
    assert first.state is SleepState.AWAKE
    assert first.model == "Aura Sensor V2"
    assert first.model_id == 63
    assert first.hr == (r.Sample(1618691453, 70), r.Sample(1618691513, 71))
    assert [s.value for s in first.rr] == [15, 15]
    assert [s.value for s in first.snoring] == [0, 0]
    assert first.rmssd == ()
    for segment in sleep.series:
        stamps = [sample.timestamp for sample in segment.hr]
        assert stamps == sorted(stamps)

    bare = r.parse_sleep_get(body_of("sleep_no_datafields.json")).series[0]
    assert (bare.hr, bare.rr, bare.snoring) == ((), (), ())


def test_sleep_summary_rows() -> None:
    page = r.parse_sleep_getsummary(body_of("sleep_summary.json"))
    assert (page.more, page.offset, len(page.series)) == (True, 300, 300)
    night = page.series[0]
    assert night.id == 2081804182
    assert night.timezone == "Europe/Paris"
    assert night.date == dt.date(2021, 4, 18)
    assert (night.model, night.model_id) == (32, 63)
    assert night.data.total_sleep_time == 18660
    assert night.data.sleep_efficiency == 0.86
    assert night.data.hr_average == 103
    assert night.data.snoringepisodecount == 18
    assert night.data.total_timeinbed is None
    assert night.data.night_events is None

    default = r.parse_sleep_getsummary(body_of("sleep_summary_no_datafields.json")).series[0]
    assert default.data.total_timeinbed == 21720
    assert default.data.hr_average is None


def test_devices_goals_and_notify() -> None:
    devices = r.parse_getdevice(body_of("device.json"))
    assert [d.battery for d in devices] == ["high", "high", "unknown", "high", "high"]
    assert devices[4].model == ""
    assert devices[0].model_id == 5
    assert devices[0].first_session_date is None
    assert r.parse_getdevice(body_of("new_device.json"))[0].model_id == 696969

    goals = r.parse_getgoals(body_of("goals.json"))
    assert (goals.steps, goals.sleep) == (10000, 28800)
    assert goals.weight is not None
    assert goals.weight.real_value == Decimal("70.500")
    none = r.parse_getgoals(body_of("no_goals.json"))
    assert (none.steps, none.sleep, none.weight) == (None, None, None)

    (profile,) = r.parse_notify_list(body_of("notify_list.json"))
    assert profile.appli is Appli.WEIGHT
    assert profile.expires == 2147483647
    assert profile.callbackurl == "https://www.withings.com"


def test_records_keep_their_raw_dict_unchanged() -> None:
    body = body_of("sleep_summary.json")
    snapshot = repr(body)
    page = r.parse_sleep_getsummary(body)
    assert page.raw is body
    assert page.series[0].raw is body["series"][0]
    assert repr(body) == snapshot

    measure_body = body_of("measurement.json")
    group = r.parse_getmeas(measure_body).measuregrps[0]
    assert group.raw is measure_body["measuregrps"][0]
    assert group.measures[0].raw is measure_body["measuregrps"][0]["measures"][0]


def test_spec_and_real_differences_are_tolerated() -> None:
    group = {
        "grpid": 1,
        "attrib": 17,
        "date": 10,
        "category": 1,
        "model_id": 93,
        "measures": [{"value": 1, "type": 99999, "unit": 0}],
        "probability": 3,
    }
    page = r.parse_getmeas(
        {"updatetime": "1700000000", "timezone": "UTC", "more": True, "measuregrps": [group]}
    )
    assert page.updatetime == 1700000000
    assert page.more is True
    assert page.offset == 0
    parsed = page.measuregrps[0]
    assert parsed.modelid == 93
    assert parsed.attrib is MeasureAttrib.UNDOCUMENTED_17
    assert parsed.created is None
    assert parsed.measures[0].type is MeasureType.UNKNOWN

    intraday = r.parse_getintradayactivity(
        {
            "series": {
                "1699941660": {"deviceid": "abc", "model_id": 93, "heart_rate": 91},
                "1699941600": {"deviceid": "abc", "modelid": 93, "steps": 42, "duration": 60},
            }
        }
    )
    assert [s.timestamp for s in intraday.series] == [1699941600, 1699941660]
    assert intraday.series[0].model_id == intraday.series[1].model_id == 93
    assert intraday.series[0].heart_rate is None
    assert r.parse_getintradayactivity({"series": []}).series == ()

    heart = r.parse_heart_list(
        {
            "series": [
                {
                    "deviceid": "c405",
                    "model": 44,
                    "ecg": {"signalid": 48213, "afib": 0},
                    "bloodpressure": {"diastole": 79, "systole": 121},
                    "heart_rate": 66,
                    "timestamp": 1699945200,
                    "modified": 1699945300,
                },
                {"deviceid": None, "model": 91, "ecg": {"signalid": 2, "afib": 2}, "timestamp": 5},
            ],
            "more": False,
            "offset": 0,
        }
    )
    assert heart.series[0].bloodpressure == r.BloodPressure(diastole=79, systole=121)
    assert heart.series[0].ecg == r.Ecg(signalid=48213, afib=0)
    assert heart.series[1].bloodpressure is None


def test_night_events_are_typed() -> None:
    row = {
        "id": 1,
        "timezone": "Europe/Paris",
        "startdate": 0,
        "enddate": 10,
        "date": "2023-11-15",
        "data": {"night_events": {"1": [0], "3": [9600, 27720]}},
    }
    (parsed,) = r.parse_sleep_getsummary({"series": [row]}).series
    assert parsed.data.night_events == {1: (0,), 3: (9600, 27720)}


@pytest.mark.parametrize("userid", [13371337, "13371337"])
def test_token_userid_int_or_string(userid: object) -> None:
    tokens = r.parse_token(
        {
            "userid": userid,
            "access_token": "a075f8c14fb8df40b08ebc8508533dc332a6910a",
            "refresh_token": "f631236f02b991810feb774765b6ae8e6c6839ca",
            "expires_in": 10800,
            "scope": "user.info,user.metrics,user.activity,user.sleepevents,user.future",
            "csrf_token": "PACnnxwHTaBQOzF7bQqwFUUotIuvtzSM",
            "token_type": "Bearer",
        }
    )
    assert tokens.userid == "13371337"
    assert tokens.scope == frozenset(Scope)
    assert tokens.expires_in == 10800
    assert "a075f8c1" not in repr(tokens)
    assert "f631236f" not in repr(tokens)


def test_token_keeps_the_old_refresh_token_only_when_given_one() -> None:
    body = {"userid": 1, "access_token": "new-access", "expires_in": 10800, "scope": ""}
    assert r.parse_token(body, fallback_refresh_token="old").refresh_token == "old"
    with pytest.raises(WithingsMalformedResponse, match=r"body\.refresh_token: is missing"):
        r.parse_token(body)


def test_nonce() -> None:
    assert r.parse_getnonce({"nonce": "aaf4c61d"}) == "aaf4c61d"


@pytest.mark.parametrize(
    ("parse", "body", "where"),
    [
        (r.parse_getmeas, {"measuregrps": [{"attrib": 0}]}, r"body\.measuregrps\[0\]\.grpid"),
        (
            r.parse_getmeas,
            getmeas_body(
                [{"grpid": 1, "attrib": 0, "date": 1, "category": 1, "measures": [{"type": 1}]}]
            ),
            r"body\.measuregrps\[0\]\.measures\[0\]\.value: is missing",
        ),
        (r.parse_getmeas, {"measuregrps": {}}, r"body\.measuregrps: expected an array"),
        (r.parse_getmeas, [], r"^Withings measure/getmeas: body: expected an object"),
        (r.parse_getactivity, {"activities": [{"date": "20231020"}]}, r"activities\[0\]\.date"),
        (
            r.parse_getworkouts,
            {"series": [{"id": "3661300277"}]},
            r"body\.series\[0\]\.id: expected an integer, got a string",
        ),
        (
            r.parse_sleep_get,
            {"series": [{"startdate": 1, "enddate": 2, "state": 0, "hr": {"x": 1}}]},
            r"body\.series\[0\]\.hr: expected epoch-second keys",
        ),
        (
            r.parse_sleep_getsummary,
            {"series": [{"id": 1, "timezone": "UTC", "startdate": 1, "enddate": 2}]},
            r"body\.series\[0\]\.date: is missing",
        ),
        (r.parse_heart_list, {"series": [{"model": 44}]}, r"series\[0\]\.timestamp"),
        (r.parse_getmeas, {"more": 2}, r"body\.more: expected 0, 1 or a boolean"),
        (r.parse_getdevice, {"devices": [{"model": "Body+"}]}, r"devices\[0\]\.deviceid"),
        (r.parse_token, {"userid": True}, r"body\.userid: expected an id, got a boolean"),
        (r.parse_notify_list, {"profiles": [{"appli": "1"}]}, r"profiles\[0\]\.appli"),
        (r.parse_getgoals, {"goals": {"weight": {"value": 1.5}}}, r"goals\.weight\.value"),
        (r.parse_getintradayactivity, {"series": {"1": 5}}, r"body\.series\.1: expected an object"),
    ],
)
def test_malformed_bodies_name_endpoint_and_field(
    parse: Callable[[Any], object], body: Any, where: str
) -> None:
    with pytest.raises(WithingsMalformedResponse, match=where) as caught:
        parse(body)
    message = str(caught.value)
    assert message.startswith("Withings ")
    assert "\n" not in message
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_malformed_messages_never_show_values() -> None:
    body = getmeas_body(
        [{"grpid": 1, "attrib": 0, "date": 1, "category": 1, "measures": [{"value": "75.232"}]}]
    )
    with pytest.raises(WithingsMalformedResponse) as caught:
        r.parse_getmeas(body)
    assert "75.232" not in str(caught.value)


def test_endpoints_and_their_cli_names() -> None:
    assert [e.value for e in r.Endpoint] == [
        "measure/getmeas",
        "v2/measure/getactivity",
        "v2/measure/getworkouts",
        "v2/sleep/getsummary",
        "v2/measure/getintradayactivity",
        "v2/sleep/get",
        "v2/heart/list",
    ]
    assert r.Endpoint("v2/sleep/getsummary") is r.Endpoint.SLEEP_GETSUMMARY
    assert (r.Endpoint.GETMEAS.service, r.Endpoint.GETMEAS.action) == ("/measure", "getmeas")
    assert r.Endpoint.SLEEP_GET.service == "/v2/sleep"
    assert isinstance(r.parse_endpoint(r.Endpoint.SLEEP_GET, {"series": []}), r.SleepSeries)
    assert isinstance(
        r.parse_endpoint(r.Endpoint.GETMEAS, body_of("measurement.json")), r.MeasureGroupsPage
    )


def test_malformed_error_names_the_service_and_action() -> None:
    with pytest.raises(WithingsMalformedResponse) as caught:
        r.parse_heart_list({"series": "nope"})
    assert (caught.value.service, caught.value.action) == ("/v2/heart", "list")
    assert re.search(r"^Withings v2/heart/list: body\.series", str(caught.value))


@pytest.mark.parametrize(
    ("endpoint", "record"),
    [
        (r.Endpoint.GETACTIVITY, r.ActivityDay),
        (r.Endpoint.GETWORKOUTS, r.WorkoutData),
        (r.Endpoint.SLEEP_GETSUMMARY, r.SleepSummaryData),
        (r.Endpoint.GETINTRADAYACTIVITY, r.IntradaySample),
        (r.Endpoint.SLEEP_GET, r.SleepSegment),
    ],
)
def test_default_data_fields_are_exactly_what_the_record_holds(
    endpoint: r.Endpoint, record: type[Any]
) -> None:
    requested = r.DATA_FIELDS[endpoint]
    assert len(set(requested)) == len(requested)
    holds = {f.name for f in dataclasses.fields(record)}
    assert set(requested) <= holds
    identity = {
        "date", "timezone", "deviceid", "hash_deviceid", "brand", "is_tracker", "modified",
        "model", "modelid", "model_id", "timestamp", "startdate", "enddate", "state", "raw",
    }  # fmt: skip
    assert holds - set(requested) <= identity


RECORDS_KEY = {
    r.Endpoint.GETMEAS: "measuregrps",
    r.Endpoint.GETACTIVITY: "activities",
    r.Endpoint.GETWORKOUTS: "series",
    r.Endpoint.SLEEP_GETSUMMARY: "series",
    r.Endpoint.GETINTRADAYACTIVITY: "series",
    r.Endpoint.SLEEP_GET: "series",
    r.Endpoint.HEART_LIST: "series",
}


@pytest.mark.parametrize("endpoint", list(r.Endpoint))
def test_every_endpoint_has_a_parser_that_needs_its_records_key(endpoint: r.Endpoint) -> None:
    key = RECORDS_KEY[endpoint]
    empty: list[Any] | None
    for empty in ([], None):  # what PHP writes for no records
        assert r.parse_endpoint(endpoint, {key: empty}) is not None
    # Without the key the body is another endpoint's (or nothing), not an empty page.
    with pytest.raises(WithingsMalformedResponse) as caught:
        r.parse_endpoint(endpoint, {"more": False, "offset": 0})
    assert str(caught.value) == f"Withings {endpoint.value}: body.{key}: is missing"


def test_a_workout_is_not_read_as_a_night() -> None:
    with pytest.raises(WithingsMalformedResponse, match=r"series\[0\]\.category: is a workout"):
        r.parse_sleep_getsummary(body_of("workouts.json"))


def test_odd_keys_from_the_payload_keep_the_message_on_one_line() -> None:
    with pytest.raises(WithingsMalformedResponse) as caught:
        r.parse_getintradayactivity({"series": {"17\n00": {}}})
    assert str(caught.value) == (
        "Withings v2/measure/getintradayactivity: body.series['17\\n00']: "
        "expected epoch-second keys"
    )


def test_an_absurdly_long_digit_key_is_malformed_not_a_crash() -> None:
    with pytest.raises(WithingsMalformedResponse, match="epoch-second keys"):
        r.parse_sleep_get(
            {"series": [{"startdate": 1, "enddate": 2, "state": 1, "hr": {"9" * 5000: 60}}]}
        )
    with pytest.raises(WithingsMalformedResponse, match=r"body\.updatetime"):
        r.parse_getmeas({"updatetime": "9" * 5000})


@pytest.mark.parametrize("unit", [31, -31, 99_999_999])
def test_an_exponent_no_measure_has_is_malformed_not_a_crash(unit: int) -> None:
    group: dict[str, Any] = {"grpid": 1, "attrib": 0, "date": 1, "category": 1}
    group["measures"] = [{"value": 1, "type": 1, "unit": unit}]
    with pytest.raises(WithingsMalformedResponse, match=r"measures\[0\]\.unit: expected an exp"):
        r.parse_getmeas(getmeas_body([group]))
    group["measures"] = [{"value": 1, "type": 1, "unit": 30 if unit > 0 else -30}]
    (parsed,) = r.parse_getmeas(getmeas_body([group])).measuregrps
    assert parsed.measures[0].real_value == Decimal(f"1E{parsed.measures[0].unit}")
