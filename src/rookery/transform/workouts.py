"""Withings Measure v2 getworkouts → ROOK `activity_event` (physical pillar). Pure.

Identity (user, workout `id`): one event per workout. A workout listed twice (Withings does
this across pages and re-deliveries) is one event, from its most recently modified copy.
"""

from __future__ import annotations

from collections.abc import Iterable

from rookery.model.common import event_metadata, format_datetime
from rookery.model.physical import ActivityEventDocument
from rookery.transform.context import Produced, UserContext
from rookery.transform.rules import (
    bpm,
    first_present,
    opt_float,
    opt_int,
    positive,
    produced,
    sum_present,
)
from rookery.transform.time import exact, iso_local, local_datetime, zone
from rookery.withings.codes import workout_name
from rookery.withings.responses import Workout, WorkoutsPage


def latest_workouts(workouts: Iterable[Workout]) -> list[Workout]:
    """Each workout once, from its most recently modified copy (the later one on a tie), in
    the order of first appearance."""
    chosen: dict[int, Workout] = {}
    for workout in workouts:
        current = chosen.get(workout.id)
        if current is None or (workout.modified or 0) >= (current.modified or 0):
            chosen[workout.id] = workout
    return list(chosen.values())


def activity_events(page: WorkoutsPage, ctx: UserContext) -> list[Produced]:
    """One `activity_event` document per workout of `page`.

    Heart rate and SpO2 of 0 are null: Withings writes 0 when the source (Google Fit, a manual
    entry) measured nothing, and no one exercises at 0 bpm.
    """
    return [_event(workout, ctx) for workout in latest_workouts(page.series)]


def _event(workout: Workout, ctx: UserContext) -> Produced:
    tz = zone(workout.timezone)
    data = workout.data
    distance_m = first_present(data.distance, positive(data.manual_distance))
    laps = positive(data.pool_laps)
    pool_length_m = positive(data.pool_length)
    rest_s = (
        None
        if data.pause_duration is None and data.algo_pause_duration is None
        else sum_present(data.pause_duration, data.algo_pause_duration)
    )
    start = local_datetime(workout.startdate, tz)
    started = format_datetime(start)
    # The event's fields by ROOK key, validated once with the document (see `of_fields`).
    document = ActivityEventDocument.of_fields(
        {
            "metadata": event_metadata(started, ctx.user_id, under_physical_activity=True),
            "activity": {
                "activity_start_datetime_string": started,
                "activity_end_datetime_string": iso_local(workout.enddate, tz),
                "activity_duration_seconds_int": workout.enddate - workout.startdate,
                "activity_type_name_string": workout_name(workout.category),
                "rest_seconds_int": opt_int(rest_s),
            },
            "calories": {
                "calories_net_active_kcal_float": opt_float(
                    first_present(data.calories, positive(data.manual_calories))
                )
            },
            "distance": {
                "steps_int": opt_int(data.steps),
                "walked_distance_meters_float": opt_float(distance_m),
                "traveled_distance_meters_float": opt_float(distance_m),
                "swimming_num_laps_int": opt_int(data.pool_laps),
                "swimming_pool_length_meters_float": opt_float(data.pool_length),
                "swimming_num_strokes_float": opt_float(data.strokes),
                "swimming_total_distance_meters_float": (
                    None
                    if laps is None or pool_length_m is None
                    else float(exact(laps) * exact(pool_length_m))
                ),
            },
            "heart_rate": {
                "hr_avg_bpm_int": bpm(data.hr_average),
                "hr_minimum_bpm_int": bpm(data.hr_min),
                "hr_maximum_bpm_int": bpm(data.hr_max),
            },
            "oxygenation": {"saturation_avg_percentage_int": opt_int(positive(data.spo2_average))},
            # The model copies the record: no copy of our own.
            "non_structured_data_array": (workout.raw,),
        },
        client_uuid=ctx.client_uuid,
        user_id=ctx.user_id,
    )
    return produced(document, f"workout:{workout.id}", start.date())
