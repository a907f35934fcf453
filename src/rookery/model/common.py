"""What every ROOK document shares: names, the envelope, metadata, granular items and sections.

Everything used by more than one structure lives here; each pillar module adds what only its own
structures use. Key spellings are ROOK's wire keys, exactly as `rook-openapi.yaml` spells them.

Four choices keep building and serialising cheap (the transform budget is 50 µs per document):
- Every model is frozen and every default is a shared instance (`()` for arrays, an empty section
  for a section), so an empty document is built without copying anything.
- Granular items are TypedDicts: a night holds hundreds of them, and pydantic validates and
  serialises plain dicts several times faster than model instances.
- Datetimes are kept as ROOK's wire strings, written once by `format_datetime`, so serialising
  calls no Python code.
- A document's `data_structure` is serialised as the plain string it is (`WIRE_STRING`): pydantic's
  literal serialiser reads an enum member's `.value` through Python, a tenth of a small document's
  serialisation time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, ClassVar, Final, Generic, Literal, Self, TypeVar, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    StringConstraints,
    model_validator,
    with_config,
)
from pydantic_core import CoreSchema, core_schema
from typing_extensions import TypedDict  # pydantic needs typing_extensions' TypedDict before 3.12


class Pillar(StrEnum):
    """ROOK's health pillars: the top-level key that holds a document's structure."""

    PHYSICAL_HEALTH = "physical_health"
    SLEEP_HEALTH = "sleep_health"
    BODY_HEALTH = "body_health"


class DataStructure(StrEnum):
    """The `data_structure` values Rookery delivers (heart rate and oxygenation in two pillars)."""

    SLEEP_SUMMARY = "sleep_summary"
    PHYSICAL_SUMMARY = "physical_summary"
    BODY_SUMMARY = "body_summary"
    ACTIVITY_EVENT = "activity_event"
    HEART_RATE_EVENT = "heart_rate_event"
    OXYGENATION_EVENT = "oxygenation_event"
    BODY_METRICS_EVENT = "body_metrics_event"
    BLOOD_PRESSURE_EVENT = "blood_pressure_event"
    TEMPERATURE_EVENT = "temperature_event"


class Kind(StrEnum):
    """Whether a structure is one summary object or an array of events."""

    SUMMARY = "summary"
    EVENT = "event"


WITHINGS_SOURCE: Final = "Withings"
"""ROOK's name for the Withings data source, as written in `sources_of_data_array`."""

ROOK_VERSION: Final = 2
"""The data-structure version ROOK stamps on every document."""

DatetimeString = Annotated[
    str,
    StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(?:Z|[+-]\d{2}:\d{2})$"),
]
"""ROOK's datetime: ISO 8601 with microseconds and the record's own offset, `Z` for zero."""

DateString = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")]
"""A local calendar date, `YYYY-MM-DD`."""

UserId = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9\-]{1,50}$")]
"""A client-chosen user id, as ROOK restricts it."""

RawRecord = dict[str, Any]
"""One untouched source record carried in `non_structured_data_array`."""


_MINUTE_US: Final = 60_000_000


def format_datetime(moment: datetime) -> str:
    """Write an aware datetime as ROOK does: `2023-11-14T23:00:00.000000+01:00`, `...Z` at UTC.

    The offset is the datetime's own (the record's time zone); raises ValueError for a naive one.
    ROOK's offset is `±HH:MM`: an offset with seconds (local mean time, such as Paris's +00:09:21
    before 1911) is rounded to the nearest minute, halves away from zero, and the wall time moves
    with it, so that the text still names the same instant.
    """
    text = moment.isoformat()
    # Only an aware datetime with whole seconds (as Withings' instants always are) and a
    # whole-minute offset is written in 25 characters, `2023-11-14T23:00:00+01:00`: ROOK's text
    # is then this one with microseconds put in, and `Z` for zero. Reading the offset from the
    # text rather than asking the zone for it a second time saves a sixth of the common case.
    if len(text) == 25:
        offset_text = text[19:]
        return text[:19] + (".000000Z" if offset_text == "+00:00" else ".000000" + offset_text)
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError(f"naive datetime {text}: ROOK datetimes carry an offset")
    suffix, shift = _rook_offset(offset)
    if shift:
        try:
            shifted = moment.replace(tzinfo=None) + shift
        except OverflowError as exc:  # the first or last minute of year 1 or 9999
            raise ValueError(
                f"{moment.isoformat()} cannot be written with a ±HH:MM offset"
            ) from exc
        return shifted.isoformat(timespec="microseconds") + suffix
    # isoformat() without arguments is the fastest spelling; it leaves out zero microseconds.
    if moment.microsecond:
        return text[:26] + suffix
    return text[:19] + ".000000" + suffix


@lru_cache(maxsize=1024)
def _rook_offset(offset: timedelta) -> tuple[str, timedelta]:
    """ROOK's text for a UTC offset (`Z`, `+01:00`, `-03:30`), and the shift that moves a wall
    time from `offset` to that whole-minute offset (zero unless `offset` has seconds)."""
    offset_us = offset // timedelta(microseconds=1)
    sign = "-" if offset_us < 0 else "+"
    minutes = (abs(offset_us) + _MINUTE_US // 2) // _MINUTE_US
    rounded = timedelta(minutes=-minutes if offset_us < 0 else minutes)
    suffix = "Z" if minutes == 0 else f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    return suffix, rounded - offset


class _WireString:
    """Serialises a `StrEnum` member as the string it is, with no Python call (pydantic's enum
    and literal serialisers read `.value` through Python). Validation is unchanged."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return cast(
            CoreSchema, {**handler(source), "serialization": core_schema.simple_ser_schema("str")}
        )


WIRE_STRING: Final = _WireString()
"""Annotates a `Literal[<StrEnum member>]` field: `Annotated[Literal[X.A], WIRE_STRING]`."""


class RookModel(BaseModel):
    """Base of every ROOK object: immutable, exactly the schema's keys, finite numbers."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


granular_item: Final = with_config(ConfigDict(extra="forbid", allow_inf_nan=False))
"""Decorates a granular item TypedDict: exactly its keys, finite numbers."""

# ---------------------------------------------------------------------------------------------
# Metadata


class Metadata(RookModel):
    """A summary's `metadata`."""

    datetime_string: DatetimeString | None = None
    user_id_string: UserId | None = None
    sources_of_data_array: tuple[str, ...] = ()


class EventMetadata(Metadata):
    """An event's `metadata`: a summary's plus whether the user was exercising."""

    was_the_user_under_physical_activity_bool: bool | None = None


def summary_metadata(at: datetime | str, user_id: str, source: str = WITHINGS_SOURCE) -> Metadata:
    """The metadata of a summary whose reference time is `at`: an aware datetime in the record's
    zone, or that datetime already written by `format_datetime` (a transform that writes it for
    another field too need not write it twice)."""
    return _METADATA(
        {
            "datetime_string": at if isinstance(at, str) else format_datetime(at),
            "user_id_string": user_id,
            "sources_of_data_array": (source,),
        }
    )


def event_metadata(
    at: datetime | str,
    user_id: str,
    *,
    under_physical_activity: bool,
    source: str = WITHINGS_SOURCE,
) -> EventMetadata:
    """The metadata of an event that happened at `at`: an aware datetime in the record's zone, or
    that datetime already written by `format_datetime`."""
    return _EVENT_METADATA(
        {
            "datetime_string": at if isinstance(at, str) else format_datetime(at),
            "user_id_string": user_id,
            "sources_of_data_array": (source,),
            "was_the_user_under_physical_activity_bool": under_physical_activity,
        }
    )


# The validators themselves: the same validation as `Metadata(...)`, without the keyword-argument
# plumbing of `BaseModel.__init__` (a third of the cost of building one).
_METADATA: Final[Callable[[dict[str, Any]], Metadata]] = (
    Metadata.__pydantic_validator__.validate_python
)
_EVENT_METADATA: Final[Callable[[dict[str, Any]], EventMetadata]] = (
    EventMetadata.__pydantic_validator__.validate_python
)


# ---------------------------------------------------------------------------------------------
# Granular items shared by several structures. Every key is required; values may be null.


@granular_item
class HrGranularItem(TypedDict):
    """One heart-rate sample. `interval_duration_seconds_float` is mapping.md's addition."""

    datetime_string: DatetimeString | None
    interval_duration_seconds_float: float | None
    hr_bpm_int: int | None


@granular_item
class HrvRmssdGranularItem(TypedDict):
    datetime_string: DatetimeString | None
    hrv_rmssd_float: float | None


@granular_item
class HrvSdnnGranularItem(TypedDict):
    datetime_string: DatetimeString | None
    hrv_sdnn_float: float | None


@granular_item
class SaturationGranularItem(TypedDict):
    """One SpO2 sample (the sleep summary spells its interval key differently: see sleep.py)."""

    datetime_string: DatetimeString | None
    interval_duration_seconds_float: float | None
    saturation_percentage_int: int | None


@granular_item
class Vo2GranularItem(TypedDict):
    datetime_string: DatetimeString | None
    interval_duration_seconds_float: float | None
    vo2_mL_per_min_per_kg_int: int | None


@granular_item
class TemperatureGranularItem(TypedDict):
    """One temperature sample; always `celsius`, even inside the temperature event."""

    datetime_string: DatetimeString | None
    temperature_celsius_float: float | None
    measurement_type_string: str | None


@granular_item
class BloodPressureGranularItem(TypedDict):
    datetime_string: DatetimeString | None
    systolic_mmHg_int: int | None
    diastolic_mmHg_int: int | None


@granular_item
class ActivityLevelGranularItem(TypedDict):
    datetime_string: DatetimeString | None
    interval_duration_seconds_float: float | None
    activity_level_float: float | None
    activity_level_label_string: str | None


@granular_item
class StepsGranularItem(TypedDict):
    datetime_string: DatetimeString | None
    interval_duration_seconds_float: float | None
    steps_int: int | None


@granular_item
class FloorsClimbedGranularItem(TypedDict):
    datetime_string: DatetimeString | None
    interval_duration_seconds_float: float | None
    floors_climbed_float: float | None


@granular_item
class ElevationGranularItem(TypedDict):
    datetime_string: DatetimeString | None
    interval_duration_seconds_float: float | None
    elevation_change_meters_float: float | None


@granular_item
class SwimmingDistanceGranularItem(TypedDict):
    datetime_string: DatetimeString | None
    interval_duration_seconds_float: float | None
    swimming_distance_meters_float: float | None


@granular_item
class TraveledDistanceGranularItem(TypedDict):
    datetime_string: DatetimeString | None
    interval_duration_seconds_float: float | None
    traveled_distance_meters_float: float | None


# ---------------------------------------------------------------------------------------------
# Small `*_object` values


class TemperatureObject(RookModel):
    """`temperature_*_object` of the sleep and body summaries (`celsius`)."""

    temperature_celsius_float: float | None = None
    measurement_type_string: str | None = None


class BloodPressureObject(RookModel):
    systolic_mmHg_int: int | None = None
    diastolic_mmHg_int: int | None = None


# ---------------------------------------------------------------------------------------------
# Sections shared by several structures


class HeartRate(RookModel):
    """`heart_rate` of the physical and body summaries, the activity and heart-rate events."""

    hr_maximum_bpm_int: int | None = None
    hr_minimum_bpm_int: int | None = None
    hr_avg_bpm_int: int | None = None
    hr_resting_bpm_int: int | None = None
    hr_granular_data_array: tuple[HrGranularItem, ...] = ()
    hrv_avg_rmssd_float: float | None = None
    hrv_avg_sdnn_float: float | None = None
    hrv_sdnn_granular_data_array: tuple[HrvSdnnGranularItem, ...] = ()
    hrv_rmssd_granular_data_array: tuple[HrvRmssdGranularItem, ...] = ()


class Oxygenation(RookModel):
    """`oxygenation` of the physical and body summaries, the activity and oxygenation events."""

    saturation_avg_percentage_int: int | None = None
    saturation_granular_data_array: tuple[SaturationGranularItem, ...] = ()
    vo2max_mL_per_min_per_kg_int: int | None = None
    vo2_granular_data_array: tuple[Vo2GranularItem, ...] = ()


class Temperature(RookModel):
    """`temperature` of the sleep and body summaries (the temperature event has its own)."""

    temperature_avg_object: TemperatureObject = TemperatureObject()
    temperature_maximum_object: TemperatureObject = TemperatureObject()
    temperature_minimum_object: TemperatureObject = TemperatureObject()
    temperature_delta_object: TemperatureObject = TemperatureObject()
    temperature_granular_data_array: tuple[TemperatureGranularItem, ...] = ()


class Activity(RookModel):
    """`activity` of the physical summary; the activity event extends it."""

    active_seconds_int: int | None = None
    continuous_inactive_periods_int: int | None = None
    inactivity_seconds_int: int | None = None
    low_intensity_seconds_int: int | None = None
    moderate_intensity_seconds_int: int | None = None
    rest_seconds_int: int | None = None
    vigorous_intensity_seconds_int: int | None = None
    activity_level_granular_data_array: tuple[ActivityLevelGranularItem, ...] = ()


class Calories(RookModel):
    """`calories` of the physical summary; the activity event extends it."""

    calories_basal_metabolic_rate_kcal_float: float | None = None
    calories_expenditure_kcal_float: float | None = None
    calories_net_active_kcal_float: float | None = None
    calories_net_intake_kcal_float: float | None = None


class Distance(RookModel):
    """`distance` of the activity event; the physical summary extends it with active steps."""

    steps_int: int | None = None
    floors_climbed_float: float | None = None
    elevation_avg_altitude_meters_float: float | None = None
    elevation_minimum_altitude_meters_float: float | None = None
    elevation_maximum_altitude_meters_float: float | None = None
    elevation_gain_actual_altitude_meters_float: float | None = None
    elevation_loss_actual_altitude_meters_float: float | None = None
    elevation_planned_gain_meters_float: float | None = None
    swimming_num_strokes_float: float | None = None
    swimming_num_laps_int: int | None = None
    swimming_pool_length_meters_float: float | None = None
    swimming_total_distance_meters_float: float | None = None
    traveled_distance_meters_float: float | None = None
    walked_distance_meters_float: float | None = None
    steps_granular_data_array: tuple[StepsGranularItem, ...] = ()
    floors_climbed_granular_data_array: tuple[FloorsClimbedGranularItem, ...] = ()
    elevation_granular_data_array: tuple[ElevationGranularItem, ...] = ()
    swimming_distance_granular_data_array: tuple[SwimmingDistanceGranularItem, ...] = ()
    traveled_distance_granular_data_array: tuple[TraveledDistanceGranularItem, ...] = ()


class StressLevels(RookModel):
    """The stress keys the physical summary and the activity event share."""

    stress_at_rest_duration_seconds_int: int | None = None
    stress_duration_seconds_int: int | None = None
    low_stress_duration_seconds_int: int | None = None
    medium_stress_duration_seconds_int: int | None = None
    high_stress_duration_seconds_int: int | None = None
    stress_avg_level_int: int | None = None
    stress_maximum_level_int: int | None = None


class BodyMetrics(RookModel):
    """`body_metrics` of the body summary and the body metrics event."""

    waist_circumference_cm_int: int | None = None
    hip_circumference_cm_int: int | None = None
    chest_circumference_cm_int: int | None = None
    bone_composition_percentage_int: int | None = None
    muscle_composition_percentage_int: int | None = None
    water_composition_percentage_int: int | None = None
    weight_kg_float: float | None = None
    height_cm_int: int | None = None
    bmi_float: float | None = None


class BloodPressure(RookModel):
    """`blood_pressure` of the body summary and the blood pressure event."""

    blood_pressure_avg_object: BloodPressureObject = BloodPressureObject()
    blood_pressure_granular_data_array: tuple[BloodPressureGranularItem, ...] = ()


# ---------------------------------------------------------------------------------------------
# Structures: the object under `<pillar>.summary.<structure>` or one element of
# `<pillar>.events.<structure>`.


class SummaryStructure(RookModel):
    """What every summary object holds besides its sections."""

    metadata: Metadata = Metadata()
    non_structured_data_array: tuple[RawRecord, ...] = ()


class EventStructure(RookModel):
    """What every event holds besides its sections."""

    metadata: EventMetadata = EventMetadata()
    non_structured_data_array: tuple[RawRecord, ...] = ()


class HeartRateEvent(EventStructure):
    """One `heart_rate_event`; the physical and body pillars file the same shape."""

    heart_rate: HeartRate = HeartRate()


class OxygenationEvent(EventStructure):
    """One `oxygenation_event`; the physical and body pillars file the same shape."""

    oxygenation: Oxygenation = Oxygenation()


# ---------------------------------------------------------------------------------------------
# Documents

SummaryT = TypeVar("SummaryT", bound=SummaryStructure)
EventT = TypeVar("EventT", bound=EventStructure)
BoxT = TypeVar("BoxT", bound=RookModel)


class SummaryOf(RookModel, Generic[BoxT]):
    """A pillar's value in a summary document: `{"summary": {<structure>: {...}}}`."""

    summary: BoxT


class EventsOf(RookModel, Generic[BoxT]):
    """A pillar's value in an events document: `{"events": {<structure>: [...]}}`."""

    events: BoxT


class HeartRateEventBox(RookModel):
    heart_rate_event: tuple[HeartRateEvent, ...] = ()


class OxygenationEventBox(RookModel):
    oxygenation_event: tuple[OxygenationEvent, ...] = ()


class RookDocument(RookModel):
    """The envelope every ROOK document carries. Each concrete document class names its pillar
    and structure in `PILLAR` and `DATA_STRUCTURE` and declares the pillar's field."""

    PILLAR: ClassVar[Pillar]
    DATA_STRUCTURE: ClassVar[DataStructure]
    KIND: ClassVar[Kind]
    # `PILLAR` and `DATA_STRUCTURE` as plain strings: an enum member as an attribute name or a
    # dict key costs a Python-level `__hash__`, and `.value` a Python-level property.
    _pillar_key: ClassVar[str]
    _structure_key: ClassVar[str]

    version: Literal[2] = ROOK_VERSION
    data_structure: DataStructure
    client_uuid: str = Field(min_length=1)
    user_id: UserId
    document_version: int = Field(default=1, ge=1)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "PILLAR" in cls.__dict__:
            cls._pillar_key = str.__str__(cls.PILLAR)
            cls._structure_key = str.__str__(cls.DATA_STRUCTURE)

    @classmethod
    def empty(cls, *, client_uuid: str, user_id: str) -> Self:
        """A document whose every leaf is null and every array empty (an events document holds
        no events). Cheap: every section is a shared immutable default."""
        return cls.model_validate({"client_uuid": client_uuid, "user_id": user_id})


def _check_metadata_user(user_id: str, structure: SummaryStructure | EventStructure) -> None:
    """A document's structures must name the document's user, or no one (an empty document)."""
    user_id_string = structure.metadata.user_id_string
    if user_id_string is not None and user_id_string != user_id:
        raise ValueError(
            f"metadata.user_id_string {user_id_string!r} differs from user_id {user_id!r}"
        )


class SummaryDocument(RookDocument, Generic[SummaryT]):
    """A summary document: `<pillar>.summary.<structure>` is one object."""

    KIND: ClassVar[Kind] = Kind.SUMMARY

    @property
    def summary(self) -> SummaryT:
        """The summary object (`<pillar>.summary.<structure>`)."""
        pillar: SummaryOf[Any] = getattr(self, self._pillar_key)
        return cast(SummaryT, getattr(pillar.summary, self._structure_key))

    @model_validator(mode="after")
    def _summary_names_the_document_user(self) -> Self:
        _check_metadata_user(self.user_id, self.summary)
        return self

    @classmethod
    def of(
        cls, summary: SummaryT, *, client_uuid: str, user_id: str, document_version: int = 1
    ) -> Self:
        """The document that delivers `summary`."""
        return cls.of_fields(
            summary, client_uuid=client_uuid, user_id=user_id, document_version=document_version
        )

    @classmethod
    def of_fields(
        cls,
        summary: SummaryT | Mapping[str, Any],
        *,
        client_uuid: str,
        user_id: str,
        document_version: int = 1,
    ) -> Self:
        """The document that delivers the summary whose fields are `summary`, by ROOK key (each
        section a mapping or a model): `of(<Structure>(**summary), ...)` in one validation.

        Validation is the same (unknown keys, wrong types and NaN are rejected), but the whole
        document is checked in one pass instead of one model at a time: about twice as fast.
        """
        document: Self = cls.__pydantic_validator__.validate_python(
            {
                "client_uuid": client_uuid,
                "user_id": user_id,
                "document_version": document_version,
                cls._pillar_key: {"summary": {cls._structure_key: summary}},
            }
        )
        return document


class EventDocument(RookDocument, Generic[EventT]):
    """An events document: `<pillar>.events.<structure>` is an array of events.

    A delivered document holds one event; the query API returns a day's events in one document.
    """

    KIND: ClassVar[Kind] = Kind.EVENT

    auto_detected: bool = False

    @property
    def events(self) -> tuple[EventT, ...]:
        """The events (`<pillar>.events.<structure>`), in the order they were attached."""
        pillar: EventsOf[Any] = getattr(self, self._pillar_key)
        return cast(tuple[EventT, ...], getattr(pillar.events, self._structure_key))

    @model_validator(mode="after")
    def _events_name_the_document_user(self) -> Self:
        for event in self.events:
            _check_metadata_user(self.user_id, event)
        return self

    @classmethod
    def of(
        cls,
        event: EventT,
        *,
        client_uuid: str,
        user_id: str,
        document_version: int = 1,
        auto_detected: bool = False,
    ) -> Self:
        """The document that delivers one event."""
        return cls.of_fields(
            event,
            client_uuid=client_uuid,
            user_id=user_id,
            document_version=document_version,
            auto_detected=auto_detected,
        )

    @classmethod
    def of_fields(
        cls,
        event: EventT | Mapping[str, Any],
        *,
        client_uuid: str,
        user_id: str,
        document_version: int = 1,
        auto_detected: bool = False,
    ) -> Self:
        """The document that delivers the one event whose fields are `event`, by ROOK key (each
        section a mapping or a model): `of(<Event>(**event), ...)` in one validation.

        Validation is the same (unknown keys, wrong types and NaN are rejected), but the whole
        document is checked in one pass instead of one model at a time: about twice as fast.
        """
        document: Self = cls.__pydantic_validator__.validate_python(
            {
                "client_uuid": client_uuid,
                "user_id": user_id,
                "document_version": document_version,
                "auto_detected": auto_detected,
                cls._pillar_key: {"events": {cls._structure_key: (event,)}},
            }
        )
        return document

    def with_events(self, events: Iterable[EventT]) -> Self:
        """A copy of this document with `events` appended after its own."""
        return self._assemble(
            (*self.events, *events),
            client_uuid=self.client_uuid,
            user_id=self.user_id,
            document_version=self.document_version,
            auto_detected=self.auto_detected,
        )

    @classmethod
    def merge(cls, documents: Sequence[Self]) -> Self:
        """One document holding the events of `documents`, in order (for the query API).

        The documents must be of this class and of one client and user. The result carries the
        highest `document_version` among them, and `auto_detected` only if all of them were.
        """
        if not documents:
            raise ValueError(f"no {cls.__name__} to merge")
        first = documents[0]
        for document in documents:
            if type(document) is not cls:
                raise ValueError(f"cannot merge a {type(document).__name__} into {cls.__name__}")
            if (document.client_uuid, document.user_id) != (first.client_uuid, first.user_id):
                raise ValueError(
                    f"cannot merge documents of user {document.user_id!r} and {first.user_id!r}"
                )
        return cls._assemble(
            tuple(event for document in documents for event in document.events),
            client_uuid=first.client_uuid,
            user_id=first.user_id,
            document_version=max(document.document_version for document in documents),
            auto_detected=all(document.auto_detected for document in documents),
        )

    @classmethod
    def _assemble(
        cls,
        events: tuple[EventT, ...],
        *,
        client_uuid: str,
        user_id: str,
        document_version: int,
        auto_detected: bool,
    ) -> Self:
        return cls.model_validate(
            {
                "client_uuid": client_uuid,
                "user_id": user_id,
                "document_version": document_version,
                "auto_detected": auto_detected,
                cls._pillar_key: {"events": {cls._structure_key: events}},
            }
        )
