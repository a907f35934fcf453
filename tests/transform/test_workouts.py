"""activity_event golden cases, from the captured workouts and hand-made ones."""

from __future__ import annotations

from typing import Any

from rookery.model.common import DataStructure, Pillar
from rookery.withings.responses import Endpoint
from tests.transform.support import USER_ID, fixture_body, jsons, run, structure


def events(*workouts: dict[str, Any]) -> list[dict[str, Any]]:
    produced = run(Endpoint.GETWORKOUTS, {"series": list(workouts), "more": False, "offset": 0})
    return [structure(document) for document in jsons(produced)]


def workout(data: dict[str, Any], *, category: int = 2, id_: int = 1) -> dict[str, Any]:
    return {
        "id": id_,
        "category": category,
        "timezone": "Asia/Kathmandu",
        "model": 93,
        "attrib": 0,
        "startdate": 1_699_978_500,
        "enddate": 1_699_981_200,
        "date": "2023-11-14",
        "modified": 1_699_990_000,
        "deviceid": None,
        "data": data,
    }


def test_the_first_captured_workout_key_by_key() -> None:
    body = fixture_body("workouts.json")
    produced = run(Endpoint.GETWORKOUTS, body)
    first = produced[0]
    assert first.identity.pillar == Pillar.PHYSICAL_HEALTH
    assert first.identity.data_structure == DataStructure.ACTIVITY_EVENT
    assert first.identity.source_key == "workout:3661300277"
    assert first.local_date.isoformat() == "2023-08-29"
    document = jsons(produced)[0]
    assert document["auto_detected"] is False
    event = structure(document)
    # 1693336011 = 2023-08-29T19:06:51Z = 21:06:51 in Amsterdam (CEST); the end is 502 s later.
    assert event["metadata"] == {
        "datetime_string": "2023-08-29T21:06:51.000000+02:00",
        "user_id_string": USER_ID,
        "sources_of_data_array": ["Withings"],
        "was_the_user_under_physical_activity_bool": True,
    }
    activity = event["activity"]
    assert activity["activity_start_datetime_string"] == "2023-08-29T21:06:51.000000+02:00"
    assert activity["activity_end_datetime_string"] == "2023-08-29T21:15:13.000000+02:00"
    assert activity["activity_duration_seconds_int"] == 502
    assert activity["activity_type_name_string"] == "Walk"
    assert activity["rest_seconds_int"] == 80  # pause 80 + algo pause null (counts 0)
    assert event["distance"]["steps_int"] == 779
    assert event["distance"]["walked_distance_meters_float"] == 680.0  # not manual_distance 60
    assert event["distance"]["traveled_distance_meters_float"] == 680.0
    assert event["calories"]["calories_net_active_kcal_float"] == 47.0  # not manual_calories 70
    heart_rate = event["heart_rate"]
    assert (heart_rate["hr_avg_bpm_int"], heart_rate["hr_minimum_bpm_int"]) == (80, 70)
    assert heart_rate["hr_maximum_bpm_int"] == 80
    assert event["oxygenation"]["saturation_avg_percentage_int"] == 15
    assert event["non_structured_data_array"] == [body["series"][0]]


def test_captured_workouts_listed_twice_are_one_event() -> None:
    produced = run(Endpoint.GETWORKOUTS, fixture_body("workouts.json"))
    keys = [item.identity.source_key for item in produced]
    assert len(keys) == 10  # 11 rows, workout 3752609174 twice
    assert len(set(keys)) == 10


def test_a_workout_without_data_has_nulls_and_no_rest() -> None:
    (event,) = events(workout({"algo_pause_duration": None}))
    assert event["activity"]["rest_seconds_int"] is None
    assert event["distance"]["steps_int"] is None
    assert event["calories"]["calories_net_active_kcal_float"] is None
    assert event["heart_rate"]["hr_avg_bpm_int"] is None
    assert event["activity"]["activity_duration_seconds_int"] == 2700
    assert event["activity"]["activity_type_name_string"] == "Run"


def test_rest_adds_both_pauses() -> None:
    (event,) = events(workout({"pause_duration": 30, "algo_pause_duration": 45}))
    assert event["activity"]["rest_seconds_int"] == 75
    (event,) = events(workout({"algo_pause_duration": 45}))
    assert event["activity"]["rest_seconds_int"] == 45


def test_manual_values_fill_in_only_when_positive() -> None:
    (manual,) = events(workout({"manual_distance": 5000, "manual_calories": 300}))
    assert manual["distance"]["walked_distance_meters_float"] == 5000.0
    assert manual["calories"]["calories_net_active_kcal_float"] == 300.0
    (zero,) = events(workout({"manual_distance": 0, "manual_calories": 0}))
    assert zero["distance"]["walked_distance_meters_float"] is None
    assert zero["calories"]["calories_net_active_kcal_float"] is None
    (measured_zero,) = events(workout({"distance": 0, "manual_distance": 5000}))
    assert measured_zero["distance"]["walked_distance_meters_float"] == 0.0


def test_swimming_laps_length_strokes_and_total() -> None:
    data = {"pool_laps": 3, "pool_length": 33.3, "strokes": 120, "spo2_average": None}
    (event,) = events(workout(data, category=7))
    distance = event["distance"]
    assert event["activity"]["activity_type_name_string"] == "Swimming"
    assert distance["swimming_num_laps_int"] == 3
    assert distance["swimming_pool_length_meters_float"] == 33.3
    assert distance["swimming_num_strokes_float"] == 120.0
    assert distance["swimming_total_distance_meters_float"] == 99.9  # exact: not 99.89999999999999
    (no_laps,) = events(workout({"pool_laps": 0, "pool_length": 25}, category=7))
    assert no_laps["distance"]["swimming_total_distance_meters_float"] is None


def test_unknown_category_is_other_and_zero_heart_rate_is_null() -> None:
    (event,) = events(workout({"hr_average": 0, "hr_min": 0, "hr_max": 0}, category=9999))
    assert event["activity"]["activity_type_name_string"] == "Other"
    assert event["heart_rate"]["hr_avg_bpm_int"] is None
    assert event["heart_rate"]["hr_maximum_bpm_int"] is None


def test_workout_in_kathmandu_local_time() -> None:
    (event,) = events(workout({}))
    assert event["activity"]["activity_start_datetime_string"] == "2023-11-14T22:00:00.000000+05:45"
    assert event["activity"]["activity_end_datetime_string"] == "2023-11-14T22:45:00.000000+05:45"
