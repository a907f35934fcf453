"""The physical pillar: `physical_summary`, `activity_event`, and its `heart_rate_event` and
`oxygenation_event` (schemas `PhysicalSummary`, `ActivityEvent`, `HeartRateEvent`,
`OxygenationEvent`)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from typing_extensions import TypedDict

from rookery.model.common import (
    WIRE_STRING,
    Activity,
    Calories,
    DataStructure,
    DatetimeString,
    Distance,
    EventDocument,
    EventsOf,
    EventStructure,
    HeartRate,
    HeartRateEvent,
    HeartRateEventBox,
    Oxygenation,
    OxygenationEvent,
    OxygenationEventBox,
    Pillar,
    RookModel,
    StressLevels,
    SummaryDocument,
    SummaryOf,
    SummaryStructure,
    granular_item,
)

# ---------------------------------------------------------------------------------------------
# physical_summary


@granular_item
class ActiveStepsGranularItem(TypedDict):
    datetime_string: DatetimeString | None
    interval_duration_seconds_float: float | None
    active_steps_int: int | None


@granular_item
class StressGranularItem(TypedDict):
    datetime_string: DatetimeString | None
    stress_score_int: int | None


class PhysicalSummaryDistance(Distance):
    """The day's distance: the activity event's keys plus active steps."""

    active_steps_int: int | None = None
    active_steps_granular_data_array: tuple[ActiveStepsGranularItem, ...] = ()


class PhysicalSummaryStress(StressLevels):
    stress_granular_data_array: tuple[StressGranularItem, ...] = ()


class PhysicalSummary(SummaryStructure):
    """`physical_health.summary.physical_summary`."""

    activity: Activity = Activity()
    calories: Calories = Calories()
    distance: PhysicalSummaryDistance = PhysicalSummaryDistance()
    heart_rate: HeartRate = HeartRate()
    oxygenation: Oxygenation = Oxygenation()
    stress: PhysicalSummaryStress = PhysicalSummaryStress()


class PhysicalSummaryBox(RookModel):
    physical_summary: PhysicalSummary = PhysicalSummary()


class PhysicalSummaryDocument(SummaryDocument[PhysicalSummary]):
    PILLAR: ClassVar[Pillar] = Pillar.PHYSICAL_HEALTH
    DATA_STRUCTURE: ClassVar[DataStructure] = DataStructure.PHYSICAL_SUMMARY

    data_structure: Annotated[Literal[DataStructure.PHYSICAL_SUMMARY], WIRE_STRING] = (
        DataStructure.PHYSICAL_SUMMARY
    )
    physical_health: SummaryOf[PhysicalSummaryBox] = SummaryOf(summary=PhysicalSummaryBox())


# ---------------------------------------------------------------------------------------------
# activity_event


@granular_item
class CadenceGranularItem(TypedDict):
    datetime_string: DatetimeString | None
    interval_duration_seconds_float: float | None
    cadence_rpm_float: float | None


@granular_item
class SpeedGranularItem(TypedDict):
    datetime_string: DatetimeString | None
    interval_duration_seconds_float: float | None
    speed_meters_per_second_float: float | None


@granular_item
class LapGranularItem(TypedDict):
    datetime_string: DatetimeString | None
    interval_duration_seconds_float: float | None
    laps_int: int | None


@granular_item
class TorqueGranularItem(TypedDict):
    datetime_string: DatetimeString | None
    interval_duration_seconds_float: float | None
    torque_newton_meters_float: float | None


@granular_item
class PositionGranularItem(TypedDict):
    datetime_string: DatetimeString | None
    interval_duration_seconds_float: float | None
    lat_deg_float: float | None
    lng_deg_float: float | None


@granular_item
class PowerGranularItem(TypedDict):
    datetime_string: DatetimeString | None
    interval_duration_seconds_float: float | None
    power_watts_float: float | None


@granular_item
class TssGranularItem(TypedDict):
    datetime_string: DatetimeString | None
    tss_score_int: int | None


class VelocityObject(RookModel):
    direction_string: str | None = None
    speed_meters_per_second_float: float | None = None


class PositionObject(RookModel):
    lat_deg_float: float | None = None
    lng_deg_float: float | None = None


class ActivityEventActivity(Activity):
    """The workout's activity: the summary's intensity keys plus the session's own."""

    activity_start_datetime_string: DatetimeString | None = None
    activity_end_datetime_string: DatetimeString | None = None
    activity_duration_seconds_int: int | None = None
    activity_type_name_string: str | None = None
    activity_strain_level_float: float | None = None
    activity_work_kilojoules_float: float | None = None
    activity_energy_kilojoules_float: float | None = None
    activity_energy_planned_kilojoules_float: float | None = None


class ActivityEventCalories(Calories):
    fat_percentage_of_calories_int: int | None = None
    carbohydrate_percentage_of_calories_int: int | None = None
    protein_percentage_of_calories_int: int | None = None


class Movement(RookModel):
    cadence_avg_rpm_float: float | None = None
    cadence_maximum_rpm_float: float | None = None
    cadence_granular_data_array: tuple[CadenceGranularItem, ...] = ()
    pace_avg_min_per_km_float: float | None = None
    pace_maximum_min_per_km_float: float | None = None
    speed_avg_meters_per_second_float: float | None = None
    speed_maximum_meters_per_second_float: float | None = None
    speed_normalized_meters_per_second_float: float | None = None
    speed_granular_data_array: tuple[SpeedGranularItem, ...] = ()
    lap_granular_data_array: tuple[LapGranularItem, ...] = ()
    torque_avg_newton_meters_float: float | None = None
    torque_maximum_newton_meters_float: float | None = None
    torque_granular_data_array: tuple[TorqueGranularItem, ...] = ()
    velocity_avg_object: VelocityObject = VelocityObject()
    velocity_maximum_object: VelocityObject = VelocityObject()


class Position(RookModel):
    position_start_object: PositionObject = PositionObject()
    position_end_object: PositionObject = PositionObject()
    position_centroid_object: PositionObject = PositionObject()
    position_granular_data_array: tuple[PositionGranularItem, ...] = ()
    position_polyline_map_data_summary_string: str | None = None


class Power(RookModel):
    power_avg_watts_float: float | None = None
    power_maximum_watts_float: float | None = None
    power_granular_data_array: tuple[PowerGranularItem, ...] = ()


class ActivityEventStress(StressLevels):
    tss_granular_data_array: tuple[TssGranularItem, ...] = ()


class ActivityEvent(EventStructure):
    """One element of `physical_health.events.activity_event`: a workout."""

    activity: ActivityEventActivity = ActivityEventActivity()
    calories: ActivityEventCalories = ActivityEventCalories()
    distance: Distance = Distance()
    heart_rate: HeartRate = HeartRate()
    movement: Movement = Movement()
    oxygenation: Oxygenation = Oxygenation()
    position: Position = Position()
    power: Power = Power()
    stress: ActivityEventStress = ActivityEventStress()


class ActivityEventBox(RookModel):
    activity_event: tuple[ActivityEvent, ...] = ()


class ActivityEventDocument(EventDocument[ActivityEvent]):
    PILLAR: ClassVar[Pillar] = Pillar.PHYSICAL_HEALTH
    DATA_STRUCTURE: ClassVar[DataStructure] = DataStructure.ACTIVITY_EVENT

    data_structure: Annotated[Literal[DataStructure.ACTIVITY_EVENT], WIRE_STRING] = (
        DataStructure.ACTIVITY_EVENT
    )
    physical_health: EventsOf[ActivityEventBox] = EventsOf(events=ActivityEventBox())


# ---------------------------------------------------------------------------------------------
# heart_rate_event and oxygenation_event, filed under the physical pillar


class PhysicalHeartRateEventDocument(EventDocument[HeartRateEvent]):
    PILLAR: ClassVar[Pillar] = Pillar.PHYSICAL_HEALTH
    DATA_STRUCTURE: ClassVar[DataStructure] = DataStructure.HEART_RATE_EVENT

    data_structure: Annotated[Literal[DataStructure.HEART_RATE_EVENT], WIRE_STRING] = (
        DataStructure.HEART_RATE_EVENT
    )
    physical_health: EventsOf[HeartRateEventBox] = EventsOf(events=HeartRateEventBox())


class PhysicalOxygenationEventDocument(EventDocument[OxygenationEvent]):
    PILLAR: ClassVar[Pillar] = Pillar.PHYSICAL_HEALTH
    DATA_STRUCTURE: ClassVar[DataStructure] = DataStructure.OXYGENATION_EVENT

    data_structure: Annotated[Literal[DataStructure.OXYGENATION_EVENT], WIRE_STRING] = (
        DataStructure.OXYGENATION_EVENT
    )
    physical_health: EventsOf[OxygenationEventBox] = EventsOf(events=OxygenationEventBox())
