"""The synthetic population: deterministic, physiologically consistent, zone-correct, live."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rookery.sandbox.days import day_bounds, local_date, local_epoch, plan_day
from rookery.sandbox.notices import RecordKind, measure_appli
from rookery.sandbox.profiles import make_profile
from rookery.sandbox.records import Record, SandboxUser
from rookery.sandbox.synth import (
    Population,
    UnknownRecordError,
    UnknownUserError,
    all_records,
    generate_population,
    record_key,
)
from rookery.withings.codes import Appli, MeasureAttrib, MeasureType

NOW: Final = datetime(2025, 4, 10, 9, 30, tzinfo=UTC)
T = MeasureType


@pytest.fixture(scope="module")
def population() -> Population:
    """A hundred users with ninety days of data (shared: the tests only read it)."""
    return generate_population(100, 2025, now_utc=NOW)


def dump(population: Population) -> str:
    """Every user and record, as bytes would be served."""
    return json.dumps([vars_of(u) for u in population.users], sort_keys=True)


def vars_of(user: SandboxUser) -> dict[str, object]:
    return {name: getattr(user, name) for name in SandboxUser.__dataclass_fields__}


def values(group: Record) -> dict[int, float]:
    return {m["type"]: m["value"] * 10 ** m["unit"] for m in group["measures"]}


# --- determinism ---------------------------------------------------------------------------


def test_same_seed_gives_byte_identical_records() -> None:
    first = generate_population(12, 5, now_utc=NOW, history_days=20)
    second = generate_population(12, 5, now_utc=NOW, history_days=20)
    assert dump(first) == dump(second)


def test_other_seed_gives_other_users_and_ids() -> None:
    one = generate_population(5, 1, now_utc=NOW, history_days=10)
    two = generate_population(5, 2, now_utc=NOW, history_days=10)
    assert dump(one) != dump(two)
    assert {u.userid for u in one.users}.isdisjoint({u.userid for u in two.users})


def test_a_user_is_the_same_in_a_bigger_population() -> None:
    small = generate_population(3, 9, now_utc=NOW, history_days=15)
    big = generate_population(8, 9, now_utc=NOW, history_days=15)
    assert [vars_of(u) for u in small.users] == [vars_of(u) for u in big.users[:3]]


def test_bad_arguments_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="count"):
        generate_population(-1, 1, now_utc=NOW)
    with pytest.raises(ValueError, match="aware"):
        generate_population(1, 1, now_utc=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="history_days"):
        generate_population(1, 1, now_utc=NOW, history_days=-3)
    population = generate_population(1, 1, now_utc=NOW, history_days=2)
    with pytest.raises(ValueError, match="back in time"):
        population.advance(NOW - timedelta(hours=1))
    with pytest.raises(UnknownUserError):
        population.user(42)


# --- shape and coverage of a 100-user population -------------------------------------------


def test_population_spreads_over_zones_and_devices(population: Population) -> None:
    zones = Counter(u.timezone for u in population.users)
    assert {"Pacific/Chatham", "America/St_Johns", "Asia/Kathmandu", "Asia/Kolkata"} <= set(zones)
    models = Counter(d["model_id"] for u in population.users for d in u.devices)
    assert {5, 6, 44, 45, 63, 70, 90, 93} <= set(models)
    assert len({u.userid for u in population.users}) == 100
    for user in population.users:
        for device in user.devices:
            assert len(device["deviceid"]) == 40
            assert device["first_session_date"] <= (device["last_session_date"] or 2**40)


def test_every_kind_of_record_appears(population: Population) -> None:
    groups = [g for u in population.users for g in u.measuregrps]
    types = Counter(m["type"] for g in groups for m in g["measures"])
    assert {1, 4, 5, 6, 8, 9, 10, 11, 12, 54, 71, 76, 77, 88} <= set(types)
    attribs = Counter(g["attrib"] for g in groups)
    assert attribs[MeasureAttrib.MANUAL] > 100  # heights plus typed-in weights
    assert attribs[MeasureAttrib.DEVICE_AMBIGUOUS] >= 1
    manual = [g for g in groups if g["attrib"] == MeasureAttrib.MANUAL]
    assert all(g["deviceid"] is None and g["model"] is None for g in manual)
    units = Counter((m["type"], m["unit"]) for g in groups for m in g["measures"])
    assert units[(1, -3)]
    assert units[(1, -2)]
    assert units[(10, 0)]
    assert units[(10, -2)]
    workouts = [w for u in population.users for w in u.workouts]
    assert len({w["category"] for w in workouts}) >= 6
    swims = [w for w in workouts if w["category"] == 7]
    assert swims
    assert all(
        w["data"]["pool_laps"] > 0 and "steps" not in w["data"] and "distance" not in w["data"]
        for w in swims
    )
    nights = [s for u in population.users for s in u.sleep_summaries]
    assert {s["model"] for s in nights} == {16, 32}
    assert any(s["enddate"] - s["startdate"] < 3 * 3600 for s in nights)  # naps
    assert sum(len(u.heart) for u in population.users) >= 1


def test_some_dates_have_a_watch_row_and_a_phone_row(population: Population) -> None:
    doubles = 0
    for user in population.users:
        per_date = Counter(row["date"] for row in user.activities)
        doubles += sum(1 for count in per_date.values() if count == 2)
        for row in user.activities:
            if row["brand"] == 18:
                assert row["deviceid"] is None
                assert row["is_tracker"] is False
            else:
                assert row["brand"] == 1
                assert row["deviceid"]
                assert row["is_tracker"] is True
    assert doubles > 50


def test_there_are_gaps(population: Population) -> None:
    history = (population.now_utc - population.start_utc).days
    with_monitor = [u for u in population.users if any(d["model_id"] == 63 for d in u.devices)]
    assert any(len({s["date"] for s in u.sleep_summaries}) < history - 3 for u in with_monitor)


# --- physiological consistency, every record of 100 users ----------------------------------


def test_nights_add_up(population: Population) -> None:
    for user in population.users:
        for night in user.sleep_summaries:
            data = night["data"]
            asleep = data["lightsleepduration"] + data["deepsleepduration"]
            asleep += data["remsleepduration"]
            assert data["total_sleep_time"] == asleep
            in_bed = data["total_timeinbed"]
            assert in_bed == night["enddate"] - night["startdate"]
            assert in_bed >= asleep
            assert in_bed == asleep + data["wakeupduration"]
            awake = data["sleep_latency"] + data["waso"] + data["wakeup_latency"]
            assert data["wakeupduration"] == awake
            assert 0 <= data["sleep_efficiency"] <= 1
            assert abs(data["sleep_efficiency"] - asleep / in_bed) <= 0.0051  # rounded to 2 places
            assert 0 <= data["sleep_score"] <= 100
            if "hr_average" in data:
                assert 35 <= data["hr_min"] <= data["hr_average"] <= data["hr_max"] <= 140
                assert 6 <= data["rr_min"] <= data["rr_average"] <= data["rr_max"] <= 30
            if night["model"] == 32:
                assert data["snoring"] >= 60 * data["snoringepisodecount"] >= 0
            events = data["night_events"]
            assert events["1"][0] == 0
            assert events["4"][-1] == in_bed
            assert events["3"][-1] == in_bed - data["wakeup_latency"]


def test_nights_are_dated_by_their_local_end(population: Population) -> None:
    for user in population.users:
        zone = ZoneInfo(user.timezone)
        for night in user.sleep_summaries:
            assert night["date"] == local_date(zone, night["enddate"]).isoformat()
            assert night["timezone"] == user.timezone
            assert night["created"] >= night["enddate"]


def test_measures_are_plausible(population: Population) -> None:
    for user in population.users:
        own = []
        for group in user.measuregrps:
            found = values(group)
            assert group["created"] >= group["date"]
            assert group["category"] == 1
            if T.SYSTOLIC_MMHG in found:
                assert found[T.SYSTOLIC_MMHG] > found[T.DIASTOLIC_MMHG] + 15
                assert 40 <= found[T.HEART_PULSE_BPM] <= 120
            if T.FAT_MASS_KG in found:
                weight = found[T.WEIGHT_KG]
                fat, fat_free = found[T.FAT_MASS_KG], found[T.FAT_FREE_MASS_KG]
                assert abs(fat + fat_free - weight) <= 0.02
                assert abs(found[T.FAT_RATIO_PERCENT] - 100 * fat / weight) <= 0.01
                assert abs(found[T.MUSCLE_MASS_KG] + found[T.BONE_MASS_KG] - fat_free) <= 0.02
                assert found[T.HYDRATION_KG] < fat_free
            if T.SPO2_PERCENT in found:
                assert 90 <= found[T.SPO2_PERCENT] <= 100
            if T.BODY_TEMPERATURE_C in found:
                assert 35.5 <= found[T.BODY_TEMPERATURE_C] <= 40.5
            if T.WEIGHT_KG in found and group["attrib"] == MeasureAttrib.DEVICE:
                own.append((group["date"], found[T.WEIGHT_KG]))
        for (before, w1), (after, w2) in itertools.pairwise(own):
            days = (after - before) / 86_400
            assert abs(w2 - w1) <= 1.3 + 0.12 * days, (user.userid, w1, w2, days)


def test_activity_and_workouts_are_plausible(population: Population) -> None:
    for user in population.users:
        for row in user.activities:
            assert row["active"] == row["moderate"] + row["intense"]
            assert row["totalcalories"] >= row["calories"] >= 0
            assert row["steps"] >= 0
            assert row["distance"] >= 0
            if "hr_average" in row:
                assert 35 <= row["hr_min"] <= row["hr_average"] <= row["hr_max"] <= 220
                zones = sum(row[f"hr_zone_{z}"] for z in range(4))
                assert zones <= 25 * 3600
        for workout in user.workouts:
            data = workout["data"]
            assert workout["enddate"] > workout["startdate"]
            zone = ZoneInfo(user.timezone)
            assert workout["date"] == local_date(zone, workout["startdate"]).isoformat()
            if data["hr_average"]:
                assert data["hr_min"] <= data["hr_average"] <= data["hr_max"]
                zones = sum(data[f"hr_zone_{z}"] for z in range(4))
                duration = workout["enddate"] - workout["startdate"] - data["pause_duration"]
                assert zones == duration


# --- zones, DST and odd offsets ------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone_name", "day", "hours"),
    [
        ("Pacific/Chatham", date(2025, 4, 6), 25),  # +13:45 -> +12:45 at 03:45
        ("Pacific/Chatham", date(2025, 9, 28), 23),  # +12:45 -> +13:45 at 02:45
        ("America/St_Johns", date(2025, 3, 9), 23),  # -03:30 -> -02:30
        ("America/St_Johns", date(2025, 11, 2), 25),
        ("Asia/Kathmandu", date(2025, 3, 30), 24),
    ],
)
def test_day_bounds_follow_the_zone(zone_name: str, day: date, hours: int) -> None:
    zone = ZoneInfo(zone_name)
    start, end = day_bounds(zone, day)
    assert end - start == hours * 3600
    assert datetime.fromtimestamp(start, zone).time().isoformat() == "00:00:00"
    assert local_date(zone, start) == day
    assert local_date(zone, end - 1) == day
    noon = local_epoch(zone, day, 12)
    assert datetime.fromtimestamp(noon, zone).hour == 12


@pytest.mark.parametrize(
    ("zone_name", "change_utc"),
    [
        ("Pacific/Chatham", datetime(2025, 4, 5, 14, 0, tzinfo=UTC)),
        ("America/St_Johns", datetime(2025, 3, 9, 5, 30, tzinfo=UTC)),
    ],
)
def test_dates_stay_local_across_a_dst_change(zone_name: str, change_utc: datetime) -> None:
    population = generate_population(15, 3, now_utc=change_utc + timedelta(days=4), history_days=10)
    users = [u for u in population.users if u.timezone == zone_name]
    assert users
    zone = ZoneInfo(zone_name)
    for user in users:
        dates = [row["date"] for row in user.activities if row["brand"] == 1]
        assert len(dates) == len(set(dates))
        for row in user.activities:
            assert row["timezone"] == zone_name
        for group in user.measuregrps:
            taken = datetime.fromtimestamp(group["date"], zone)
            assert taken.utcoffset() == zone.utcoffset(taken.replace(tzinfo=None))
        for night in user.sleep_summaries:
            assert night["date"] == local_date(zone, night["enddate"]).isoformat()
        around = {
            (change_utc + timedelta(days=d)).astimezone(zone).date().isoformat() for d in (-1, 0, 1)
        }
        assert around & {s["date"] for s in user.sleep_summaries} or around & set(dates)


@pytest.mark.parametrize(
    "now",
    # 01:47Z is 07:17 in Kolkata and 15:32 in Chatham on the 28th but 22:17 in St John's on the
    # 27th; the other hours move each zone's date across the UTC date the other way.
    [
        datetime(2026, 11, 28, hour, minute, tzinfo=UTC)
        for hour, minute in ((1, 47), (4, 20), (10, 5), (13, 30), (18, 40), (22, 15))
    ],
)
def test_activity_rows_are_the_users_local_days_at_any_hour(now: datetime) -> None:
    """Each row is dated by the local day it is planned for, never by the UTC date, and every
    local day of the window has each of its sources' rows as of their last upload."""
    population = generate_population(6, 31, now_utc=now, history_days=4)
    offsets = {now.astimezone(ZoneInfo(u.timezone)).strftime("%z") for u in population.users}
    assert {"-0330", "-0800", "+0530", "+0545", "+1345"} <= offsets
    start_s, now_s = int(population.start_utc.timestamp()), int(now.timestamp())
    for index, user in enumerate(population.users):
        zone = ZoneInfo(user.timezone)
        stored = {(row["date"], row["brand"]): row for row in user.activities}
        # The day before the start still uploads its last sync on the start's morning.
        day = local_date(zone, start_s) - timedelta(days=1)
        while day <= local_date(zone, now_s):
            for planned in plan_day(make_profile(31, index), day).activities:
                synced = [at for at in planned.syncs if start_s < at <= now_s]
                row = stored.pop((day.isoformat(), planned.full["brand"]), None)
                assert row == (planned.row_at(synced[-1]) if synced else None), (user.timezone, day)
            day += timedelta(days=1)
        assert stored == {}, user.timezone


# --- live mode -----------------------------------------------------------------------------


def test_one_step_equals_many_steps_equals_fresh() -> None:
    stepped = generate_population(6, 11, now_utc=NOW, history_days=5, lazy=False)
    jumped = generate_population(6, 11, now_utc=NOW, history_days=5, lazy=False)
    until = NOW + timedelta(days=2)
    many = []
    at = NOW
    while at < until:
        at = min(until, at + timedelta(minutes=47))
        many += stepped.advance(at)
    one = jumped.advance(until)
    assert dump(stepped) == dump(jumped)
    assert many == one
    assert many
    fresh = generate_population(6, 11, now_utc=until, history_days=7)
    assert dump(fresh) == dump(jumped)


def test_lazy_history_is_byte_identical_to_eager() -> None:
    eager = generate_population(8, 13, now_utc=NOW, history_days=20, lazy=False)
    lazy = generate_population(8, 13, now_utc=NOW, history_days=20)
    assert lazy.awake_userids == set()
    assert lazy.accounts == eager.accounts
    ids = [a.userid for a in lazy.accounts]
    # Touch users in a scrambled order, some before and some after the clock moves on.
    lazy.user(ids[5])
    lazy.add_measures(ids[2], {T.WEIGHT_KG: 70.5}, taken_at_utc=NOW)
    eager.add_measures(ids[2], {T.WEIGHT_KG: 70.5}, taken_at_utc=NOW)
    assert lazy.awake_userids == {ids[5], ids[2]}
    later = NOW + timedelta(hours=30)
    eager_changes = eager.advance(later)
    lazy_changes = lazy.advance(later)
    # Only touched users take part in live mode; theirs are exactly the eager changes.
    assert lazy_changes == [c for c in eager_changes if c.userid in {ids[5], ids[2]}]
    assert lazy_changes
    for userid in (ids[7], ids[0]):
        assert vars_of(lazy.user(userid)) == vars_of(eager.user(userid))
    assert dump(lazy) == dump(eager)
    assert lazy.advance(later + timedelta(hours=5)) == eager.advance(later + timedelta(hours=5))


def test_live_mode_notifies_what_arrives() -> None:
    population = generate_population(20, 4, now_utc=NOW, history_days=3, lazy=False)
    changes = population.advance(NOW + timedelta(days=1))
    applis = Counter(change.appli for change in changes)
    assert applis[Appli.WEIGHT]
    assert applis[Appli.SLEEP]
    assert applis[Appli.ACTIVITY]
    assert applis[Appli.PRESSURE_HEART_SPO2]
    for change in changes:
        if change.appli is Appli.ACTIVITY:
            assert change.date is not None
            assert change.startdate is None
        else:
            assert change.startdate is not None
            assert change.enddate is not None
            assert change.enddate >= change.startdate
    assert population.now_utc == NOW + timedelta(days=1)
    assert population.advance(population.now_utc) == []


def test_a_day_row_grows_during_the_day() -> None:
    population = generate_population(10, 8, now_utc=NOW, history_days=1)
    user = next(u for u in population.users if any(d["model_id"] == 93 for d in u.devices))
    zone = ZoneInfo(user.timezone)
    today = local_date(zone, int(NOW.timestamp())) + timedelta(days=1)
    seen = []
    for hour in range(6, 34, 2):
        population.advance(datetime.fromtimestamp(local_epoch(zone, today, hour), UTC))
        row = next(
            (r for r in user.activities if r["date"] == today.isoformat() and r["brand"] == 1),
            None,
        )
        if row is not None:
            seen.append((row["modified"], row["steps"], row["totalcalories"]))
    assert len({modified for modified, _, _ in seen}) >= 3
    assert seen == sorted(seen)
    assert seen[-1][1] > seen[0][1]


# --- control helpers -----------------------------------------------------------------------


def test_control_helpers_add_change_and_remove() -> None:
    population = generate_population(2, 1, now_utc=NOW, history_days=2)
    user = population.users[0]
    taken = NOW - timedelta(hours=2)
    change = population.add_measures(user.userid, {T.WEIGHT_KG: 81.25}, taken_at_utc=taken)
    assert change.appli is Appli.WEIGHT
    assert change.startdate == int(taken.timestamp())
    added = next(g for g in user.measuregrps if g["date"] == int(taken.timestamp()))
    assert values(added) == {1: 81.25}
    assert added["attrib"] == MeasureAttrib.MANUAL
    assert added["created"] == int(NOW.timestamp())
    key = record_key(RecordKind.MEASURE, added)
    later = NOW + timedelta(minutes=5)
    changes = {"measures": [{"value": 80, "type": 1, "unit": 0, "algo": 0, "fm": 128}]}
    population.update_record(user.userid, RecordKind.MEASURE, key, changes, at_utc=later)
    updated = next(g for g in user.measuregrps if g["grpid"] == key)
    assert values(updated) == {1: 80}
    assert updated["modified"] == int(later.timestamp())
    dates = [g["date"] for g in user.measuregrps]
    assert dates == sorted(dates)
    removed = population.remove_record(user.userid, RecordKind.MEASURE, key)
    assert removed.appli is Appli.WEIGHT
    assert all(g["grpid"] != key for g in user.measuregrps)
    with pytest.raises(UnknownRecordError):
        population.remove_record(user.userid, RecordKind.MEASURE, key)
    with pytest.raises(ValueError, match="needs"):
        population.add_record(user.userid, RecordKind.WORKOUT, {"category": 1})


def test_control_activity_row_replaces_the_day() -> None:
    population = generate_population(3, 2, now_utc=NOW, history_days=3)
    user = next(u for u in population.users if u.activities)
    row = user.activities[0]
    count = len(user.activities)
    change = population.update_record(
        user.userid, RecordKind.ACTIVITY, row["date"], {"steps": 12345}, brand=row["brand"]
    )
    assert change.appli is Appli.ACTIVITY
    assert change.date == row["date"]
    assert len(user.activities) == count
    assert any(r["steps"] == 12345 for r in user.activities)


def test_measure_appli_is_the_most_specific_category() -> None:
    assert measure_appli({1, 6, 5, 8, 76, 77, 88, 11}) is Appli.WEIGHT
    assert measure_appli({71}) is Appli.TEMPERATURE
    assert measure_appli({12, 71}) is Appli.TEMPERATURE
    assert measure_appli({9, 10, 11}) is Appli.PRESSURE_HEART_SPO2
    assert measure_appli({54}) is Appli.PRESSURE_HEART_SPO2
    assert measure_appli({4}) is Appli.WEIGHT


# --- start-up (its speed is measured by bench/sandbox.py, not timed here) -------------------


def test_a_population_generates_history_only_for_the_users_touched() -> None:
    population = generate_population(100, 99, now_utc=NOW, history_days=90)
    assert len(population.accounts) == 100
    assert population.awake_userids == frozenset()
    touched = population.accounts[42].userid
    user = population.user(touched)  # ninety days of one user, on first touch
    assert population.awake_userids == {touched}
    assert user.measuregrps
    assert user.sleep_summaries


# --- rules that hold for every seed --------------------------------------------------------


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=-(2**40), max_value=2**40), days=st.integers(0, 6))
def test_every_seed_gives_consistent_sorted_records(seed: int, days: int) -> None:
    population = generate_population(3, seed, now_utc=NOW, history_days=days)
    now = int(NOW.timestamp())
    start = int(population.start_utc.timestamp())
    for user in population.users:
        for kind, record in all_records(user):
            stamp = record["created"] if "created" in record else record["modified"]
            assert start <= stamp <= now, kind
        for night in user.sleep_summaries:
            data = night["data"]
            parts = data["lightsleepduration"] + data["deepsleepduration"]
            assert data["total_sleep_time"] == parts + data["remsleepduration"]
            assert data["total_timeinbed"] >= data["total_sleep_time"]
        assert [g["date"] for g in user.measuregrps] == sorted(g["date"] for g in user.measuregrps)
        assert [w["startdate"] for w in user.workouts] == sorted(
            w["startdate"] for w in user.workouts
        )
