"""Withings Measure getmeas → ROOK body events, and the day's `body_summary`. Pure.

A measure group yields one event per structure it has values for, identity (user, `grpid`,
structure). Datetimes are read in the response body's `timezone`.

* `attrib` 1 (the device is not sure the measure is this user's) is skipped.
* Manual entries (`attrib` 2 and 4) count only for weight and height, as ROOK does.
* The same weigh-in can come twice under one `grpid`, as `attrib` 0 and as `attrib` 8 ("same as
  0"). A ROOK user expects one weigh-in to be one event, and the identity already makes the two
  copies one document; it is built from the attrib 0 copy and carries only that copy's raw group,
  so a response with one copy and a response with both give the same document (no spurious
  new version, no second delivery).
* Only whole-body values count (no `position`, or position 7 "whole body"): Body Scan's
  segmental values stay in `non_structured_data_array` with everything else ROOK has no key for.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final, NamedTuple
from zoneinfo import ZoneInfo

from rookery.model.body import (
    BloodPressureEventDocument,
    BodyHeartRateEventDocument,
    BodyMetricsEventDocument,
    BodyOxygenationEventDocument,
    BodySummaryDocument,
    TemperatureEventDocument,
)
from rookery.model.common import (
    BloodPressureGranularItem,
    BodyMetrics,
    EventDocument,
    EventMetadata,
    HrGranularItem,
    RookDocument,
    SaturationGranularItem,
    TemperatureGranularItem,
    event_metadata,
    format_datetime,
    summary_metadata,
)
from rookery.model.physical import PhysicalHeartRateEventDocument
from rookery.transform.context import HeightReading, Produced, UserContext
from rookery.transform.meastypes import EVENT_TYPES, MANUAL_TYPES, TEMPERATURE_TYPES
from rookery.transform.rules import (
    bpm,
    mean_int,
    opt_float,
    opt_int,
    percent_of,
    positive,
    produced,
)
from rookery.transform.time import (
    exact,
    local_datetime,
    round_half_away,
    start_of_day,
    zone,
)
from rookery.withings.codes import MeasureAttrib, MeasureCategory, MeasureType
from rookery.withings.responses import MeasureGroup, MeasureGroupsPage, Raw

WHOLE_BODY_POSITION: Final = 7
MANUAL_ATTRIBS: Final = frozenset({MeasureAttrib.MANUAL, MeasureAttrib.MANUAL_AT_CREATION})


@dataclass(frozen=True, slots=True)
class KeptGroup:
    """A measure group that counts, with its whole-body values by measure type."""

    group: MeasureGroup
    values: dict[MeasureType, Decimal]


def kept_groups(groups: Iterable[MeasureGroup]) -> list[KeptGroup]:
    """The groups that count, once per `grpid` (see the module docstring), in input order."""
    chosen: dict[int, MeasureGroup] = {}
    for group in groups:
        if group.category != MeasureCategory.REAL or group.attrib == MeasureAttrib.DEVICE_AMBIGUOUS:
            continue
        current = chosen.get(group.grpid)
        if current is None or _preference(group) >= _preference(current):
            chosen[group.grpid] = group
    return [KeptGroup(group, _values(group)) for group in chosen.values()]


def _preference(group: MeasureGroup) -> tuple[bool, int]:
    return (group.attrib != MeasureAttrib.SAME_AS_DEVICE, group.modified or 0)


def _values(group: MeasureGroup) -> dict[MeasureType, Decimal]:
    manual = group.attrib in MANUAL_ATTRIBS
    values: dict[MeasureType, Decimal] = {}
    for measure in group.measures:
        if measure.position is not None and measure.position != WHOLE_BODY_POSITION:
            continue
        if manual and measure.type not in MANUAL_TYPES:
            continue
        values.setdefault(measure.type, measure.real_value)
    return values


class _Heights:
    """The user's heights in time order, to find the one in force at a weigh-in."""

    def __init__(self, readings: Iterable[HeightReading]) -> None:
        ordered = sorted(readings, key=lambda reading: reading.at_epoch_s)
        self._times = [reading.at_epoch_s for reading in ordered]
        self._heights = [reading.height_m for reading in ordered]

    def at(self, epoch_s: int) -> Decimal | None:
        """The latest height measured at or before `epoch_s`."""
        index = bisect_right(self._times, epoch_s)
        return self._heights[index - 1] if index else None


def heights_in(groups: Iterable[KeptGroup]) -> list[HeightReading]:
    """The heights the kept groups record (manual entries included)."""
    return [
        HeightReading(kept.group.date, kept.values[MeasureType.HEIGHT_M])
        for kept in groups
        if MeasureType.HEIGHT_M in kept.values
    ]


def page_zone(page: MeasureGroupsPage, ctx: UserContext) -> ZoneInfo:
    """The zone a getmeas response's dates are read in: its `timezone`, else the user's."""
    return ctx.timezone if page.timezone is None else zone(page.timezone)


def body_events(page: MeasureGroupsPage, ctx: UserContext) -> list[Produced]:
    """The body events of a getmeas response, group by group in response order.

    BMI uses the user's latest height at or before each weigh-in, from `ctx.heights` and from
    this response; heart pulse (meastype 11) is a `heart_rate_event` in the physical pillar, as
    ROOK files Withings' heart pulse.
    """
    tz = page_zone(page, ctx)
    kept = kept_groups(page.measuregrps)
    # The response's own heights go last so that, at an equal instant, they win over older data.
    heights = _Heights((*ctx.heights, *heights_in(kept)))
    out: list[Produced] = []
    for group in kept:
        out.extend(_group_events(group, tz, ctx, heights))
    return out


def _group_events(
    kept: KeptGroup, tz: ZoneInfo, ctx: UserContext, heights: _Heights
) -> list[Produced]:
    group, values = kept.group, kept.values
    if values.keys().isdisjoint(EVENT_TYPES):
        return []  # say, only pulse wave velocity: nothing ROOK has a key for
    at = local_datetime(group.date, tz)
    when = format_datetime(at)
    reading = _Reading(
        metadata=event_metadata(when, ctx.user_id, under_physical_activity=False),
        when=when,
        raw=(group.raw,),  # the model copies the record: no copy of our own
    )
    documents = (
        _body_metrics(values, reading, heights.at(group.date)),
        _blood_pressure(values, reading),
        _heart_pulse(values, reading),
        _oxygenation(values, reading),
        _temperature_event(values, reading),
    )
    key = f"grpid:{group.grpid}"
    day = at.date()
    return [produced(event.document(ctx), key, day) for event in documents if event is not None]


# NamedTuples rather than frozen dataclasses: built for every group and every event, and a
# frozen dataclass's __init__ costs three times as much.
class _Reading(NamedTuple):
    """What every event of one measure group shares."""

    metadata: EventMetadata
    when: str | None
    raw: tuple[Raw, ...]


class _Event(NamedTuple):
    """One event of a measure group, by ROOK key, and the document class that delivers it.

    The event's sections are plain dicts, validated with the document in one call (`of_fields`):
    building each section and the event as a model first cost a `BaseModel.__init__` and a
    validator call per object, a tenth of a measure group's documents.
    """

    document_type: type[EventDocument[Any]]
    fields: dict[str, Any]

    def document(self, ctx: UserContext) -> RookDocument:
        return self.document_type.of_fields(
            self.fields, client_uuid=ctx.client_uuid, user_id=ctx.user_id
        )


def _body_metrics(
    values: dict[MeasureType, Decimal], reading: _Reading, height_then_m: Decimal | None
) -> _Event | None:
    weight_kg = values.get(MeasureType.WEIGHT_KG)
    height_m = values.get(MeasureType.HEIGHT_M)
    muscle_kg = values.get(MeasureType.MUSCLE_MASS_KG)
    water_kg = values.get(MeasureType.HYDRATION_KG)
    bone_kg = values.get(MeasureType.BONE_MASS_KG)
    if all(value is None for value in (weight_kg, height_m, muscle_kg, water_kg, bone_kg)):
        return None
    bmi_height_m = positive(height_then_m)
    metrics = {
        "weight_kg_float": opt_float(weight_kg),
        "height_cm_int": None if height_m is None else round_half_away(height_m * 100),
        "bmi_float": (
            None
            if weight_kg is None or bmi_height_m is None
            else float(weight_kg / (bmi_height_m * bmi_height_m))
        ),
        "muscle_composition_percentage_int": percent_of(muscle_kg, weight_kg),
        "water_composition_percentage_int": percent_of(water_kg, weight_kg),
        "bone_composition_percentage_int": percent_of(bone_kg, weight_kg),
    }
    return _Event(
        BodyMetricsEventDocument,
        {
            "metadata": reading.metadata,
            "body_metrics": metrics,
            "non_structured_data_array": reading.raw,
        },
    )


def _blood_pressure(values: dict[MeasureType, Decimal], reading: _Reading) -> _Event | None:
    systolic = opt_int(values.get(MeasureType.SYSTOLIC_MMHG))
    diastolic = opt_int(values.get(MeasureType.DIASTOLIC_MMHG))
    if systolic is None and diastolic is None:
        return None
    item: BloodPressureGranularItem = {
        "datetime_string": reading.when,
        "systolic_mmHg_int": systolic,
        "diastolic_mmHg_int": diastolic,
    }
    pressure = {
        "blood_pressure_avg_object": {
            "systolic_mmHg_int": systolic,
            "diastolic_mmHg_int": diastolic,
        },
        "blood_pressure_granular_data_array": (item,),
    }
    return _Event(
        BloodPressureEventDocument,
        {
            "metadata": reading.metadata,
            "blood_pressure": pressure,
            "non_structured_data_array": reading.raw,
        },
    )


def _heart_pulse(values: dict[MeasureType, Decimal], reading: _Reading) -> _Event | None:
    pulse = bpm(values.get(MeasureType.HEART_PULSE_BPM))
    if pulse is None:
        return None
    return _Event(
        PhysicalHeartRateEventDocument,
        heart_rate_event(reading.metadata, pulse, reading.when, reading.raw),
    )


def _oxygenation(values: dict[MeasureType, Decimal], reading: _Reading) -> _Event | None:
    spo2 = opt_int(positive(values.get(MeasureType.SPO2_PERCENT)))
    vo2max = opt_int(positive(values.get(MeasureType.VO2_MAX_ML_MIN_KG)))
    if spo2 is None and vo2max is None:
        return None
    saturation: tuple[SaturationGranularItem, ...] = ()
    if spo2 is not None:
        saturation = (
            {
                "datetime_string": reading.when,
                "interval_duration_seconds_float": None,
                "saturation_percentage_int": spo2,
            },
        )
    oxygenation = {
        "saturation_avg_percentage_int": spo2,
        "saturation_granular_data_array": saturation,
        "vo2max_mL_per_min_per_kg_int": vo2max,
    }
    return _Event(
        BodyOxygenationEventDocument,
        {
            "metadata": reading.metadata,
            "oxygenation": oxygenation,
            "non_structured_data_array": reading.raw,
        },
    )


def _temperature_event(values: dict[MeasureType, Decimal], reading: _Reading) -> _Event | None:
    items: list[TemperatureGranularItem] = [
        {
            "datetime_string": reading.when,
            "temperature_celsius_float": float(values[meastype]),
            "measurement_type_string": label,
        }
        for meastype, label in TEMPERATURE_TYPES
        if meastype in values
    ]
    if not items:
        return None
    first = items[0]
    temperature = {
        "temperature_avg_object": {
            "temperature_celcius_float": first["temperature_celsius_float"],
            "measurement_type_string": first["measurement_type_string"],
        },
        "temperature_granular_data_array": tuple(items),
    }
    return _Event(
        TemperatureEventDocument,
        {
            "metadata": reading.metadata,
            "temperature": temperature,
            "non_structured_data_array": reading.raw,
        },
    )


def heart_rate_event(
    metadata: EventMetadata, hr_bpm: int, when: str | None, raw: tuple[Raw, ...]
) -> dict[str, Any]:
    """The fields of a heart-rate event holding one spot reading `hr_bpm` taken at `when`, by
    ROOK key, for a heart-rate event document's `of_fields`."""
    item: HrGranularItem = {
        "datetime_string": when,
        "interval_duration_seconds_float": None,
        "hr_bpm_int": hr_bpm,
    }
    return {
        "metadata": metadata,
        "heart_rate": {"hr_avg_bpm_int": hr_bpm, "hr_granular_data_array": (item,)},
        "non_structured_data_array": raw,
    }


# ---------------------------------------------------------------------------------------------
# body_summary


@dataclass(slots=True)
class _Day:
    """What a day's body events hold, collected in time order."""

    metrics: list[tuple[datetime, BodyMetrics]]
    pressures: list[BloodPressureGranularItem]
    heart_rates: list[HrGranularItem]
    saturations: list[SaturationGranularItem]
    vo2max: list[tuple[datetime, int]]
    temperatures: list[TemperatureGranularItem]
    raw: list[dict[str, Any]]

    @property
    def is_empty(self) -> bool:
        return not (
            self.metrics
            or self.pressures
            or self.heart_rates
            or self.saturations
            or self.vo2max
            or self.temperatures
        )


def _instant(text: str | None) -> datetime:
    if text is None:
        raise ValueError("a body event without metadata.datetime_string")
    return datetime.fromisoformat(text)


_HEART_RATE_DOCUMENTS: Final = (PhysicalHeartRateEventDocument, BodyHeartRateEventDocument)


def _collect(events: Sequence[RookDocument]) -> _Day:
    day = _Day([], [], [], [], [], [], [])
    seen: set[int] = set()
    for document in events:
        # The same document handed in twice (say, with a re-delivered response) is merged once.
        if id(document) in seen:
            continue
        seen.add(id(document))
        if isinstance(document, BodyMetricsEventDocument):
            for metrics_event in document.events:
                at = _instant(metrics_event.metadata.datetime_string)
                day.metrics.append((at, metrics_event.body_metrics))
                day.raw.extend(metrics_event.non_structured_data_array)
        elif isinstance(document, BloodPressureEventDocument):
            for pressure_event in document.events:
                day.pressures.extend(
                    pressure_event.blood_pressure.blood_pressure_granular_data_array
                )
                day.raw.extend(pressure_event.non_structured_data_array)
        elif isinstance(document, _HEART_RATE_DOCUMENTS):
            for hr_event in document.events:
                day.heart_rates.extend(hr_event.heart_rate.hr_granular_data_array)
                day.raw.extend(hr_event.non_structured_data_array)
        elif isinstance(document, BodyOxygenationEventDocument):
            for oxygen_event in document.events:
                oxygenation = oxygen_event.oxygenation
                day.saturations.extend(oxygenation.saturation_granular_data_array)
                if oxygenation.vo2max_mL_per_min_per_kg_int is not None:
                    at = _instant(oxygen_event.metadata.datetime_string)
                    day.vo2max.append((at, oxygenation.vo2max_mL_per_min_per_kg_int))
                day.raw.extend(oxygen_event.non_structured_data_array)
        elif isinstance(document, TemperatureEventDocument):
            for temperature_event in document.events:
                day.temperatures.extend(
                    temperature_event.temperature.temperature_granular_data_array
                )
                day.raw.extend(temperature_event.non_structured_data_array)
    return day


def _by_time(item: Any) -> datetime:
    return _instant(item["datetime_string"])


_SUMMARY_METRICS: Final = (
    "weight_kg_float",
    "height_cm_int",
    "bmi_float",
    "muscle_composition_percentage_int",
    "water_composition_percentage_int",
    "bone_composition_percentage_int",
)
"""The body metrics a body summary carries: the latest value of each over the day."""


def _latest(metrics: Sequence[tuple[datetime, BodyMetrics]]) -> dict[str, Any]:
    """Each of `_SUMMARY_METRICS` from the latest weigh-in that has it (the first listed of
    equally late ones), in one pass."""
    latest: dict[str, tuple[datetime, Any]] = {}
    for at, recorded in metrics:
        for field in _SUMMARY_METRICS:
            value = getattr(recorded, field)
            if value is not None:
                current = latest.get(field)
                if current is None or at > current[0]:
                    latest[field] = (at, value)
    return {field: latest[field][1] if field in latest else None for field in _SUMMARY_METRICS}


def _unique(records: Iterable[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    out: list[dict[str, Any]] = []
    for record in records:
        if record not in out:
            out.append(record)
    return tuple(out)


def body_summary(
    day: date, events: Sequence[RookDocument], ctx: UserContext, tz: ZoneInfo
) -> Produced | None:
    """The `body_summary` of `day` (dated at the local midnight that starts it in `tz`) merged
    from that day's body event documents, or None when none of them holds a body value.

    The latest weight, height, BMI and composition of the day; the average blood pressure, heart
    rate and SpO2 with every reading as a granular item; the latest VO2 max; the average, lowest
    and highest temperature (the average names a measurement type only when all readings share
    it). Documents of other structures are ignored, and so is a document given twice; `events`
    should hold one version of each event (the latest).
    """
    collected = _collect(events)
    if collected.is_empty:
        return None
    # The summary's fields by ROOK key, validated once with the document (see `of_fields`);
    # only the sections with data are given, the others keep the model's shared empty default.
    summary: dict[str, Any] = {
        "metadata": summary_metadata(start_of_day(day, tz), ctx.user_id),
        "non_structured_data_array": _unique(collected.raw),
    }
    metrics = collected.metrics
    if metrics:
        summary["body_metrics"] = _latest(metrics)
    if collected.pressures:
        pressures = tuple(sorted(collected.pressures, key=_by_time))
        summary["blood_pressure"] = {
            "blood_pressure_avg_object": {
                "systolic_mmHg_int": mean_int([item["systolic_mmHg_int"] for item in pressures]),
                "diastolic_mmHg_int": mean_int([item["diastolic_mmHg_int"] for item in pressures]),
            },
            "blood_pressure_granular_data_array": pressures,
        }
    if collected.heart_rates:
        heart_rates = tuple(sorted(collected.heart_rates, key=_by_time))
        hr_values = [item["hr_bpm_int"] for item in heart_rates if item["hr_bpm_int"] is not None]
        summary["heart_rate"] = {
            "hr_avg_bpm_int": mean_int(hr_values),
            "hr_minimum_bpm_int": min(hr_values, default=None),
            "hr_maximum_bpm_int": max(hr_values, default=None),
            "hr_granular_data_array": heart_rates,
        }
    if collected.saturations or collected.vo2max:
        saturations = tuple(sorted(collected.saturations, key=_by_time))
        summary["oxygenation"] = {
            "saturation_avg_percentage_int": mean_int(
                [item["saturation_percentage_int"] for item in saturations]
            ),
            "saturation_granular_data_array": saturations,
            "vo2max_mL_per_min_per_kg_int": (
                max(collected.vo2max, key=lambda pair: pair[0])[1] if collected.vo2max else None
            ),
        }
    if collected.temperatures:
        summary["temperature"] = _temperature(tuple(sorted(collected.temperatures, key=_by_time)))
    document = BodySummaryDocument.of_fields(
        summary, client_uuid=ctx.client_uuid, user_id=ctx.user_id
    )
    return produced(document, day.isoformat(), day)


def _temperature(readings: Sequence[TemperatureGranularItem]) -> dict[str, Any]:
    """The `temperature` section of a body summary, by ROOK key."""
    present = [item for item in readings if item["temperature_celsius_float"] is not None]
    if not present:
        return {"temperature_granular_data_array": tuple(readings)}
    celsius = [exact(item["temperature_celsius_float"] or 0.0) for item in present]
    types = {item["measurement_type_string"] for item in present}
    lowest = min(present, key=lambda item: item["temperature_celsius_float"] or 0.0)
    highest = max(present, key=lambda item: item["temperature_celsius_float"] or 0.0)
    return {
        "temperature_avg_object": {
            "temperature_celsius_float": float(sum(celsius) / len(celsius)),
            "measurement_type_string": types.pop() if len(types) == 1 else None,
        },
        "temperature_minimum_object": {
            "temperature_celsius_float": lowest["temperature_celsius_float"],
            "measurement_type_string": lowest["measurement_type_string"],
        },
        "temperature_maximum_object": {
            "temperature_celsius_float": highest["temperature_celsius_float"],
            "measurement_type_string": highest["measurement_type_string"],
        },
        "temperature_granular_data_array": tuple(readings),
    }


def body_summaries(events: Sequence[Produced], ctx: UserContext, tz: ZoneInfo) -> list[Produced]:
    """The `body_summary` of every local date that `events` have body events for, by date."""
    by_day: dict[date, list[RookDocument]] = {}
    for item in events:
        by_day.setdefault(item.local_date, []).append(item.document)
    out: list[Produced] = []
    for day, documents in sorted(by_day.items()):
        summary = body_summary(day, documents, ctx, tz)
        if summary is not None:
            out.append(summary)
    return out
