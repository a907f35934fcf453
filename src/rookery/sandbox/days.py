"""One local day of a synthetic user: every record the day produces and when Withings holds it.

`plan_day(profile, day)` depends on the profile and the date alone (its randomness comes from a
stream named by both), so a day is the same whether it is generated at start-up or in live mode,
in one window or many. Records are in Withings' wire shape (../shared/research/withings_api.md §3);
every date, day boundary and `YYYY-MM-DD` is taken in the user's own zone.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

from rookery.sandbox.notices import ECG_DURATION_S, RecordKind
from rookery.sandbox.profiles import (
    ECG_MODELS,
    HEART_RATE_MODELS,
    SWIMMING,
    Device,
    UserProfile,
)
from rookery.sandbox.records import Record
from rookery.sandbox.streams import stream, uniforms
from rookery.withings.codes import (
    ActivityBrand,
    MeasureAttrib,
    MeasureType,
    SleepModel,
    device_model_name,
)

HOUR_S: Final = 3600
MINUTE_S: Final = 60

# Ids grow with time like Withings' own: (day, slot, user index) packed into one int64.
_ID_DAY_ORIGIN: Final = date(2000, 1, 1).toordinal()
_ID_SLOTS: Final = 64
_ID_USERS: Final = 100_000


class Slot:
    """Where in a day's id space each generated record sits (one record per slot and day)."""

    WEIGH_IN: Final = 0
    GUEST_WEIGH_IN: Final = 1
    MANUAL_WEIGHT: Final = 2
    BP_MORNING: Final = 3
    BP_EVENING: Final = 4
    SPO2: Final = 5
    TEMPERATURE: Final = 6
    HEIGHT: Final = 7
    WORKOUT: Final = 10
    NIGHT: Final = 20
    NAP: Final = 21
    ECG_BPM: Final = 30
    ECG_WATCH: Final = 31


def record_id(day: date, slot: int, index: int) -> int:
    """The Withings id of the record in `slot` on `day` for the user at `index`."""
    return ((day.toordinal() - _ID_DAY_ORIGIN) * _ID_SLOTS + slot) * _ID_USERS + index


@dataclass(frozen=True, slots=True)
class Arrival:
    """A record and the moment Withings holds it (its `created`/`modified`)."""

    at: int
    kind: RecordKind
    record: Record


@dataclass(frozen=True, slots=True)
class HourShape:
    """What decides how a day's movement spreads over its hours from local midnight.

    Only the current day's partial rows and intraday requests need the weights, so they are
    computed on demand from their own stream rather than for every day at start-up.
    """

    key: tuple[int, int, int]
    count: int
    wake_h: float
    bed_h: float
    workout_hours: tuple[int, ...] = ()

    def weights(self) -> tuple[float, ...]:
        """One weight per hour: none asleep, more in the afternoon, a lot in a walking workout."""
        rng = stream(*self.key, "hours")
        weights = []
        for hour in range(self.count):
            middle = hour + 0.5
            awake = self.wake_h <= middle <= self.bed_h
            base = 0.6 + 0.4 * math.sin(math.pi * (middle - 7) / 14) if awake else 0.0
            boost = 3.0 if hour in self.workout_hours else 0.0
            weights.append(max(0.0, base) * rng.uniform(0.3, 1.7) + boost)
        return tuple(weights)


@dataclass(frozen=True, slots=True)
class ActivityDay:
    """One source's activity for one local day, as it grows with each upload (sync)."""

    full: Record
    syncs: tuple[int, ...]
    day_start: int
    day_end: int
    shape: HourShape
    passive_kcal: float

    def covered_until(self, sync_at: int) -> int:
        """The end of the data an upload at `sync_at` carries: the last whole hour of the day."""
        if sync_at >= self.day_end:
            return self.day_end
        hours = max(0, (sync_at - self.day_start) // HOUR_S)
        return self.day_start + hours * HOUR_S

    def row_at(self, sync_at: int) -> Record:
        """The getactivity row as it stands after the upload at `sync_at`."""
        covered = self.covered_until(sync_at)
        row = dict(self.full)
        row["modified"] = sync_at
        if covered >= self.day_end:
            return row
        hours = (covered - self.day_start) // HOUR_S
        weights = self.shape.weights()
        total = sum(weights)
        share = sum(weights[:hours]) / total if total else 0.0
        elapsed = (covered - self.day_start) / (self.day_end - self.day_start)
        for key in ("steps", "elevation", "soft", "moderate", "intense"):
            row[key] = round(self.full[key] * share)
        row["active"] = row["moderate"] + row["intense"]
        row["distance"] = round(self.full["distance"] * share, 3)
        row["calories"] = round(self.full["calories"] * share, 3)
        row["totalcalories"] = round(row["calories"] + self.passive_kcal * elapsed, 3)
        for key in ("hr_zone_0", "hr_zone_1", "hr_zone_2", "hr_zone_3"):
            if key in row:
                row[key] = round(self.full[key] * elapsed)
        return row


@dataclass(frozen=True, slots=True)
class DayPlan:
    """Everything one local day of one user produces."""

    day: date
    arrivals: tuple[Arrival, ...]
    activities: tuple[ActivityDay, ...]


def local_epoch(zone: ZoneInfo, day: date, hours: float) -> int:
    """The epoch second of wall-clock time `hours` after local midnight of `day` (may pass 24)."""
    whole_days = math.floor(hours / 24)
    on = day + timedelta(days=whole_days)
    seconds = min(round((hours - 24 * whole_days) * HOUR_S), 86_399)
    start, end = day_bounds(zone, on)
    # A 24-hour day has one offset throughout: no zone lookup needed (the common case).
    if end - start == 86_400:
        return start + seconds
    return _wall_clock(zone, on, seconds)


def _wall_clock(zone: ZoneInfo, day: date, seconds: int) -> int:
    hour, rest = divmod(seconds, HOUR_S)
    minute, second = divmod(rest, MINUTE_S)
    wall = datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=zone)
    return int(wall.timestamp())


def local_date(zone: ZoneInfo, epoch: int) -> date:
    """The local date in `zone` of the epoch second `epoch`."""
    return datetime.fromtimestamp(epoch, zone).date()


def day_bounds(zone: ZoneInfo, day: date) -> tuple[int, int]:
    """Local midnight of `day` and of the next day, as epoch seconds (23, 24 or 25 h apart)."""
    return _day_bounds(zone.key, day.toordinal())


@lru_cache(maxsize=131_072)
def _day_bounds(zone_key: str, ordinal: int) -> tuple[int, int]:
    zone, day = ZoneInfo(zone_key), date.fromordinal(ordinal)
    return _wall_clock(zone, day, 0), _wall_clock(zone, day + timedelta(days=1), 0)


def bedtime_h(profile: UserProfile, day: date) -> float:
    """When the user goes to bed on the evening of `day`, in hours after its local midnight."""
    late = 0.7 if day.weekday() in (4, 5) else 0.0
    return profile.bedtime_h + late + _bedtime_shift_h(profile.seed, profile.index, day.toordinal())


@lru_cache(maxsize=65_536)
def _bedtime_shift_h(seed: int, index: int, ordinal: int) -> float:
    # Cached: each evening is needed twice, by the night that starts and the day that ends.
    a, b, c = uniforms(3, seed, index, "bed", ordinal)
    return (a + b + c - 1.5) * 0.8


@lru_cache(maxsize=65_536)
def _week_draw(seed: int, index: int, label: str, year: int, week: int) -> float:
    (draw,) = uniforms(1, seed, index, label, year, week)
    return draw


def is_away(profile: UserProfile, day: date) -> bool:
    """Whether the user is travelling that ISO week: home devices (scale, BPM, bed) stay silent."""
    year, week, _ = day.isocalendar()
    return _week_draw(profile.seed, profile.index, "away", year, week) < 0.07


def is_feverish(profile: UserProfile, day: date) -> bool:
    """Whether the user is ill that ISO week (thermometer readings daily and high)."""
    year, week, _ = day.isocalendar()
    return _week_draw(profile.seed, profile.index, "fever", year, week) < 0.04


def measure(mtype: MeasureType, value: float, unit: int, *, manual: bool = False) -> Record:
    """One measure of a group: `value × 10^unit` is the real value, as Withings encodes it."""
    return {
        "value": round(value * 10**-unit),
        "type": int(mtype),
        "unit": unit,
        "algo": 0,
        "fm": 128 if manual else 3,
    }


def measure_group(
    grpid: int,
    attrib: MeasureAttrib,
    taken_at: int,
    created_at: int,
    device: Device | None,
    measures: list[Record],
) -> Record:
    """A getmeas measure group; device fields are null for manual entries."""
    return {
        "grpid": grpid,
        "attrib": int(attrib),
        "date": taken_at,
        "created": created_at,
        "modified": created_at,
        "category": 1,
        "deviceid": device.deviceid if device else None,
        "hash_deviceid": device.deviceid if device else None,
        "measures": measures,
        "modelid": device.model_id if device else None,
        "model": device.model if device else None,
        "comment": None,
    }


def body_composition(
    weight_kg: float, fat_ratio: float, hydration_ratio: float, weight_unit: int
) -> list[Record]:
    """Weight and the composition a bio-impedance scale derives from it, adding up exactly."""
    weight = round(weight_kg, -weight_unit)
    fat_mass = round(weight * fat_ratio, 2)
    fat_free = round(weight - fat_mass, 2)
    bone = round(fat_free * 0.05, 2)
    return [
        measure(MeasureType.WEIGHT_KG, weight, weight_unit),
        measure(MeasureType.FAT_RATIO_PERCENT, fat_mass / weight * 100, -3),
        measure(MeasureType.FAT_FREE_MASS_KG, fat_free, -2),
        measure(MeasureType.FAT_MASS_KG, fat_mass, -2),
        measure(MeasureType.MUSCLE_MASS_KG, fat_free - bone, -2),
        measure(MeasureType.HYDRATION_KG, fat_free * hydration_ratio, -2),
        measure(MeasureType.BONE_MASS_KG, bone, -2),
    ]


# How many times a sleeper wakes in a night, and how often each count happens.
_AWAKENINGS: Final = (0, 1, 2, 3, 4, 5)
_AWAKENINGS_CUM_WEIGHTS: Final = (8, 28, 53, 75, 90, 100)


def _randint(rng: random.Random, low: int, high: int) -> int:
    """Like `rng.randint`, several times cheaper (this runs ~200 000 times at start-up)."""
    return low + int(rng.random() * (high - low + 1))


@dataclass(frozen=True, slots=True)
class _Sport:
    minutes: tuple[int, int]
    hr_above_rest: tuple[int, int]
    steps_per_min: float
    metres_per_min: float
    kcal_per_kg_h: float


_SPORTS: Final[dict[int, _Sport]] = {
    1: _Sport((20, 70), (25, 40), 110, 80, 3.5),
    2: _Sport((20, 75), (70, 95), 165, 170, 9.5),
    3: _Sport((90, 240), (35, 55), 100, 60, 5.5),
    6: _Sport((30, 120), (45, 75), 0, 330, 7.0),
    7: _Sport((25, 60), (45, 70), 0, 38, 7.0),
    12: _Sport((45, 90), (50, 80), 0, 0, 7.0),
    16: _Sport((30, 75), (25, 50), 0, 0, 5.0),
    18: _Sport((20, 50), (50, 70), 0, 0, 6.5),
    28: _Sport((30, 70), (8, 25), 0, 0, 2.8),
    308: _Sport((30, 60), (55, 80), 0, 0, 7.5),
}


@dataclass(slots=True)
class _DayContext:
    profile: UserProfile
    zone: ZoneInfo
    rng: random.Random
    day: date
    day_start: int
    day_end: int
    arrivals: list[Arrival]

    def at(self, hours: float) -> int:
        return local_epoch(self.zone, self.day, hours)

    def hours(self, epoch: int) -> float:
        return (epoch - self.day_start) / HOUR_S

    def add(self, at: int, kind: RecordKind, record: Record) -> None:
        self.arrivals.append(Arrival(at, kind, record))

    def rid(self, slot: int) -> int:
        return record_id(self.day, slot, self.profile.index)


def plan_day(profile: UserProfile, day: date) -> DayPlan:
    """Every record the local day `day` of `profile` produces, each with when Withings holds it.

    The night that ends on the morning of `day` belongs to `day` (Withings dates a night by its
    end); the day's activity keeps growing until its last upload the next morning.
    """
    zone = profile.zone
    start, end = day_bounds(zone, day)
    ctx = _DayContext(
        profile,
        zone,
        stream(profile.seed, profile.index, "day", day.toordinal()),
        day,
        start,
        end,
        [],
    )
    rng = ctx.rng
    away = is_away(profile, day)
    watch_worn = profile.watch is not None and rng.random() > 0.04

    night_start = local_epoch(
        zone, day - timedelta(days=1), bedtime_h(profile, day - timedelta(days=1))
    )
    night_device = profile.sleep_analyzer if not away else None
    if night_device is None and watch_worn:
        night_device = profile.watch
    night, wake_at = _sleep_session(ctx, night_device, night_start, nap=False)
    if night is not None and rng.random() > 0.05:
        ctx.add(night["created"], RecordKind.SLEEP, night)
    wake_h = ctx.hours(wake_at)
    bed_h = bedtime_h(profile, day)

    _measures(ctx, wake_h, bed_h, away=away, watch_worn=watch_worn)
    workouts = _workouts(ctx, wake_h, bed_h, watch_worn=watch_worn)
    busy_afternoon = any(13 <= ctx.hours(w["startdate"]) <= 17.5 for w in workouts)
    nap_chance = 0.1 if day.weekday() >= 5 else 0.04
    if rng.random() < nap_chance and not busy_afternoon:
        nap_device = profile.watch if watch_worn else None
        if nap_device is None and not away:
            nap_device = profile.sleep_analyzer
        nap, _ = _sleep_session(ctx, nap_device, ctx.at(rng.uniform(13.5, 15.5)), nap=True)
        if nap is not None:
            ctx.add(nap["created"], RecordKind.SLEEP, nap)

    activities = _activities(ctx, wake_h, bed_h, workouts, away=away, watch_worn=watch_worn)
    return DayPlan(day, tuple(ctx.arrivals), activities)


def _sleep_session(
    ctx: _DayContext, device: Device | None, start: int, *, nap: bool
) -> tuple[Record | None, int]:
    """A night (or nap) starting in bed at `start`: its getsummary row and when the user rises.

    The draws are made even when no device records the session, so that the rest of the day does
    not depend on which device the user had.
    """
    rng, profile = ctx.rng, ctx.profile
    if nap:
        latency = _randint(rng, 2, 12)
        asleep = _randint(rng, 15, 80)
        episodes = [_randint(rng, 1, 6)] if rng.random() < 0.2 else []
        wakeup_latency = _randint(rng, 1, 6)
    else:
        latency = min(75, max(2, round(rng.lognormvariate(math.log(12), 0.6))))
        asleep = min(660, max(240, round(profile.sleep_need_min * rng.gauss(1.0, 0.09))))
        count = rng.choices(_AWAKENINGS, cum_weights=_AWAKENINGS_CUM_WEIGHTS)[0]
        episodes = [_randint(rng, 1, 18) for _ in range(count)]
        wakeup_latency = _randint(rng, 1, 25)
    cuts = sorted(rng.sample(range(10, asleep - 10), len(episodes))) if asleep > 40 else []
    episodes = episodes[: len(cuts)]
    out_of_bed = [duration >= 4 and rng.random() < 0.3 for duration in episodes]
    nap_has_rem = rng.random() < 0.3
    has_rem = device is not None and device.model_id != 90 and (not nap or nap_has_rem)
    deep_share = rng.uniform(0.2, 0.35) if not has_rem and not nap else rng.uniform(0.12, 0.23)
    rem = round(asleep * rng.uniform(0.17, 0.25)) if has_rem else 0
    deep = round(asleep * deep_share * (rng.uniform(0, 1) if nap else 1))
    light = asleep - deep - rem
    hr_average = profile.resting_hr_bpm - _randint(rng, 2, 8) + (4 if nap else 0)
    hr_min = max(38, hr_average - _randint(rng, 4, 10))
    hr_max = hr_average + _randint(rng, 12, 30)
    rr_average = _randint(rng, 12, 17)
    rr_min, rr_max = rr_average - _randint(rng, 2, 4), rr_average + _randint(rng, 3, 7)
    snoring_min = round(profile.snoring_min_per_h * asleep / 60 * rng.uniform(0.5, 1.5))
    snoring_episodes = min(snoring_min, max(1, round(snoring_min / rng.uniform(2, 6))))
    disturbances = int(rng.random() ** 2 * 30)
    apnea_index = min(disturbances, int(disturbances / 2 + rng.random() * 3))
    arrival_delay_s = _randint(rng, 300, 3000)

    waso = sum(episodes)
    in_bed = latency + asleep + waso + wakeup_latency
    end = start + in_bed * MINUTE_S
    if device is None:
        return None, end

    events: dict[str, list[int]] = {"1": [0], "2": [latency * MINUTE_S], "3": [], "4": []}
    passed = 0
    for cut, duration, left_bed in zip(cuts, episodes, out_of_bed, strict=True):
        begin = (latency + cut + passed) * MINUTE_S
        passed += duration
        events["3"].append(begin)
        events["2"].append(begin + duration * MINUTE_S)
        if left_bed:
            events["4"].append(begin + MINUTE_S)
            events["1"].append(begin + (duration - 1) * MINUTE_S)
    events["3"].append((in_bed - wakeup_latency) * MINUTE_S)
    events["4"].append(in_bed * MINUTE_S)

    efficiency = asleep / in_bed
    score = 100 * (
        0.45 * min(1.0, asleep / 480) + 0.35 * efficiency + 0.2 * (1 - min(latency + waso, 90) / 90)
    )
    data: Record = {
        "total_timeinbed": in_bed * MINUTE_S,
        "total_sleep_time": asleep * MINUTE_S,
        "lightsleepduration": light * MINUTE_S,
        "deepsleepduration": deep * MINUTE_S,
        "remsleepduration": rem * MINUTE_S,
        "wakeupduration": (latency + waso + wakeup_latency) * MINUTE_S,
        "wakeupcount": out_of_bed.count(False),
        "out_of_bed_count": out_of_bed.count(True),
        "durationtosleep": latency * MINUTE_S,
        "durationtowakeup": wakeup_latency * MINUTE_S,
        "sleep_latency": latency * MINUTE_S,
        "wakeup_latency": wakeup_latency * MINUTE_S,
        "waso": waso * MINUTE_S,
        "sleep_efficiency": round(efficiency, 2),
        "nb_rem_episodes": max(1, min(rem, round(asleep / 95))) if rem else 0,
        "sleep_score": max(0, min(100, round(score))),
        "night_events": events,
    }
    if device.model_id in HEART_RATE_MODELS:
        data |= {
            "hr_average": hr_average,
            "hr_min": hr_min,
            "hr_max": hr_max,
            "rr_average": rr_average,
            "rr_min": rr_min,
            "rr_max": rr_max,
            "breathing_disturbances_intensity": disturbances,
        }
    is_monitor = device is ctx.profile.sleep_analyzer
    if is_monitor:
        data |= {
            "snoring": snoring_min * MINUTE_S,
            "snoringepisodecount": snoring_episodes,
            "apnea_hypopnea_index": apnea_index,
        }
    created = end + arrival_delay_s
    summary: Record = {
        "id": ctx.rid(Slot.NAP if nap else Slot.NIGHT),
        "timezone": profile.timezone,
        "model": int(SleepModel.SLEEP_MONITOR if is_monitor else SleepModel.ACTIVITY_TRACKER),
        "model_id": device.model_id,
        "hash_deviceid": device.deviceid,
        "startdate": start,
        "enddate": end,
        "date": local_date(ctx.zone, end).isoformat(),
        "data": data,
        "created": created,
        "modified": created,
    }
    return summary, end


def _measures(
    ctx: _DayContext, wake_h: float, bed_h: float, *, away: bool, watch_worn: bool
) -> None:
    """The day's measure groups: weigh-ins, blood pressure, SpO2, temperature, manual entries."""
    rng, profile = ctx.rng, ctx.profile
    scale, bpm = profile.scale, profile.bpm
    if scale is not None and not away and rng.random() < profile.weigh_rate:
        taken = ctx.at(wake_h + rng.uniform(0.1, 0.8))
        weight = profile.weight_on(ctx.day) + max(-0.6, min(0.6, rng.gauss(0, 0.22)))
        fat_ratio = profile.fat_ratio + rng.gauss(0, 0.006)
        unit = profile.weight_unit if rng.random() < 0.9 else -5 - profile.weight_unit
        measures = body_composition(weight, fat_ratio, profile.hydration_ratio, unit)
        if scale.model_id in HEART_RATE_MODELS:
            pulse = profile.resting_hr_bpm + _randint(rng, 2, 14)
            measures.append(measure(MeasureType.HEART_PULSE_BPM, pulse, rng.choice((0, 0, -2))))
        created = taken + _randint(rng, 20, 120)
        group = measure_group(
            ctx.rid(Slot.WEIGH_IN), MeasureAttrib.DEVICE, taken, created, scale, measures
        )
        ctx.add(created, RecordKind.MEASURE, group)
    if scale is not None and not away and rng.random() < 0.012:
        # Someone else stepped on the scale: Withings cannot tell whose weight it is.
        taken = ctx.at(rng.uniform(17, 21))
        created = taken + _randint(rng, 20, 120)
        measures = body_composition(rng.uniform(48, 105), rng.uniform(0.12, 0.38), 0.7, -3)
        group = measure_group(
            ctx.rid(Slot.GUEST_WEIGH_IN),
            MeasureAttrib.DEVICE_AMBIGUOUS,
            taken,
            created,
            scale,
            measures,
        )
        ctx.add(created, RecordKind.MEASURE, group)
    if rng.random() < (0.1 if scale is None else 0.015):
        # Typed into the app, often hours after the fact.
        taken = ctx.at(rng.uniform(max(7.0, wake_h), 21.0))
        created = taken + _randint(rng, 60, 6 * HOUR_S)
        weight = profile.weight_on(ctx.day) + rng.gauss(0, 0.3)
        measures = [measure(MeasureType.WEIGHT_KG, round(weight, 1), -1, manual=True)]
        group = measure_group(
            ctx.rid(Slot.MANUAL_WEIGHT), MeasureAttrib.MANUAL, taken, created, None, measures
        )
        ctx.add(created, RecordKind.MEASURE, group)
    if bpm is not None and not away and rng.random() < profile.bp_rate:
        _blood_pressure(ctx, bpm, wake_h + rng.uniform(0.2, 1.0), Slot.BP_MORNING, evening=False)
        if rng.random() < 0.3:
            _blood_pressure(ctx, bpm, min(bed_h - 0.5, 21.5), Slot.BP_EVENING, evening=True)
    watch = profile.watch
    if watch is not None and watch.model_id in ECG_MODELS and watch_worn:
        if rng.random() < 0.15:
            taken = ctx.at(rng.uniform(wake_h + 1, bed_h - 1))
            spo2 = min(100, max(92, round(rng.gauss(97, 1.1))))
            created = taken + _randint(rng, 300, 2400)
            unit = 0 if rng.random() < 0.8 else -2
            group = measure_group(
                ctx.rid(Slot.SPO2),
                MeasureAttrib.DEVICE,
                taken,
                created,
                watch,
                [measure(MeasureType.SPO2_PERCENT, spo2, unit)],
            )
            ctx.add(created, RecordKind.MEASURE, group)
        if rng.random() < 0.02:
            taken = ctx.at(rng.uniform(wake_h + 1, bed_h - 1))
            heart_rate = profile.resting_hr_bpm + _randint(rng, 0, 20)
            _ecg(ctx, watch, taken, heart_rate, None, Slot.ECG_WATCH)
    thermo = profile.thermo
    fever = is_feverish(profile, ctx.day)
    if thermo is not None and not away and rng.random() < (0.9 if fever else 0.1):
        taken = ctx.at(rng.uniform(wake_h + 0.2, bed_h - 0.5))
        celsius = rng.uniform(37.6, 39.2) if fever else rng.uniform(36.3, 37.2)
        unit = -2 if rng.random() < 0.8 else -3
        measures = [measure(MeasureType.BODY_TEMPERATURE_C, round(celsius, 2), unit)]
        if rng.random() < 0.25:
            measures.insert(0, measure(MeasureType.TEMPERATURE_C, round(celsius, 2), unit))
        created = taken + _randint(rng, 10, 90)
        group = measure_group(
            ctx.rid(Slot.TEMPERATURE), MeasureAttrib.DEVICE, taken, created, thermo, measures
        )
        ctx.add(created, RecordKind.MEASURE, group)


def _blood_pressure(
    ctx: _DayContext, bpm: Device, hours: float, slot: int, *, evening: bool
) -> None:
    rng, profile = ctx.rng, ctx.profile
    taken = ctx.at(hours)
    diastolic = round(profile.diastolic_mmhg + rng.gauss(0, 4.5))
    systolic = max(
        diastolic + 22, round(profile.systolic_mmhg + rng.gauss(0, 6.5) - (3 if evening else 0))
    )
    pulse = profile.resting_hr_bpm + _randint(rng, 0, 15)
    unit = profile.bp_unit if rng.random() < 0.85 else -2 - profile.bp_unit
    created = taken + _randint(rng, 15, 90)
    measures = [
        measure(MeasureType.DIASTOLIC_MMHG, diastolic, unit),
        measure(MeasureType.SYSTOLIC_MMHG, systolic, unit),
        measure(MeasureType.HEART_PULSE_BPM, pulse, unit),
    ]
    group = measure_group(ctx.rid(slot), MeasureAttrib.DEVICE, taken, created, bpm, measures)
    ctx.add(created, RecordKind.MEASURE, group)
    if bpm.model_id in ECG_MODELS and slot == Slot.BP_MORNING and rng.random() < 0.05:
        _ecg(ctx, bpm, taken, pulse, (diastolic, systolic), Slot.ECG_BPM)


def _ecg(
    ctx: _DayContext,
    device: Device,
    taken: int,
    heart_rate: int,
    pressure: tuple[int, int] | None,
    slot: int,
) -> None:
    rng = ctx.rng
    row: Record = {
        "deviceid": device.deviceid,
        "model": device.model_id,
        "ecg": {"signalid": ctx.rid(slot), "afib": 0 if rng.random() < 0.95 else 2},
    }
    if pressure is not None:
        row["bloodpressure"] = {"diastole": pressure[0], "systole": pressure[1]}
    modified = taken + ECG_DURATION_S + _randint(rng, 30, 600)
    row |= {"heart_rate": heart_rate, "timestamp": taken, "modified": modified}
    ctx.add(modified, RecordKind.HEART, row)


def _workouts(ctx: _DayContext, wake_h: float, bed_h: float, *, watch_worn: bool) -> list[Record]:
    """The day's workouts, recorded by the watch, else by the phone (no heart rate, no swims)."""
    rng, profile = ctx.rng, ctx.profile
    if rng.random() >= profile.workout_rate:
        return []
    category = rng.choice(profile.sports)
    sport = _SPORTS[category]
    minutes = _randint(rng, *sport.minutes)
    weekend = ctx.day.weekday() >= 5
    start_h = rng.uniform(9.0, 11.0) if weekend or minutes > 120 else profile.workout_hour
    start_h = max(start_h + rng.gauss(0, 0.4), wake_h + 1.0)
    end_h = start_h + minutes / 60
    watch = profile.watch if watch_worn else None
    if end_h > bed_h - 1.0 or (
        watch is None and (profile.phone_model_id is None or category == SWIMMING)
    ):
        return []
    startdate = ctx.at(start_h)
    enddate = startdate + minutes * MINUTE_S
    pause_s = rng.choice((0, 0, _randint(rng, 30, 600)))
    active_min = minutes - pause_s / MINUTE_S
    max_hr = 220 - profile.age_y
    has_hr = watch is not None and watch.model_id in HEART_RATE_MODELS
    hr_average = min(max_hr - 12, profile.resting_hr_bpm + _randint(rng, *sport.hr_above_rest))
    hr_min = max(profile.resting_hr_bpm, hr_average - _randint(rng, 15, 35))
    hr_max = min(max_hr, hr_average + _randint(rng, 10, 28))
    active_s = round(active_min * MINUTE_S)
    effort = (hr_average - profile.resting_hr_bpm) / max(1, max_hr - profile.resting_hr_bpm)
    zone_3 = round(active_s * max(0.0, effort - 0.6))
    zone_2 = round(active_s * max(0.0, min(0.5, effort - 0.3)))
    zone_1 = round((active_s - zone_2 - zone_3) * 0.6)
    zone_0 = active_s - zone_1 - zone_2 - zone_3
    weight = profile.weight_on(ctx.day)
    data: Record = {
        "calories": round(sport.kcal_per_kg_h * weight * active_min / 60),
        "intensity": 0,
        "manual_distance": 0,
        "manual_calories": 0,
        "hr_average": hr_average if has_hr else 0,
        "hr_min": hr_min if has_hr else 0,
        "hr_max": hr_max if has_hr else 0,
        "hr_zone_0": zone_0 if has_hr else 0,
        "hr_zone_1": zone_1 if has_hr else 0,
        "hr_zone_2": zone_2 if has_hr else 0,
        "hr_zone_3": zone_3 if has_hr else 0,
        "pause_duration": pause_s,
    }
    if category == SWIMMING:
        pool_length = rng.choice((25, 25, 50))
        laps = max(1, int(active_min * sport.metres_per_min * rng.uniform(0.8, 1.2) / pool_length))
        data |= {
            "algo_pause_duration": pause_s,
            "spo2_average": None,
            "pool_laps": laps,
            "pool_length": pool_length,
            "strokes": laps * _randint(rng, 14, 24),
        }
    else:
        steps = round(active_min * sport.steps_per_min * rng.uniform(0.9, 1.1))
        distance = round(active_min * sport.metres_per_min * rng.uniform(0.85, 1.15))
        spo2 = _randint(rng, 94, 99) if has_hr and rng.random() < 0.3 else None
        data |= {
            "algo_pause_duration": None,
            "spo2_average": spo2,
            "steps": steps,
            "distance": distance,
            "elevation": round(distance / 1000 * rng.uniform(0, 12)),
        }
    modified = enddate + _randint(rng, 300, 2400)
    workout: Record = {
        "id": ctx.rid(Slot.WORKOUT),
        "category": category,
        "timezone": profile.timezone,
        "model": watch.model_id if watch else profile.phone_model_id,
        "attrib": 0,
        "startdate": startdate,
        "enddate": enddate,
        "date": local_date(ctx.zone, startdate).isoformat(),
        "deviceid": watch.deviceid if watch else None,
        "data": data,
        "modified": modified,
    }
    ctx.add(modified, RecordKind.WORKOUT, workout)
    return [workout]


def _activities(
    ctx: _DayContext,
    wake_h: float,
    bed_h: float,
    workouts: list[Record],
    *,
    away: bool,
    watch_worn: bool,
) -> tuple[ActivityDay, ...]:
    """The day's getactivity rows: the watch's, and on some days also the phone's."""
    rng, profile = ctx.rng, ctx.profile
    workout_hours = tuple(
        int(ctx.hours(w["startdate"])) for w in workouts if w["data"].get("steps")
    )
    count = math.ceil((ctx.day_end - ctx.day_start) / HOUR_S)
    shape = HourShape(
        (profile.seed, profile.index, ctx.day.toordinal()), count, wake_h, bed_h, workout_hours
    )
    day_share = (ctx.day_end - ctx.day_start) / 86_400
    passive = round(profile.bmr_kcal * day_share, 3)
    workout_steps = sum(w["data"].get("steps", 0) for w in workouts)
    workout_kcal = sum(w["data"]["calories"] for w in workouts if not w["data"].get("steps"))
    workout_s = sum(w["enddate"] - w["startdate"] - w["data"]["pause_duration"] for w in workouts)
    base_steps = profile.steps_per_day * rng.lognormvariate(0, 0.28) * (1.2 if away else 1.0)
    steps = round(base_steps) + workout_steps
    weight = profile.weight_on(ctx.day)
    moderate = round(base_steps * rng.uniform(0.03, 0.06)) + round(workout_s * 0.6)
    intense = round(workout_s * 0.4)
    full: Record = {
        "date": ctx.day.isoformat(),
        "timezone": profile.timezone,
        "steps": steps,
        "distance": round(steps * profile.stride_m, 3),
        "elevation": _randint(rng, 0, 12),
        "soft": min(6 * HOUR_S, round(base_steps * rng.uniform(0.25, 0.4))),
        "moderate": moderate,
        "intense": intense,
        "active": moderate + intense,
        "calories": round(steps * 0.045 * weight / 70 + workout_kcal, 3),
        "totalcalories": 0.0,
    }
    full["totalcalories"] = round(full["calories"] + passive, 3)
    days: list[ActivityDay] = []
    watch = profile.watch if watch_worn else None
    if watch is not None:
        row = dict(full)
        if watch.model_id in HEART_RATE_MODELS:
            worn_s = round((ctx.day_end - ctx.day_start) * rng.uniform(0.85, 0.97))
            zones = [sum(w["data"][f"hr_zone_{z}"] for w in workouts) for z in range(4)]
            zones[1] += round(moderate * 0.5)
            zones[0] = worn_s - zones[1] - zones[2] - zones[3]
            hr_max = max(
                [profile.resting_hr_bpm + _randint(rng, 40, 65)]
                + [w["data"]["hr_max"] for w in workouts]
            )
            row |= {
                "hr_average": profile.resting_hr_bpm + _randint(rng, 8, 16),
                "hr_min": max(38, profile.resting_hr_bpm - _randint(rng, 4, 9)),
                "hr_max": hr_max,
                "hr_zone_0": zones[0],
                "hr_zone_1": zones[1],
                "hr_zone_2": zones[2],
                "hr_zone_3": zones[3],
            }
        row |= _source(watch.deviceid, ActivityBrand.WITHINGS, watch.model_id, tracker=True)
        sync_hours = [wake_h + rng.uniform(0.2, 0.6)] + [
            h + rng.uniform(-0.5, 0.5) for h in (12.0, 15.5, 19.0)
        ]
        syncs = sorted({ctx.at(h) for h in sync_hours if h > wake_h})
        syncs.append(ctx.at(24 + rng.uniform(7.0, 8.5)))
        days.append(ActivityDay(row, tuple(syncs), ctx.day_start, ctx.day_end, shape, passive))
    phone_id = profile.phone_model_id
    if phone_id is not None and (watch is None or rng.random() < 0.35):
        carried = 1.0 if watch is None else rng.uniform(0.45, 0.85)
        row = dict(full)
        for key in ("steps", "elevation", "soft", "moderate", "intense"):
            row[key] = round(full[key] * carried)
        row["active"] = row["moderate"] + row["intense"]
        row["distance"] = round(row["steps"] * profile.stride_m, 3)
        row["calories"] = round(full["calories"] * carried, 3)
        row["totalcalories"] = round(row["calories"] + passive, 3)
        row |= _source(None, ActivityBrand.EXTERNAL, phone_id, tracker=False)
        syncs = sorted(ctx.at(h + rng.uniform(-1, 1)) for h in (13.0, 20.0))
        syncs.append(ctx.at(24 + rng.uniform(8.0, 10.0)))
        days.append(ActivityDay(row, tuple(syncs), ctx.day_start, ctx.day_end, shape, passive))
    return tuple(days)


def _source(deviceid: str | None, brand: ActivityBrand, model_id: int, *, tracker: bool) -> Record:
    return {
        "deviceid": deviceid,
        "hash_deviceid": deviceid,
        "brand": int(brand),
        "is_tracker": tracker,
        "model": device_model_name(model_id),
        "modelid": model_id,
    }
