"""physical_summary golden cases, worked out by hand from the raw rows."""

from __future__ import annotations

from typing import Any

import pytest

from rookery.transform.activity import physical_summaries
from rookery.withings.responses import Endpoint, parse_getactivity, parse_getintradayactivity
from tests.transform.support import USER_ID, ctx, jsons, run, structure

FULL: dict[str, Any] = {
    "date": "2023-11-14",
    "timezone": "America/St_Johns",
    "deviceid": "9b3f5c1a2e7d4b60a8c3f1e2d4b5a6c7d8e9f012",
    "hash_deviceid": "9b3f5c1a2e7d4b60a8c3f1e2d4b5a6c7d8e9f012",
    "brand": 1,
    "is_tracker": True,
    "modified": 1700010000,
    "model": "ScanWatch",
    "modelid": 93,
    "steps": 8421,
    "distance": 6312.4,
    "elevation": 7,
    "soft": 5220,
    "moderate": 1500,
    "intense": 420,
    "active": 1920,
    "calories": 412.1,
    "totalcalories": 2381.3,
    "hr_average": 71,
    "hr_min": 52,
    "hr_max": 141,
    "hr_zone_0": 41000,
    "hr_zone_1": 2400,
    "hr_zone_2": 600,
    "hr_zone_3": 60,
}


def summaries(*rows: dict[str, Any]) -> list[dict[str, Any]]:
    produced = run(Endpoint.GETACTIVITY, {"activities": list(rows), "more": False, "offset": 0})
    return [structure(document) for document in jsons(produced)]


def test_every_mapped_key_of_a_full_day() -> None:
    produced = run(Endpoint.GETACTIVITY, {"activities": [FULL], "more": False})
    (item,) = produced
    assert item.identity.source_key == "2023-11-14"
    summary = structure(jsons(produced)[0])
    assert summary["metadata"] == {
        "datetime_string": "2023-11-14T00:00:00.000000-03:30",  # local midnight, not UTC
        "user_id_string": USER_ID,
        "sources_of_data_array": ["Withings"],
    }
    activity = summary["activity"]
    assert activity["active_seconds_int"] == 1920
    assert activity["low_intensity_seconds_int"] == 5220
    assert activity["moderate_intensity_seconds_int"] == 1500
    assert activity["vigorous_intensity_seconds_int"] == 420
    calories = summary["calories"]
    assert calories["calories_expenditure_kcal_float"] == 2381.3
    assert calories["calories_net_active_kcal_float"] == 412.1
    # 2381.3 − 412.1 = 1969.2 exactly (binary floats would give 1969.2000000000003).
    assert calories["calories_basal_metabolic_rate_kcal_float"] == 1969.2
    distance = summary["distance"]
    assert distance["steps_int"] == 8421
    assert distance["walked_distance_meters_float"] == 6312.4
    assert distance["traveled_distance_meters_float"] == 6312.4
    assert distance["floors_climbed_float"] == 7.0
    heart_rate = summary["heart_rate"]
    assert (heart_rate["hr_avg_bpm_int"], heart_rate["hr_minimum_bpm_int"]) == (71, 52)
    assert heart_rate["hr_maximum_bpm_int"] == 141
    assert summary["non_structured_data_array"] == [FULL]


def test_several_rows_for_one_date_prefer_withings_then_latest_and_never_add() -> None:
    base = {"date": "2023-11-15", "timezone": "Europe/Paris"}
    google = {**base, "brand": 18, "modified": 1_700_100_000, "steps": 9000}
    older = {**base, "brand": 1, "modified": 1_700_000_000, "steps": 5000}
    newer = {**base, "brand": 1, "modified": 1_700_050_000, "steps": 6000}
    (summary,) = summaries(google, newer, older)
    assert summary["distance"]["steps_int"] == 6000
    assert summary["non_structured_data_array"] == [newer]


def test_another_source_counts_when_it_is_the_only_one() -> None:
    row = {"date": "2023-11-15", "timezone": "Europe/Paris", "brand": 18, "steps": 1209}
    (summary,) = summaries(row)
    assert summary["distance"]["steps_int"] == 1209


def test_active_falls_back_to_moderate_plus_intense_but_not_from_zero() -> None:
    fallback = {"date": "2023-11-15", "timezone": "UTC", "moderate": 1500, "intense": 420}
    zero = {"date": "2023-11-16", "timezone": "UTC", "active": 0, "moderate": 100, "intense": 5}
    first, second = summaries(fallback, zero)
    assert first["activity"]["active_seconds_int"] == 1920
    assert second["activity"]["active_seconds_int"] == 0
    assert first["metadata"]["datetime_string"] == "2023-11-15T00:00:00.000000Z"


def test_heart_rate_of_zero_or_absent_is_null_and_basal_needs_both() -> None:
    row = {"date": "2023-11-15", "timezone": "UTC", "hr_average": 0, "hr_min": 0, "calories": 85.5}
    (summary,) = summaries(row)
    assert summary["heart_rate"]["hr_avg_bpm_int"] is None
    assert summary["heart_rate"]["hr_minimum_bpm_int"] is None
    assert summary["heart_rate"]["hr_maximum_bpm_int"] is None
    assert summary["calories"]["calories_basal_metabolic_rate_kcal_float"] is None
    assert summary["calories"]["calories_net_active_kcal_float"] == 85.5


def test_day_of_the_spring_dst_change_starts_at_its_own_midnight() -> None:
    (summary,) = summaries({"date": "2023-03-26", "timezone": "Europe/Paris", "steps": 10})
    assert summary["metadata"]["datetime_string"] == "2023-03-26T00:00:00.000000+01:00"


@pytest.mark.parametrize(
    ("zone_name", "offset"),
    [
        ("America/St_Johns", "-03:30"),
        ("America/Los_Angeles", "-08:00"),
        ("Asia/Kolkata", "+05:30"),
        ("Asia/Kathmandu", "+05:45"),
        ("Pacific/Chatham", "+13:45"),
    ],
)
def test_a_row_is_the_summary_of_its_own_local_date_in_every_zone(
    zone_name: str, offset: str
) -> None:
    # The 27th's local midnight falls on the 26th in UTC east of Greenwich, after it west of it.
    (summary,) = summaries({"date": "2026-11-27", "timezone": zone_name, "steps": 3898})
    assert summary["metadata"]["datetime_string"] == f"2026-11-27T00:00:00.000000{offset}"
    assert summary["distance"]["steps_int"] == 3898


# St John's: 2023-11-14T00:00 local = 03:30Z = 1699932600; the 15th starts at 1700019000.
NOV_14 = 1_699_932_600
NOV_15 = 1_700_019_000


def test_intraday_samples_of_the_local_day_become_granular_arrays() -> None:
    intraday = {
        "series": {
            str(NOV_14): {
                "deviceid": "d",
                "model": "ScanWatch",
                "model_id": 93,
                "steps": 42,
                "duration": 60,
                "heart_rate": 88,
            },
            str(NOV_14 + 60): {
                "deviceid": "d",
                "model": "ScanWatch",
                "model_id": 93,
                "heart_rate": 91,
            },
            str(NOV_15): {
                "deviceid": "d",
                "model": "ScanWatch",
                "model_id": 93,
                "steps": 10,
                "duration": 60,
            },
            str(NOV_14 - 60): {
                "deviceid": "d",
                "model": "ScanWatch",
                "model_id": 93,
                "steps": 7,
                "duration": 60,
            },
        }
    }
    produced = physical_summaries(
        parse_getactivity({"activities": [FULL]}), ctx(), parse_getintradayactivity(intraday)
    )
    summary = structure(jsons(produced)[0])
    assert summary["distance"]["steps_granular_data_array"] == [
        {
            "datetime_string": "2023-11-14T00:00:00.000000-03:30",
            "interval_duration_seconds_float": 60.0,
            "steps_int": 42,
        }
    ]
    assert summary["heart_rate"]["hr_granular_data_array"] == [
        {
            "datetime_string": "2023-11-14T00:00:00.000000-03:30",
            "interval_duration_seconds_float": 60.0,
            "hr_bpm_int": 88,
        },
        {
            "datetime_string": "2023-11-14T00:01:00.000000-03:30",
            "interval_duration_seconds_float": None,
            "hr_bpm_int": 91,
        },
    ]
    assert summary["distance"]["steps_int"] == 8421  # the row's total, not the samples' sum


def test_intraday_alone_buckets_by_the_users_local_day() -> None:
    # 1699979100 = 2023-11-14T16:25Z = 22:10 in Kathmandu; 1699999200 = 22:00Z = 03:45 on the 15th.
    # Bucketed by UTC both would land on the 14th.
    intraday = {
        "series": {
            "1699979100": {"steps": 30, "duration": 60},
            "1699999200": {"steps": 12, "duration": 60, "heart_rate": 0},
        }
    }
    produced = run(Endpoint.GETINTRADAYACTIVITY, intraday, ctx("Asia/Kathmandu"))
    assert [item.identity.source_key for item in produced] == ["2023-11-14", "2023-11-15"]
    first, second = (structure(document) for document in jsons(produced))
    assert first["metadata"]["datetime_string"] == "2023-11-14T00:00:00.000000+05:45"
    assert first["distance"]["steps_granular_data_array"][0]["datetime_string"] == (
        "2023-11-14T22:10:00.000000+05:45"
    )
    assert first["distance"]["steps_int"] is None  # part of a day is not the day's total
    assert second["heart_rate"]["hr_granular_data_array"] == []  # 0 bpm is no reading
    assert second["non_structured_data_array"] == [
        {"1699999200": {"steps": 12, "duration": 60, "heart_rate": 0}}
    ]
