"""Which getmeas meastype fills which ROOK field, declared as data (mapping.md "Body events"). Pure.

`MEASURE_FIELDS` is the one table of it: `transform.measure` takes from it the meastypes that
make events, the ones a manual entry may set and the temperature labels, and `docs/mapping.md`
is generated from it (`python -m rookery.docs.mapping`). A test builds a group for each row and
checks that the value lands in the declared structure and field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from rookery.model.body import (
    BloodPressureEventDocument,
    BodyMetricsEventDocument,
    BodyOxygenationEventDocument,
    TemperatureEventDocument,
)
from rookery.model.common import EventDocument
from rookery.model.physical import PhysicalHeartRateEventDocument
from rookery.withings.codes import MeasureType


@dataclass(frozen=True, slots=True)
class MeasureField:
    """One meastype and the ROOK field its whole-body value fills."""

    meastype: MeasureType
    document_type: type[EventDocument[Any]]
    """The event document (structure and pillar) the value goes to."""
    field: str
    """The dotted path of the field inside the event object."""
    unit: str
    """The unit of Withings' real value (`value × 10^unit`)."""
    rule: str
    """How the value becomes the field, in a few words (for the docs)."""
    manual_counts: bool = False
    """Whether a manual entry (attrib 2 or 4) may set it; ROOK keeps only weight and height."""
    label: str | None = None
    """The temperature event's `measurement_type_string` for this meastype."""


MEASURE_FIELDS: Final[tuple[MeasureField, ...]] = (
    MeasureField(
        MeasureType.WEIGHT_KG,
        BodyMetricsEventDocument,
        "body_metrics.weight_kg_float",
        "kg",
        "as is",
        manual_counts=True,
    ),
    MeasureField(
        MeasureType.HEIGHT_M,
        BodyMetricsEventDocument,
        "body_metrics.height_cm_int",
        "m",
        "× 100, rounded half away from zero",
        manual_counts=True,
    ),
    MeasureField(
        MeasureType.MUSCLE_MASS_KG,
        BodyMetricsEventDocument,
        "body_metrics.muscle_composition_percentage_int",
        "kg",
        "% of the group's weight, rounded",
    ),
    MeasureField(
        MeasureType.HYDRATION_KG,
        BodyMetricsEventDocument,
        "body_metrics.water_composition_percentage_int",
        "kg",
        "% of the group's weight, rounded",
    ),
    MeasureField(
        MeasureType.BONE_MASS_KG,
        BodyMetricsEventDocument,
        "body_metrics.bone_composition_percentage_int",
        "kg",
        "% of the group's weight, rounded",
    ),
    MeasureField(
        MeasureType.SYSTOLIC_MMHG,
        BloodPressureEventDocument,
        "blood_pressure.blood_pressure_avg_object.systolic_mmHg_int",
        "mmHg",
        "rounded; also one granular item",
    ),
    MeasureField(
        MeasureType.DIASTOLIC_MMHG,
        BloodPressureEventDocument,
        "blood_pressure.blood_pressure_avg_object.diastolic_mmHg_int",
        "mmHg",
        "rounded; also one granular item",
    ),
    MeasureField(
        MeasureType.HEART_PULSE_BPM,
        PhysicalHeartRateEventDocument,
        "heart_rate.hr_avg_bpm_int",
        "bpm",
        "rounded, 0 → null; also one granular item",
    ),
    MeasureField(
        MeasureType.SPO2_PERCENT,
        BodyOxygenationEventDocument,
        "oxygenation.saturation_avg_percentage_int",
        "%",
        "rounded, 0 → null; also one granular item",
    ),
    MeasureField(
        MeasureType.VO2_MAX_ML_MIN_KG,
        BodyOxygenationEventDocument,
        "oxygenation.vo2max_mL_per_min_per_kg_int",
        "mL/min/kg",
        "rounded, 0 → null",
    ),
    # Temperatures in this order: the first one a group has fills the event's average.
    MeasureField(
        MeasureType.BODY_TEMPERATURE_C,
        TemperatureEventDocument,
        "temperature.temperature_avg_object.temperature_celcius_float",
        "°C",
        'as is, `measurement_type_string` "body"; also one granular item',
        label="body",
    ),
    MeasureField(
        MeasureType.SKIN_TEMPERATURE_C,
        TemperatureEventDocument,
        "temperature.temperature_avg_object.temperature_celcius_float",
        "°C",
        'as is, `measurement_type_string` "skin"; also one granular item',
        label="skin",
    ),
    MeasureField(
        MeasureType.TEMPERATURE_C,
        TemperatureEventDocument,
        "temperature.temperature_avg_object.temperature_celcius_float",
        "°C",
        'as is, `measurement_type_string` "temperature"; also one granular item',
        label="temperature",
    ),
)

EVENT_TYPES: Final = frozenset(row.meastype for row in MEASURE_FIELDS)
"""Every meastype some body event reads: a group with none of them yields no event."""

MANUAL_TYPES: Final = frozenset(row.meastype for row in MEASURE_FIELDS if row.manual_counts)
"""The meastypes a manual entry (attrib 2 or 4) may set."""

TEMPERATURE_TYPES: Final[tuple[tuple[MeasureType, str], ...]] = tuple(
    (row.meastype, row.label) for row in MEASURE_FIELDS if row.label is not None
)
"""Temperature meastypes → ROOK `measurement_type_string`; the first present fills the avg."""
