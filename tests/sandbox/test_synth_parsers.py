"""Generated records read cleanly with Rookery's Withings parsers and with aiowithings' models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

import pytest
from aiowithings.models import (
    Activity,
    Device,
    Goals,
    MeasurementGroup,
    SleepSeries,
    SleepSummary,
    Workout,
)

from rookery.sandbox.synth import Population, generate_population
from rookery.withings import responses

NOW: Final = datetime(2025, 6, 20, 7, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def population() -> Population:
    return generate_population(15, 31, now_utc=NOW, history_days=30)


def test_bodies_parse_with_rookery_parsers(population: Population) -> None:
    for user in population.users:
        meas = responses.parse_getmeas(
            {
                "updatetime": 1,
                "timezone": user.timezone,
                "measuregrps": user.measuregrps,
                "more": 0,
                "offset": 0,
            }
        )
        assert len(meas.measuregrps) == len(user.measuregrps)
        responses.parse_getactivity({"activities": user.activities, "more": False, "offset": 0})
        responses.parse_getworkouts({"series": user.workouts, "more": False, "offset": 0})
        responses.parse_sleep_getsummary(
            {"series": user.sleep_summaries, "more": False, "offset": 0}
        )
        responses.parse_heart_list({"series": user.heart, "more": False, "offset": 0})
        responses.parse_getdevice({"devices": user.devices})
        responses.parse_getgoals({"goals": user.goals or []})
        if user.sleep_summaries:
            night = user.sleep_summaries[-1]
            segments = population.sleep_segments(user, night["startdate"], night["enddate"])
            responses.parse_sleep_get({"series": segments, "model": night["model"]})
        start = int(NOW.timestamp()) - 86_400
        series = population.intraday(user, start, start + 86_400)
        responses.parse_getintradayactivity({"series": series})


def test_records_parse_with_aiowithings(population: Population) -> None:
    for user in population.users:
        for group in user.measuregrps:
            MeasurementGroup.from_api(dict(group))
        for row in user.activities:
            Activity.from_api(row)
        for workout in user.workouts:
            Workout.from_api(workout)
        for night in user.sleep_summaries:
            SleepSummary.from_api(night)
        # Segments have one shape per device: the last nights of each user cover them all.
        for night in user.sleep_summaries[-3:]:
            for segment in population.sleep_segments(user, night["startdate"], night["enddate"]):
                SleepSeries.from_api(segment)
        for device in user.devices:
            Device.from_api(device)
        Goals.from_api(user.goals or [])
