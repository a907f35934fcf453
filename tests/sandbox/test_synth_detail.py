"""Detail derived on request: sleep segments, intraday samples and ECG agree with the summaries."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rookery.sandbox.days import day_bounds
from rookery.sandbox.detail import allocate, fit_series
from rookery.sandbox.records import Record
from rookery.sandbox.synth import Population, generate_population
from rookery.withings.codes import SleepState

NOW: Final = datetime(2025, 10, 3, 18, 45, tzinfo=UTC)


@pytest.fixture(scope="module")
def population() -> Population:
    return generate_population(12, 77, now_utc=NOW, history_days=20)


def runs(values: list[int]) -> int:
    return sum(1 for i, v in enumerate(values) if v and (i == 0 or not values[i - 1]))


def test_segments_add_up_to_every_night(population: Population) -> None:
    checked = 0
    for user in population.users:
        for night in user.sleep_summaries:
            data = night["data"]
            segments = population.sleep_segments(user, night["startdate"], night["enddate"])
            per_state: Counter[int] = Counter()
            for segment in segments:
                assert 0 < segment["enddate"] - segment["startdate"] <= 600
                per_state[segment["state"]] += segment["enddate"] - segment["startdate"]
            assert per_state[SleepState.LIGHT] == data["lightsleepduration"]
            assert per_state[SleepState.DEEP] == data["deepsleepduration"]
            assert per_state[SleepState.REM] == data["remsleepduration"]
            assert per_state[SleepState.AWAKE] == data["wakeupduration"]
            starts = [s["startdate"] for s in segments]
            assert starts == sorted(starts)
            assert segments[0]["startdate"] == night["startdate"]
            assert segments[-1]["enddate"] == night["enddate"]
            assert all(a["enddate"] == b["startdate"] for a, b in itertools.pairwise(segments))
            if "hr_average" in data:
                hr = [v for s in segments for v in s["hr"].values()]
                assert len(hr) == (night["enddate"] - night["startdate"]) // 60
                assert min(hr) == data["hr_min"]
                assert max(hr) == data["hr_max"]
                assert abs(sum(hr) / len(hr) - data["hr_average"]) <= 0.5
                rr = [v for s in segments for v in s["rr"].values()]
                assert min(rr) == data["rr_min"]
                assert max(rr) == data["rr_max"]
            else:
                assert all("hr" not in s for s in segments)
            if "snoring" in data:
                marks = [v for s in segments for v in s["snoring"].values()]
                assert sum(marks) * 60 == data["snoring"]
                assert runs(marks) == data["snoringepisodecount"]
            checked += 1
    assert checked > 100


def test_wake_episodes_match_night_events(population: Population) -> None:
    for user in population.users:
        for night in user.sleep_summaries:
            events = night["data"]["night_events"]
            segments = population.sleep_segments(user, night["startdate"], night["enddate"])
            woke = []
            for before, after in itertools.pairwise(segments):
                if after["state"] == 0 and before["state"] != 0:
                    woke.append(after["startdate"] - night["startdate"])
            assert woke == events["3"]


def test_segments_are_the_same_every_time_and_cut_to_the_window(population: Population) -> None:
    user = next(u for u in population.users if u.sleep_summaries)
    night = user.sleep_summaries[-1]
    whole = population.sleep_segments(user, night["startdate"] - 3600, night["enddate"] + 3600)
    assert whole == population.sleep_segments(user, night["startdate"], night["enddate"])
    middle = night["startdate"] + 7200
    part = population.sleep_segments(user, middle, middle + 1800)
    assert part
    assert all(s["enddate"] > middle and s["startdate"] < middle + 1800 for s in part)


def watch_rows(population: Population) -> list[tuple[int, Record]]:
    return [
        (index, row)
        for index, user in enumerate(population.users)
        for row in user.activities
        if row["brand"] == 1
    ]


def test_intraday_steps_add_up_to_the_day(population: Population) -> None:
    checked = 0
    # Every other watch row: still over a hundred days, at half the cost (11 ms a day).
    for index, row in watch_rows(population)[::2]:
        user = population.users[index]
        start, end = day_bounds(ZoneInfo(user.timezone), date.fromisoformat(row["date"]))
        samples = population.intraday(user, start, end)
        assert all(local_day(user.timezone, int(at)) == row["date"] for at in samples)
        assert sum(s.get("steps", 0) for s in samples.values()) == row["steps"]
        heart = [s["heart_rate"] for s in samples.values() if "heart_rate" in s]
        if "hr_average" in row and heart:
            assert min(heart) >= 30
            assert max(heart) <= 220
        checked += 1
    assert checked > 100


def row_start(zone_name: str, row: Record) -> int:
    return day_bounds(ZoneInfo(zone_name), date.fromisoformat(row["date"]))[0]


def local_day(zone_name: str, epoch: int) -> str:
    return datetime.fromtimestamp(epoch, ZoneInfo(zone_name)).date().isoformat()


def test_intraday_of_today_stops_at_the_last_upload() -> None:
    population = generate_population(8, 5, now_utc=NOW, history_days=1)
    for user in population.users:
        for row in user.activities:
            if row["brand"] != 1:
                continue
            start = row_start(user.timezone, row)
            samples = population.intraday(user, start, start + 86_400)
            assert sum(s.get("steps", 0) for s in samples.values()) == row["steps"]
            assert all(int(at) < row["modified"] for at in samples)
            assert samples == population.intraday(user, start, start + 86_400)
            assert population.intraday(user, -(2**40), 2**40).keys() >= samples.keys()


def test_ecg_signal_is_plausible() -> None:
    everyone = generate_population(40, 3, now_utc=NOW, history_days=60)
    # Histories are generated on first touch: stop at the first user with an ECG.
    touched = (everyone.user(account.userid) for account in everyone.accounts)
    user = next(u for u in touched if u.heart)
    row = user.heart[0]
    body = everyone.ecg_signal(user, row["ecg"]["signalid"])
    assert len(body["signal"]) == body["sampling_frequency"] * (20 if row["model"] == 44 else 30)
    assert max(body["signal"]) > 500
    assert body["heart_rate"] == row["heart_rate"]
    assert body == everyone.ecg_signal(user, row["ecg"]["signalid"])


@given(st.integers(0, 10_000), st.lists(st.floats(0, 100), min_size=1, max_size=50))
def test_allocate_adds_up(total: int, weights: list[float]) -> None:
    parts = allocate(total, weights)
    assert sum(parts) == total
    assert all(part >= 0 for part in parts)


@given(
    st.lists(st.floats(-10, 10), min_size=3, max_size=400),
    st.integers(35, 60),
    st.integers(1, 15),
    st.integers(1, 40),
)
def test_fit_series_hits_min_max_and_mean(raw: list[float], low: int, up: int, span: int) -> None:
    average, high = low + up, low + up + span
    values = fit_series(raw, low, average, high)
    assert min(values) == low
    assert max(values) == high
    # 1e-9 absorbs float rounding of the two sides.
    assert abs(sum(values) / len(values) - average) <= max(1.0, (high - low) / len(values)) + 1e-9


def test_fit_series_of_a_flat_series_still_hits_the_bounds() -> None:
    values = fit_series([-2.7126576599760446] * 3, 35, 39, 40)
    assert (min(values), max(values)) == (35, 40)
    assert values == [35, 40, 40]  # as near the mean as three points between 35 and 40 get


def test_advance_keeps_detail_consistent() -> None:
    population = generate_population(4, 21, now_utc=NOW, history_days=2)
    population.advance(NOW + timedelta(hours=30))
    for user in population.users:
        for night in user.sleep_summaries:
            segments = population.sleep_segments(user, night["startdate"], night["enddate"])
            total = sum(s["enddate"] - s["startdate"] for s in segments)
            assert total == night["data"]["total_timeinbed"]
