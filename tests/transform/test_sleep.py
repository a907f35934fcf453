"""sleep_summary golden cases: every number below is worked out by hand from the raw values."""

from __future__ import annotations

from typing import Any

from rookery.model.common import DataStructure, Pillar
from rookery.withings.responses import Endpoint
from tests.transform.support import CLIENT_UUID, USER_ID, ctx, jsons, run, structure

# Asia/Kathmandu (+05:45): 1699978500 = 2023-11-14T16:15Z = 22:00 local; +8 h = 06:00 local.
KTM_START = 1_699_978_500
KTM_END = 1_700_007_300


def row(
    id_: int,
    start: int,
    end: int,
    day: str,
    data: dict[str, Any],
    *,
    tz: str = "Asia/Kathmandu",
    modified: int = 1_700_030_000,
) -> dict[str, Any]:
    return {
        "id": id_,
        "timezone": tz,
        "model": 32,
        "model_id": 63,
        "hash_deviceid": "201d0b9a0556d6b755166b2cf8d22d3bdf0487ee",
        "startdate": start,
        "enddate": end,
        "date": day,
        "created": modified,
        "modified": modified,
        "data": data,
    }


FULL_DATA: dict[str, Any] = {
    "total_timeinbed": 28800,
    "total_sleep_time": 25200,
    "lightsleepduration": 12600,
    "deepsleepduration": 6300,
    "remsleepduration": 6300,
    "sleep_latency": 900,
    "durationtosleep": 600,
    "waso": 2700,
    "wakeupduration": 3600,
    "sleep_efficiency": 0.875,
    "hr_average": 58,
    "hr_min": 49,
    "hr_max": 77,
    "rr_average": 14,
    "rr_min": 11,
    "rr_max": 18,
    "snoring": 1080,
    "snoringepisodecount": 9,
    "sleep_score": 81,
    "wakeupcount": 2,
    "out_of_bed_count": 1,
    "apnea_hypopnea_index": 4,
    "breathing_disturbances_intensity": 12,
}


def summaries(*rows: dict[str, Any], detail: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    body = {"series": list(rows), "more": False, "offset": 0}
    return [structure(d) for d in jsons(run(Endpoint.SLEEP_GETSUMMARY, body))]


def test_every_mapped_key_of_a_full_night() -> None:
    main = row(1, KTM_START, KTM_END, "2023-11-15", FULL_DATA)
    produced = run(Endpoint.SLEEP_GETSUMMARY, {"series": [main], "more": False})
    (item,) = produced
    assert item.identity.user_id == USER_ID
    assert item.identity.pillar == Pillar.SLEEP_HEALTH
    assert item.identity.data_structure == DataStructure.SLEEP_SUMMARY
    assert item.identity.source_key == "2023-11-15"
    assert item.local_date.isoformat() == "2023-11-15"
    (document,) = jsons(produced)
    assert document["version"] == 2
    assert document["document_version"] == 1
    assert document["client_uuid"] == CLIENT_UUID
    assert document["user_id"] == USER_ID
    assert "auto_detected" not in document  # summaries carry no auto_detected
    summary = structure(document)
    assert summary["metadata"] == {
        "datetime_string": "2023-11-15T06:00:00.000000+05:45",
        "user_id_string": USER_ID,
        "sources_of_data_array": ["Withings"],
    }
    assert summary["duration"] == {
        "sleep_start_datetime_string": "2023-11-14T22:00:00.000000+05:45",
        "sleep_end_datetime_string": "2023-11-15T06:00:00.000000+05:45",
        "sleep_date_string": "2023-11-15",
        "sleep_duration_seconds_int": 25200,
        "time_in_bed_seconds_int": 28800,
        "light_sleep_duration_seconds_int": 12600,
        "rem_sleep_duration_seconds_int": 6300,
        "deep_sleep_duration_seconds_int": 6300,
        "time_to_fall_asleep_seconds_int": 900,  # sleep_latency, not durationtosleep
        "time_awake_during_sleep_seconds_int": 2700,  # waso, not wakeupduration
    }
    assert summary["scores"]["sleep_efficiency_1_100_score_int"] == 88  # 87.5 → 88
    assert summary["scores"]["sleep_quality_rating_1_5_score_int"] is None
    heart_rate = summary["heart_rate"]
    assert (heart_rate["hr_avg_bpm_int"], heart_rate["hr_minimum_bpm_int"]) == (58, 49)
    assert heart_rate["hr_maximum_bpm_int"] == 77
    assert heart_rate["hr_granular_data_array"] == []
    breathing = summary["breathing"]
    assert breathing["breaths_avg_per_min_int"] == 14
    assert breathing["breaths_minimum_per_min_int"] == 11
    assert breathing["breaths_maximum_per_min_int"] == 18
    assert breathing["snoring_duration_total_seconds_int"] == 1080
    assert breathing["snoring_events_count_int"] == 9
    assert breathing["saturation_avg_percentage_int"] is None
    assert summary["non_structured_data_array"] == [main]  # sleep_score etc. stay here


def test_fallbacks_apply_only_when_absent_or_null() -> None:
    data = {
        "lightsleepduration": 10000,
        "deepsleepduration": 5000,
        "remsleepduration": None,
        "sleep_latency": None,
        "durationtosleep": 600,
        "wakeupduration": 1200,
    }
    (summary,) = summaries(row(2, KTM_START, KTM_END, "2023-11-15", data))
    duration = summary["duration"]
    assert duration["sleep_duration_seconds_int"] == 15000  # light + deep (REM unknown)
    assert duration["time_in_bed_seconds_int"] == 28800  # enddate − startdate
    assert duration["time_to_fall_asleep_seconds_int"] == 600
    assert duration["time_awake_during_sleep_seconds_int"] == 1200
    assert duration["rem_sleep_duration_seconds_int"] is None
    assert summary["scores"]["sleep_efficiency_1_100_score_int"] is None
    assert summary["heart_rate"]["hr_avg_bpm_int"] is None


def test_without_total_sleep_time_the_stages_are_added() -> None:
    data = {
        "lightsleepduration": 12600,
        "deepsleepduration": 6300,
        "remsleepduration": 5400,
        "asleepduration": 21000,  # not reached: the stages come first
    }
    (summary,) = summaries(row(6, KTM_START, KTM_END, "2023-11-15", data))
    assert summary["duration"]["sleep_duration_seconds_int"] == 24300  # 12600 + 6300 + 5400


def test_asleepduration_is_the_last_fallback() -> None:
    (summary,) = summaries(row(3, KTM_START, KTM_END, "2023-11-15", {"asleepduration": 21000}))
    assert summary["duration"]["sleep_duration_seconds_int"] == 21000


def test_zero_does_not_fall_back() -> None:
    data = {
        "total_sleep_time": 0,
        "lightsleepduration": 100,
        "asleepduration": 300,
        "total_timeinbed": 0,
        "sleep_latency": 0,
        "durationtosleep": 600,
        "waso": 0,
        "wakeupduration": 50,
        "sleep_efficiency": 0,
    }
    (summary,) = summaries(row(4, KTM_START, KTM_END, "2023-11-15", data))
    duration = summary["duration"]
    assert duration["sleep_duration_seconds_int"] == 0
    assert duration["time_in_bed_seconds_int"] == 0
    assert duration["time_to_fall_asleep_seconds_int"] == 0
    assert duration["time_awake_during_sleep_seconds_int"] == 0
    assert summary["scores"]["sleep_efficiency_1_100_score_int"] == 0


def test_rounding_is_half_away_from_zero_on_the_written_value() -> None:
    data = {"sleep_efficiency": 0.575, "hr_average": 57.5, "rr_average": 13.49}
    (summary,) = summaries(row(5, KTM_START, KTM_END, "2023-11-15", data))
    assert summary["scores"]["sleep_efficiency_1_100_score_int"] == 58  # 0.575 × 100 = 57.5
    assert summary["heart_rate"]["hr_avg_bpm_int"] == 58
    assert summary["breathing"]["breaths_avg_per_min_int"] == 13


def test_main_sleep_beats_a_nap_and_a_lone_nap_is_kept() -> None:
    main = row(10, KTM_START, KTM_END, "2023-11-15", {"total_sleep_time": 25200})
    # 10:45 → 11:45 local the next morning: a 1 h nap on the same date, delivered last.
    nap = row(11, 1_700_024_400, 1_700_028_000, "2023-11-15", {"total_sleep_time": 3000})
    # 2023-11-16 11:45 → 13:45 local (06:00Z → 08:00Z): a 2 h nap, the only session of its date.
    lone_nap = row(12, 1_700_114_400, 1_700_121_600, "2023-11-16", {"total_sleep_time": 6000})
    first, second = summaries(main, nap, lone_nap)
    assert first["duration"]["sleep_date_string"] == "2023-11-15"
    assert first["duration"]["sleep_duration_seconds_int"] == 25200
    assert first["non_structured_data_array"][0]["id"] == 10
    assert second["duration"]["sleep_date_string"] == "2023-11-16"
    assert second["duration"]["sleep_duration_seconds_int"] == 6000
    assert second["duration"]["sleep_start_datetime_string"] == "2023-11-16T11:45:00.000000+05:45"


def test_longest_of_two_long_sessions_wins_and_they_are_not_added() -> None:
    four_h = row(20, KTM_START, KTM_START + 4 * 3600, "2023-11-15", {"total_sleep_time": 13000})
    five_h = row(
        21, KTM_START + 5 * 3600, KTM_START + 10 * 3600, "2023-11-15", {"total_sleep_time": 16000}
    )
    (summary,) = summaries(five_h, four_h)
    assert summary["duration"]["sleep_duration_seconds_int"] == 16000


def test_a_redelivered_night_replaces_the_earlier_copy() -> None:
    old = row(30, KTM_START, KTM_END, "2023-11-15", {"total_sleep_time": 20000}, modified=10)
    new = row(30, KTM_START, KTM_END, "2023-11-15", {"total_sleep_time": 24000}, modified=20)
    (summary,) = summaries(new, old)
    assert summary["duration"]["sleep_duration_seconds_int"] == 24000


def test_night_across_the_autumn_dst_change() -> None:
    # Paris, 2023-10-28 21:00Z (23:00 CEST) → 2023-10-29 06:00Z (07:00 CET): 9 h, not 8.
    night = row(40, 1_698_526_800, 1_698_559_200, "2023-10-29", {}, tz="Europe/Paris")
    (summary,) = summaries(night)
    duration = summary["duration"]
    assert duration["sleep_start_datetime_string"] == "2023-10-28T23:00:00.000000+02:00"
    assert duration["sleep_end_datetime_string"] == "2023-10-29T07:00:00.000000+01:00"
    assert duration["time_in_bed_seconds_int"] == 9 * 3600


def test_utc_night_is_written_with_z() -> None:
    night = row(41, 1_699_999_200, 1_700_020_800, "2023-11-15", {}, tz="UTC")
    (summary,) = summaries(night)
    assert summary["metadata"]["datetime_string"] == "2023-11-15T04:00:00.000000Z"


def segment(start: int, end: int, state: int, **series: dict[str, int]) -> dict[str, Any]:
    return {
        "startdate": start,
        "enddate": end,
        "state": state,
        "model": "Aura Sensor V2",
        "model_id": 63,
        "hash_deviceid": "201d0b9a0556d6b755166b2cf8d22d3bdf0487ee",
        **series,
    }


def test_granular_arrays_come_from_sleep_get_within_the_session() -> None:
    from rookery.transform.sleep import sleep_summaries
    from rookery.withings.responses import parse_sleep_get, parse_sleep_getsummary

    main = row(50, KTM_START, KTM_END, "2023-11-15", {"total_sleep_time": 25200})
    awake = segment(
        KTM_START,
        KTM_START + 600,
        0,
        hr={str(KTM_START): 64, str(KTM_START + 60): 63},
        rr={str(KTM_START): 15},
        snoring={str(KTM_START): 0},
    )
    light = segment(
        KTM_START + 600,
        KTM_START + 2400,
        1,
        hr={str(KTM_START + 600): 58},
        rr={str(KTM_START + 600): 13},
        snoring={str(KTM_START + 600): 1},
    )
    elsewhere = segment(1_700_110_000, 1_700_110_600, 1, hr={"1700110000": 70})
    produced = sleep_summaries(
        parse_sleep_getsummary({"series": [main]}),
        ctx(),
        parse_sleep_get({"model": 32, "series": [elsewhere, light, awake]}),
    )
    (summary,) = [structure(d) for d in jsons(produced)]
    assert summary["heart_rate"]["hr_granular_data_array"] == [
        {
            "datetime_string": "2023-11-14T22:00:00.000000+05:45",
            "interval_duration_seconds_float": 60.0,
            "hr_bpm_int": 64,
        },
        {
            "datetime_string": "2023-11-14T22:01:00.000000+05:45",
            "interval_duration_seconds_float": 60.0,
            "hr_bpm_int": 63,
        },
        {
            "datetime_string": "2023-11-14T22:10:00.000000+05:45",
            "interval_duration_seconds_float": 60.0,
            "hr_bpm_int": 58,
        },
    ]
    assert summary["breathing"]["breathing_granular_data_array"] == [
        {"datetime_string": "2023-11-14T22:00:00.000000+05:45", "breaths_per_min_int": 15},
        {"datetime_string": "2023-11-14T22:10:00.000000+05:45", "breaths_per_min_int": 13},
    ]
    assert [
        i["snoring_events_count_int"] for i in summary["breathing"]["snoring_granular_data_array"]
    ] == [0, 1]
    assert summary["non_structured_data_array"] == [main, awake, light]


# St John's (-03:30 in November): T0 = 1700015400 = 2023-11-15T02:30Z = 23:00 on the 14th.
T0 = 1_700_015_400


def test_sleep_get_alone_yields_a_summary_per_local_date() -> None:
    segments = [
        segment(T0, T0 + 600, 0),
        segment(
            T0 + 600,
            T0 + 3600,
            1,
            hr={str(T0 + 600): 60, str(T0 + 660): 61},
            rr={str(T0 + 600): 14},
        ),
        segment(T0 + 3600, T0 + 5400, 2, rr={str(T0 + 3600): 13}),
        segment(T0 + 5400, T0 + 6000, 0),
        segment(T0 + 6000, T0 + 9000, 3, hr={str(T0 + 6000): 55}),
        segment(T0 + 9000, T0 + 12600, 1),
        segment(T0 + 12600, T0 + 13200, 0),
        # Two hours later: a 30-minute nap on the same local date, which the night outranks.
        segment(T0 + 20400, T0 + 22200, 1),
    ]
    produced = run(
        Endpoint.SLEEP_GET, {"model": 32, "series": segments[::-1]}, ctx("America/St_Johns")
    )
    (item,) = produced
    assert item.identity.source_key == "2023-11-15"
    summary = structure(jsons(produced)[0])
    assert summary["duration"] == {
        "sleep_start_datetime_string": "2023-11-14T23:00:00.000000-03:30",
        "sleep_end_datetime_string": "2023-11-15T02:40:00.000000-03:30",
        "sleep_date_string": "2023-11-15",
        "sleep_duration_seconds_int": 11400,  # 6600 light + 1800 deep + 3000 REM
        "time_in_bed_seconds_int": 13200,
        "light_sleep_duration_seconds_int": 6600,
        "rem_sleep_duration_seconds_int": 3000,
        "deep_sleep_duration_seconds_int": 1800,
        "time_to_fall_asleep_seconds_int": 600,
        "time_awake_during_sleep_seconds_int": 600,  # the final awake segment is not WASO
    }
    assert summary["scores"]["sleep_efficiency_1_100_score_int"] == 86  # 11400 / 13200 = 86.4 %
    heart_rate = summary["heart_rate"]
    assert (
        heart_rate["hr_avg_bpm_int"],
        heart_rate["hr_minimum_bpm_int"],
        heart_rate["hr_maximum_bpm_int"],
    ) == (59, 55, 61)
    breathing = summary["breathing"]
    assert breathing["breaths_avg_per_min_int"] == 14  # 13.5 → 14
    assert (breathing["breaths_minimum_per_min_int"], breathing["breaths_maximum_per_min_int"]) == (
        13,
        14,
    )
    assert len(summary["non_structured_data_array"]) == 7


def test_segments_listed_twice_are_counted_once() -> None:
    night = [
        segment(T0, T0 + 600, 0),
        segment(T0 + 600, T0 + 4200, 1, hr={str(T0 + 600): 60}),
        segment(T0 + 4200, T0 + 12000, 2),
    ]
    once = run(Endpoint.SLEEP_GET, {"series": night}, ctx("America/St_Johns"))
    # A re-delivered page repeats every segment; another overlaps the light sleep by 10 minutes.
    overlapping = segment(T0 + 3600, T0 + 4200, 1)
    twice = run(
        Endpoint.SLEEP_GET, {"series": [*night, *night, overlapping]}, ctx("America/St_Johns")
    )
    first, second = structure(jsons(once)[0]), structure(jsons(twice)[0])
    assert first["duration"]["sleep_duration_seconds_int"] == 11400  # 3600 light + 7800 deep
    assert second["duration"] == first["duration"]
    assert (
        second["heart_rate"]["hr_granular_data_array"]
        == first["heart_rate"]["hr_granular_data_array"]
    )
