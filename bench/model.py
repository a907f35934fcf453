"""How fast the model builds and serialises documents, the way the transforms will.

Run: `.venv/bin/python bench/model.py`. Prints µs per document and documents per second on one
core for build + `model_dump_json()`, and the cost of `fingerprint` and of an empty document.
Times are CPU time of this process, so a busy machine skews them less than wall time would.
"""

from __future__ import annotations

import time
import timeit
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from rookery.model.body import BodyMetricsEvent, BodyMetricsEventDocument
from rookery.model.common import (
    BodyMetrics,
    Distance,
    HeartRate,
    HrGranularItem,
    Oxygenation,
    RookDocument,
    event_metadata,
    format_datetime,
    summary_metadata,
)
from rookery.model.identity import fingerprint
from rookery.model.physical import (
    ActivityEvent,
    ActivityEventActivity,
    ActivityEventCalories,
    ActivityEventDocument,
)
from rookery.model.sleep import (
    SleepBreathing,
    SleepDuration,
    SleepHeartRate,
    SleepScores,
    SleepSummary,
    SleepSummaryDocument,
)

PARIS = ZoneInfo("Europe/Paris")
CLIENT_UUID = "7b1f3c2e-8d4a-4f6b-9c1d-2e3f4a5b6c7d"
USER_ID = "user-42"
START = datetime(2023, 11, 13, 23, 5, tzinfo=PARIS)
END = datetime(2023, 11, 14, 6, 40, tzinfo=PARIS)
RAW_SLEEP = {
    "id": 2081804182,
    "timezone": "Europe/Paris",
    "model": 32,
    "model_id": 63,
    "startdate": 1699913100,
    "enddate": 1699940400,
    "date": "2023-11-14",
    "data": {"total_sleep_time": 25200, "hr_average": 58, "hr_min": 49, "hr_max": 71},
    "created": 1699941000,
    "modified": 1699941000,
}


def sleep_summary(hr_samples: int) -> SleepSummaryDocument:
    points: tuple[HrGranularItem, ...] = tuple(
        {
            "datetime_string": format_datetime(START + timedelta(minutes=minute)),
            "interval_duration_seconds_float": 60.0,
            "hr_bpm_int": 55 + minute % 10,
        }
        for minute in range(hr_samples)
    )
    summary = SleepSummary(
        metadata=summary_metadata(END, USER_ID),
        duration=SleepDuration(
            sleep_start_datetime_string=format_datetime(START),
            sleep_end_datetime_string=format_datetime(END),
            sleep_date_string="2023-11-14",
            sleep_duration_seconds_int=25_200,
            time_in_bed_seconds_int=27_300,
            light_sleep_duration_seconds_int=14_000,
            deep_sleep_duration_seconds_int=6_000,
            rem_sleep_duration_seconds_int=5_200,
            time_to_fall_asleep_seconds_int=600,
            time_awake_during_sleep_seconds_int=1_500,
        ),
        scores=SleepScores(sleep_efficiency_1_100_score_int=92),
        heart_rate=SleepHeartRate(
            hr_avg_bpm_int=58,
            hr_minimum_bpm_int=49,
            hr_maximum_bpm_int=71,
            hr_granular_data_array=points,
        ),
        breathing=SleepBreathing(
            breaths_avg_per_min_int=14,
            breaths_minimum_per_min_int=11,
            breaths_maximum_per_min_int=18,
            snoring_duration_total_seconds_int=900,
            snoring_events_count_int=4,
        ),
        non_structured_data_array=(RAW_SLEEP,),
    )
    return SleepSummaryDocument.of(summary, client_uuid=CLIENT_UUID, user_id=USER_ID)


def body_metrics_event() -> BodyMetricsEventDocument:
    event = BodyMetricsEvent(
        metadata=event_metadata(END, USER_ID, under_physical_activity=False),
        body_metrics=BodyMetrics(
            weight_kg_float=75.232,
            height_cm_int=181,
            bmi_float=22.96,
            muscle_composition_percentage_int=44,
            water_composition_percentage_int=55,
            bone_composition_percentage_int=4,
        ),
        non_structured_data_array=(
            {
                "grpid": 5423702714,
                "attrib": 0,
                "date": 1699940400,
                "category": 1,
                "measures": [{"value": 75232, "type": 1, "unit": -3, "algo": 0, "fm": 3}],
            },
        ),
    )
    return BodyMetricsEventDocument.of(event, client_uuid=CLIENT_UUID, user_id=USER_ID)


def activity_event() -> ActivityEventDocument:
    event = ActivityEvent(
        metadata=event_metadata(START, USER_ID, under_physical_activity=True),
        activity=ActivityEventActivity(
            activity_start_datetime_string=format_datetime(START),
            activity_end_datetime_string=format_datetime(END),
            activity_duration_seconds_int=3_600,
            activity_type_name_string="Run",
            rest_seconds_int=120,
        ),
        calories=ActivityEventCalories(calories_net_active_kcal_float=612.4),
        distance=Distance(
            steps_int=9_800,
            walked_distance_meters_float=10_012.0,
            traveled_distance_meters_float=10_012.0,
        ),
        heart_rate=HeartRate(hr_avg_bpm_int=148, hr_minimum_bpm_int=96, hr_maximum_bpm_int=181),
        oxygenation=Oxygenation(saturation_avg_percentage_int=97),
        non_structured_data_array=(
            {
                "id": 3661300277,
                "category": 1,
                "timezone": "Europe/Paris",
                "startdate": 1699913100,
                "enddate": 1699916700,
                "date": "2023-11-13",
                "data": {"calories": 612.4, "steps": 9800, "distance": 10012, "hr_average": 148},
            },
        ),
    )
    return ActivityEventDocument.of(event, client_uuid=CLIENT_UUID, user_id=USER_ID)


def cpu_seconds(statement: Callable[[], object], number: int, repeat: int) -> float:
    """The fastest of `repeat` runs of `number` calls, in CPU seconds per call."""
    timer = timeit.Timer(statement, timer=time.process_time)
    return min(timer.repeat(number=number, repeat=repeat)) / number


def measure(name: str, build: Callable[[], RookDocument], repeat: int) -> None:
    def build_and_dump() -> str:
        return build().model_dump_json()

    per_document_s = cpu_seconds(build_and_dump, repeat, 5)
    document = build()
    fingerprint_s = cpu_seconds(lambda: fingerprint(document), repeat, 3)
    print(
        f"{name:<34} build+dump {per_document_s * 1e6:8.1f} µs  "
        f"{1 / per_document_s:9,.0f} docs/s   fingerprint {fingerprint_s * 1e6:7.1f} µs"
        f"   {len(document.model_dump_json()):6,} bytes"
    )


def main() -> None:
    measure("sleep_summary (no granular)", lambda: sleep_summary(0), 20_000)
    measure("sleep_summary (455 hr samples)", lambda: sleep_summary(455), 500)
    measure("body_metrics_event", body_metrics_event, 20_000)
    measure("activity_event", activity_event, 20_000)
    empty_s = cpu_seconds(
        lambda: ActivityEventDocument.empty(client_uuid=CLIENT_UUID, user_id=USER_ID), 20_000, 5
    )
    print(f"{'empty activity_event document':<34} build      {empty_s * 1e6:8.1f} µs")


if __name__ == "__main__":
    main()
