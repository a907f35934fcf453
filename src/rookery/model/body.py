"""The body pillar: `body_summary` and the body events (schemas `BodySummary`,
`BodyMetricsEvent`, `BodyBloodPressureEvent`, `BodyHeartRateEvent`, `BodyOxygenationEvent`,
`BodyTemperatureEvent`)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from typing_extensions import TypedDict

from rookery.model.common import (
    WIRE_STRING,
    BloodPressure,
    BodyMetrics,
    DataStructure,
    DateString,
    DatetimeString,
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
    SummaryDocument,
    SummaryOf,
    SummaryStructure,
    Temperature,
    TemperatureGranularItem,
    granular_item,
)

# ---------------------------------------------------------------------------------------------
# body_summary


@granular_item
class BloodGlucoseGranularItem(TypedDict):
    datetime_string: DatetimeString | None
    blood_glucose_mg_per_dL_int: int | None


@granular_item
class HydrationAmountGranularItem(TypedDict):
    datetime_string: DatetimeString | None
    interval_duration_seconds_float: float | None
    hydration_amount_mL_int: int | None


@granular_item
class HydrationLevelGranularItem(TypedDict):
    datetime_string: DatetimeString | None
    interval_duration_seconds_float: float | None
    hydration_level_percentage_int: int | None


@granular_item
class MoodGranularItem(TypedDict):
    datetime_string: DatetimeString | None
    interval_duration_seconds_float: float | None
    mood_scale_int: int | None


@granular_item
class MenstruationFlowGranularItem(TypedDict):
    datetime_string: DatetimeString | None
    flow_mL_int: int | None


class BloodGlucose(RookModel):
    blood_glucose_avg_mg_per_dL_int: int | None = None
    blood_glucose_granular_data_array: tuple[BloodGlucoseGranularItem, ...] = ()


class Hydration(RookModel):
    water_total_consumption_mL_int: int | None = None
    hydration_amount_granular_data_array: tuple[HydrationAmountGranularItem, ...] = ()
    hydration_level_granular_data_array: tuple[HydrationLevelGranularItem, ...] = ()


class Mood(RookModel):
    mood_minimum_scale_int: int | None = None
    mood_avg_scale_int: int | None = None
    mood_maximum_scale_int: int | None = None
    mood_delta_scale_int: int | None = None
    mood_granular_data_array: tuple[MoodGranularItem, ...] = ()


class Nutrition(RookModel):
    """The body summary's nutrition; `trans_fat_intake_g_floatr` is the schema's spelling."""

    food_intake_float: float | None = None
    calories_intake_kcal_float: float | None = None
    protein_intake_g_float: float | None = None
    sugar_intake_g_float: float | None = None
    fat_intake_g_float: float | None = None
    trans_fat_intake_g_floatr: float | None = None
    carbohydrates_intake_g_float: float | None = None
    fiber_intake_g_float: float | None = None
    alcohol_intake_g_float: float | None = None
    sodium_intake_mg_float: float | None = None
    cholesterol_intake_mg_float: float | None = None


class Menstruation(RookModel):
    last_updated_datetime_string: DatetimeString | None = None
    period_start_date_string: DateString | None = None
    cycle_day_int: int | None = None
    predicted_cycle_length_days_int: int | None = None
    cycle_length_days_int: int | None = None
    current_phase_string: str | None = None
    length_of_current_phase_days_int: int | None = None
    days_until_next_phase_int: int | None = None
    is_a_predicted_cycle_bool: bool | None = None
    menstruation_flow_granular_data_array: tuple[MenstruationFlowGranularItem, ...] = ()


class BodySummary(SummaryStructure):
    """`body_health.summary.body_summary`."""

    body_metrics: BodyMetrics = BodyMetrics()
    blood_glucose: BloodGlucose = BloodGlucose()
    blood_pressure: BloodPressure = BloodPressure()
    hydration: Hydration = Hydration()
    heart_rate: HeartRate = HeartRate()
    mood: Mood = Mood()
    nutrition: Nutrition = Nutrition()
    oxygenation: Oxygenation = Oxygenation()
    temperature: Temperature = Temperature()
    menstruation: Menstruation = Menstruation()


class BodySummaryBox(RookModel):
    body_summary: BodySummary = BodySummary()


class BodySummaryDocument(SummaryDocument[BodySummary]):
    PILLAR: ClassVar[Pillar] = Pillar.BODY_HEALTH
    DATA_STRUCTURE: ClassVar[DataStructure] = DataStructure.BODY_SUMMARY

    data_structure: Annotated[Literal[DataStructure.BODY_SUMMARY], WIRE_STRING] = (
        DataStructure.BODY_SUMMARY
    )
    body_health: SummaryOf[BodySummaryBox] = SummaryOf(summary=BodySummaryBox())


# ---------------------------------------------------------------------------------------------
# body_metrics_event


class BodyMetricsEvent(EventStructure):
    """One element of `body_health.events.body_metrics_event`."""

    body_metrics: BodyMetrics = BodyMetrics()


class BodyMetricsEventBox(RookModel):
    body_metrics_event: tuple[BodyMetricsEvent, ...] = ()


class BodyMetricsEventDocument(EventDocument[BodyMetricsEvent]):
    PILLAR: ClassVar[Pillar] = Pillar.BODY_HEALTH
    DATA_STRUCTURE: ClassVar[DataStructure] = DataStructure.BODY_METRICS_EVENT

    data_structure: Annotated[Literal[DataStructure.BODY_METRICS_EVENT], WIRE_STRING] = (
        DataStructure.BODY_METRICS_EVENT
    )
    body_health: EventsOf[BodyMetricsEventBox] = EventsOf(events=BodyMetricsEventBox())


# ---------------------------------------------------------------------------------------------
# blood_pressure_event


class BloodPressureEvent(EventStructure):
    """One element of `body_health.events.blood_pressure_event`."""

    blood_pressure: BloodPressure = BloodPressure()


class BloodPressureEventBox(RookModel):
    blood_pressure_event: tuple[BloodPressureEvent, ...] = ()


class BloodPressureEventDocument(EventDocument[BloodPressureEvent]):
    PILLAR: ClassVar[Pillar] = Pillar.BODY_HEALTH
    DATA_STRUCTURE: ClassVar[DataStructure] = DataStructure.BLOOD_PRESSURE_EVENT

    data_structure: Annotated[Literal[DataStructure.BLOOD_PRESSURE_EVENT], WIRE_STRING] = (
        DataStructure.BLOOD_PRESSURE_EVENT
    )
    body_health: EventsOf[BloodPressureEventBox] = EventsOf(events=BloodPressureEventBox())


# ---------------------------------------------------------------------------------------------
# temperature_event


class TemperatureEventObject(RookModel):
    """`temperature_*_object` of the temperature event, spelled `celcius` as the schema does
    (its granular items, and the summaries' objects, spell it `celsius`)."""

    temperature_celcius_float: float | None = None
    measurement_type_string: str | None = None


class TemperatureEventTemperature(RookModel):
    temperature_avg_object: TemperatureEventObject = TemperatureEventObject()
    temperature_maximum_object: TemperatureEventObject = TemperatureEventObject()
    temperature_minimum_object: TemperatureEventObject = TemperatureEventObject()
    temperature_delta_object: TemperatureEventObject = TemperatureEventObject()
    temperature_granular_data_array: tuple[TemperatureGranularItem, ...] = ()


class TemperatureEvent(EventStructure):
    """One element of `body_health.events.temperature_event`."""

    temperature: TemperatureEventTemperature = TemperatureEventTemperature()


class TemperatureEventBox(RookModel):
    temperature_event: tuple[TemperatureEvent, ...] = ()


class TemperatureEventDocument(EventDocument[TemperatureEvent]):
    PILLAR: ClassVar[Pillar] = Pillar.BODY_HEALTH
    DATA_STRUCTURE: ClassVar[DataStructure] = DataStructure.TEMPERATURE_EVENT

    data_structure: Annotated[Literal[DataStructure.TEMPERATURE_EVENT], WIRE_STRING] = (
        DataStructure.TEMPERATURE_EVENT
    )
    body_health: EventsOf[TemperatureEventBox] = EventsOf(events=TemperatureEventBox())


# ---------------------------------------------------------------------------------------------
# heart_rate_event and oxygenation_event, filed under the body pillar


class BodyHeartRateEventDocument(EventDocument[HeartRateEvent]):
    PILLAR: ClassVar[Pillar] = Pillar.BODY_HEALTH
    DATA_STRUCTURE: ClassVar[DataStructure] = DataStructure.HEART_RATE_EVENT

    data_structure: Annotated[Literal[DataStructure.HEART_RATE_EVENT], WIRE_STRING] = (
        DataStructure.HEART_RATE_EVENT
    )
    body_health: EventsOf[HeartRateEventBox] = EventsOf(events=HeartRateEventBox())


class BodyOxygenationEventDocument(EventDocument[OxygenationEvent]):
    PILLAR: ClassVar[Pillar] = Pillar.BODY_HEALTH
    DATA_STRUCTURE: ClassVar[DataStructure] = DataStructure.OXYGENATION_EVENT

    data_structure: Annotated[Literal[DataStructure.OXYGENATION_EVENT], WIRE_STRING] = (
        DataStructure.OXYGENATION_EVENT
    )
    body_health: EventsOf[OxygenationEventBox] = EventsOf(events=OxygenationEventBox())
