"""The sleep pillar: `sleep_summary` (schema `SleepSummary`)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from typing_extensions import TypedDict

from rookery.model.common import (
    WIRE_STRING,
    DataStructure,
    DateString,
    DatetimeString,
    HeartRate,
    Pillar,
    RookModel,
    SummaryDocument,
    SummaryOf,
    SummaryStructure,
    Temperature,
    granular_item,
)


@granular_item
class BreathingGranularItem(TypedDict):
    datetime_string: DatetimeString | None
    breaths_per_min_int: int | None


@granular_item
class SnoringGranularItem(TypedDict):
    datetime_string: DatetimeString | None
    interval_duration_seconds_float: float | None
    snoring_events_count_int: int | None


@granular_item
class SleepSaturationGranularItem(TypedDict):
    """One SpO2 sample of the night; the schema spells its interval key with `_number`."""

    datetime_string: DatetimeString | None
    interval_duration_seconds_float_number: float | None
    saturation_percentage_int: int | None


class SleepDuration(RookModel):
    sleep_start_datetime_string: DatetimeString | None = None
    sleep_end_datetime_string: DatetimeString | None = None
    sleep_date_string: DateString | None = None
    sleep_duration_seconds_int: int | None = None
    time_in_bed_seconds_int: int | None = None
    light_sleep_duration_seconds_int: int | None = None
    rem_sleep_duration_seconds_int: int | None = None
    deep_sleep_duration_seconds_int: int | None = None
    time_to_fall_asleep_seconds_int: int | None = None
    time_awake_during_sleep_seconds_int: int | None = None


class SleepScores(RookModel):
    sleep_quality_rating_1_5_score_int: int | None = None
    sleep_efficiency_1_100_score_int: int | None = None
    sleep_goal_seconds_int: int | None = None
    sleep_continuity_1_5_score_int: int | None = None
    sleep_continuity_1_5_rating_int: int | None = None


class SleepHeartRate(HeartRate):
    """The night's heart rate: the shared block plus the basal rate only sleep has."""

    hr_basal_bpm_int: int | None = None


class SleepBreathing(RookModel):
    breaths_minimum_per_min_int: int | None = None
    breaths_avg_per_min_int: int | None = None
    breaths_maximum_per_min_int: int | None = None
    breathing_granular_data_array: tuple[BreathingGranularItem, ...] = ()
    snoring_events_count_int: int | None = None
    snoring_duration_total_seconds_int: int | None = None
    snoring_granular_data_array: tuple[SnoringGranularItem, ...] = ()
    saturation_avg_percentage_int: int | None = None
    saturation_minimum_percentage_int: int | None = None
    saturation_maximum_percentage_int: int | None = None
    saturation_granular_data_array: tuple[SleepSaturationGranularItem, ...] = ()


class SleepSummary(SummaryStructure):
    """`sleep_health.summary.sleep_summary`."""

    duration: SleepDuration = SleepDuration()
    scores: SleepScores = SleepScores()
    heart_rate: SleepHeartRate = SleepHeartRate()
    temperature: Temperature = Temperature()
    breathing: SleepBreathing = SleepBreathing()


class SleepSummaryBox(RookModel):
    sleep_summary: SleepSummary = SleepSummary()


class SleepSummaryDocument(SummaryDocument[SleepSummary]):
    PILLAR: ClassVar[Pillar] = Pillar.SLEEP_HEALTH
    DATA_STRUCTURE: ClassVar[DataStructure] = DataStructure.SLEEP_SUMMARY

    data_structure: Annotated[Literal[DataStructure.SLEEP_SUMMARY], WIRE_STRING] = (
        DataStructure.SLEEP_SUMMARY
    )
    sleep_health: SummaryOf[SleepSummaryBox] = SummaryOf(summary=SleepSummaryBox())
