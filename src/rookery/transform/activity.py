"""Withings Measure v2 getactivity (+ getintradayactivity) → ROOK `physical_summary`. Pure.

Identity (user, `date`). Withings may return several rows for one date (one per source); the
summary is built from one of them, never from their sum: a Withings device (`brand` 1) first,
then the most recently modified.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from rookery.model.common import (
    Activity,
    Calories,
    HeartRate,
    HrGranularItem,
    StepsGranularItem,
    summary_metadata,
)
from rookery.model.physical import (
    PhysicalSummary,
    PhysicalSummaryDistance,
    PhysicalSummaryDocument,
)
from rookery.transform.context import Produced, UserContext
from rookery.transform.rules import (
    bpm,
    difference,
    first_present,
    opt_float,
    opt_int,
    produced,
    sum_present,
)
from rookery.transform.time import end_of_day, iso_local, local_date, start_of_day, zone
from rookery.withings.codes import ActivityBrand
from rookery.withings.responses import ActivityDay, ActivityPage, IntradayActivity, IntradaySample


def preferred_rows(rows: Iterable[ActivityDay]) -> dict[date, ActivityDay]:
    """The row each date's summary is built from: a Withings device's over any other source's,
    then the most recently modified (the later in the input on a tie)."""
    chosen: dict[date, ActivityDay] = {}
    for row in rows:
        current = chosen.get(row.date)
        if current is None or _preference(row) >= _preference(current):
            chosen[row.date] = row
    return chosen


def _preference(row: ActivityDay) -> tuple[bool, int]:
    return (row.brand == ActivityBrand.WITHINGS, row.modified or 0)


def physical_summaries(
    page: ActivityPage, ctx: UserContext, intraday: IntradayActivity | None = None
) -> list[Produced]:
    """One `physical_summary` per date of `page`, dated at the local midnight that starts it.

    With `intraday` (getintradayactivity over the same days), each summary also carries the
    steps and heart-rate samples of its local day.
    """
    out: list[Produced] = []
    for day, row in sorted(preferred_rows(page.activities).items()):
        tz = zone(row.timezone)
        samples = () if intraday is None else _samples_of_day(intraday.series, day, tz)
        steps_items, hr_items = _granular(samples, tz)
        raw: list[dict[str, Any]] = [dict(row.raw)]
        if samples:
            raw.append(_raw_series(samples))
        summary = PhysicalSummary(
            metadata=summary_metadata(start_of_day(day, tz), ctx.user_id),
            activity=Activity(
                active_seconds_int=opt_int(
                    first_present(row.active, sum_present(row.moderate, row.intense))
                ),
                low_intensity_seconds_int=opt_int(row.soft),
                moderate_intensity_seconds_int=opt_int(row.moderate),
                vigorous_intensity_seconds_int=opt_int(row.intense),
            ),
            calories=Calories(
                calories_expenditure_kcal_float=opt_float(row.totalcalories),
                calories_net_active_kcal_float=opt_float(row.calories),
                calories_basal_metabolic_rate_kcal_float=difference(
                    row.totalcalories, row.calories
                ),
            ),
            distance=PhysicalSummaryDistance(
                steps_int=opt_int(row.steps),
                walked_distance_meters_float=opt_float(row.distance),
                traveled_distance_meters_float=opt_float(row.distance),
                floors_climbed_float=opt_float(row.elevation),
                steps_granular_data_array=steps_items,
            ),
            heart_rate=HeartRate(
                hr_avg_bpm_int=bpm(row.hr_average),
                hr_minimum_bpm_int=bpm(row.hr_min),
                hr_maximum_bpm_int=bpm(row.hr_max),
                hr_granular_data_array=hr_items,
            ),
            non_structured_data_array=tuple(raw),
        )
        out.append(_document(summary, ctx, day))
    return out


def physical_summaries_from_intraday(
    intraday: IntradayActivity, ctx: UserContext
) -> list[Produced]:
    """One `physical_summary` per local date (in `ctx.timezone`: intraday names no zone) that
    `intraday` has samples for, carrying only the steps and heart-rate samples of that day.

    The day totals stay null: an intraday window is at most 24 h and rarely aligned to local
    days, so summing its samples would pass part of a day off as the whole day.
    """
    tz = ctx.timezone
    by_day: dict[date, list[IntradaySample]] = {}
    for sample in intraday.series:
        by_day.setdefault(local_date(sample.timestamp, tz), []).append(sample)
    out: list[Produced] = []
    for day, samples in sorted(by_day.items()):
        steps_items, hr_items = _granular(samples, tz)
        summary = PhysicalSummary(
            metadata=summary_metadata(start_of_day(day, tz), ctx.user_id),
            distance=PhysicalSummaryDistance(steps_granular_data_array=steps_items),
            heart_rate=HeartRate(hr_granular_data_array=hr_items),
            non_structured_data_array=(_raw_series(samples),),
        )
        out.append(_document(summary, ctx, day))
    return out


def _document(summary: PhysicalSummary, ctx: UserContext, day: date) -> Produced:
    document = PhysicalSummaryDocument.of(summary, client_uuid=ctx.client_uuid, user_id=ctx.user_id)
    return produced(document, day.isoformat(), day)


def _samples_of_day(
    samples: Sequence[IntradaySample], day: date, tz: ZoneInfo
) -> tuple[IntradaySample, ...]:
    start_s = start_of_day(day, tz).timestamp()
    end_s = end_of_day(day, tz).timestamp()
    return tuple(sample for sample in samples if start_s <= sample.timestamp < end_s)


def _granular(
    samples: Sequence[IntradaySample], tz: ZoneInfo
) -> tuple[tuple[StepsGranularItem, ...], tuple[HrGranularItem, ...]]:
    steps: list[StepsGranularItem] = []
    heart_rate: list[HrGranularItem] = []
    for sample in samples:
        if sample.steps is not None:
            steps.append(
                {
                    "datetime_string": iso_local(sample.timestamp, tz),
                    "interval_duration_seconds_float": opt_float(sample.duration),
                    "steps_int": opt_int(sample.steps),
                }
            )
        hr = bpm(sample.heart_rate)
        if hr is not None:
            heart_rate.append(
                {
                    "datetime_string": iso_local(sample.timestamp, tz),
                    "interval_duration_seconds_float": opt_float(sample.duration),
                    "hr_bpm_int": hr,
                }
            )
    return tuple(steps), tuple(heart_rate)


def _raw_series(samples: Sequence[IntradaySample]) -> dict[str, Any]:
    """The day's part of the raw intraday `series` object, keyed by epoch second as Withings
    keys it (a sample's own dict does not carry its time)."""
    return {str(sample.timestamp): sample.raw for sample in samples}
