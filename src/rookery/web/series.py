"""What the dashboard charts of one user, read from the stored documents (as delivered).

Each reader pages through `documents_in_range` for one structure, parses the bodies with the
ROOK models and keeps the numbers a chart needs, each at its local day (or local moment) in the
user's time zone when it is known, else in the offset the document was written with.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Final, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from rookery.model.body import (
    BloodPressureEventDocument,
    BodyMetricsEventDocument,
    BodyOxygenationEventDocument,
)
from rookery.model.common import DataStructure, Pillar, RookDocument
from rookery.model.physical import PhysicalSummaryDocument
from rookery.model.sleep import SleepSummaryDocument
from rookery.store.documents import MAX_PAGE_SIZE, documents_in_range

DocumentT = TypeVar("DocumentT", bound=RookDocument)

SECONDS_PER_HOUR: Final = 3600.0
SECONDS_PER_MINUTE: Final = 60.0


@dataclass(frozen=True, slots=True)
class Night:
    """One night's sleep summary: stage durations (s) and heart rate (bpm)."""

    day: date
    deep_s: int
    light_s: int
    rem_s: int
    awake_s: int
    hr_min_bpm: int | None
    hr_avg_bpm: int | None
    hr_max_bpm: int | None


@dataclass(frozen=True, slots=True)
class ActivityDay:
    """One day's physical summary: steps and active time."""

    day: date
    steps: int | None
    active_s: int | None


@dataclass(frozen=True, slots=True)
class Reading:
    """One timed measurement (local, aware)."""

    at: datetime
    value: float


@dataclass(frozen=True, slots=True)
class Pressure:
    """One blood-pressure reading (local, aware)."""

    at: datetime
    systolic_mmhg: int
    diastolic_mmhg: int


@dataclass(slots=True)
class UserSeries:
    """Everything the user page charts, over one range."""

    nights: list[Night] = field(default_factory=list)
    activity: list[ActivityDay] = field(default_factory=list)
    weights_kg: list[Reading] = field(default_factory=list)
    pressures: list[Pressure] = field(default_factory=list)
    spo2_percent: list[Reading] = field(default_factory=list)


def zone_of(name: str | None) -> tzinfo | None:
    """The time zone named `name` (IANA), or None when unknown or unnamed."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def local_moment(datetime_string: str | None, zone: tzinfo | None) -> datetime | None:
    """A document's datetime string as an aware local datetime (in `zone` when given)."""
    if not datetime_string:
        return None
    try:
        moment = datetime.fromisoformat(datetime_string)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(zone) if zone is not None else moment


@dataclass(frozen=True, slots=True)
class _Range:
    session: AsyncSession
    client_id: uuid.UUID
    user_id: str
    from_date: date
    to_date: date

    async def documents(
        self, model: type[DocumentT], pillar: Pillar, data_structure: DataStructure
    ) -> AsyncIterator[DocumentT]:
        """Every stored document of one structure in the range, parsed."""
        cursor: str | None = None
        while True:
            page = await documents_in_range(
                self.session,
                client_id=self.client_id,
                user_id=self.user_id,
                from_date=self.from_date,
                to_date=self.to_date,
                pillar=pillar,
                data_structure=data_structure,
                cursor=cursor,
                limit=MAX_PAGE_SIZE,
            )
            for body in page.bodies:
                yield model.model_validate_json(body)
            if page.next_cursor is None:
                return
            cursor = page.next_cursor


async def user_series(
    session: AsyncSession,
    *,
    client_id: uuid.UUID,
    user_id: str,
    from_date: date,
    to_date: date,
    timezone: str | None,
) -> UserSeries:
    """The client's user's charted data whose local date is in [from_date, to_date]."""
    zone = zone_of(timezone)
    series = UserSeries()
    stored = _Range(session, client_id, user_id, from_date, to_date)
    async for sleep in stored.documents(
        SleepSummaryDocument, Pillar.SLEEP_HEALTH, DataStructure.SLEEP_SUMMARY
    ):
        summary = sleep.summary
        duration = summary.duration
        night = _night_date(duration.sleep_date_string, summary.metadata.datetime_string, zone)
        if night is None:
            continue
        series.nights.append(
            Night(
                day=night,
                deep_s=duration.deep_sleep_duration_seconds_int or 0,
                light_s=duration.light_sleep_duration_seconds_int or 0,
                rem_s=duration.rem_sleep_duration_seconds_int or 0,
                awake_s=duration.time_awake_during_sleep_seconds_int or 0,
                hr_min_bpm=summary.heart_rate.hr_minimum_bpm_int,
                hr_avg_bpm=summary.heart_rate.hr_avg_bpm_int,
                hr_max_bpm=summary.heart_rate.hr_maximum_bpm_int,
            )
        )
    async for physical in stored.documents(
        PhysicalSummaryDocument, Pillar.PHYSICAL_HEALTH, DataStructure.PHYSICAL_SUMMARY
    ):
        summary_p = physical.summary
        # A day summary's datetime names its day in the user's own offset: keep that date.
        moment = local_moment(summary_p.metadata.datetime_string, None)
        if moment is None:
            continue
        series.activity.append(
            ActivityDay(
                day=moment.date(),
                steps=summary_p.distance.steps_int,
                active_s=summary_p.activity.active_seconds_int,
            )
        )
    async for metrics in stored.documents(
        BodyMetricsEventDocument, Pillar.BODY_HEALTH, DataStructure.BODY_METRICS_EVENT
    ):
        for event in metrics.events:
            at = local_moment(event.metadata.datetime_string, zone)
            weight = event.body_metrics.weight_kg_float
            if at is not None and weight is not None:
                series.weights_kg.append(Reading(at, weight))
    async for pressure in stored.documents(
        BloodPressureEventDocument, Pillar.BODY_HEALTH, DataStructure.BLOOD_PRESSURE_EVENT
    ):
        for bp_event in pressure.events:
            at = local_moment(bp_event.metadata.datetime_string, zone)
            average = bp_event.blood_pressure.blood_pressure_avg_object
            if (
                at is not None
                and average.systolic_mmHg_int is not None
                and average.diastolic_mmHg_int is not None
            ):
                series.pressures.append(
                    Pressure(at, average.systolic_mmHg_int, average.diastolic_mmHg_int)
                )
    async for oxygen in stored.documents(
        BodyOxygenationEventDocument, Pillar.BODY_HEALTH, DataStructure.OXYGENATION_EVENT
    ):
        for o_event in oxygen.events:
            at = local_moment(o_event.metadata.datetime_string, zone)
            spo2 = o_event.oxygenation.saturation_avg_percentage_int
            if at is not None and spo2 is not None:
                series.spo2_percent.append(Reading(at, float(spo2)))
    return series


def _night_date(
    sleep_date_string: str | None, datetime_string: str | None, zone: tzinfo | None
) -> date | None:
    """The night's date: its `sleep_date_string` (the morning it ended), else its reference
    time's local date."""
    if sleep_date_string:
        try:
            return date.fromisoformat(sleep_date_string)
        except ValueError:
            pass
    moment = local_moment(datetime_string, zone)
    return None if moment is None else moment.date()
