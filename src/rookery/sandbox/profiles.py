"""Who a synthetic user is: body, habits, time zone and devices, drawn once from (seed, index).

A profile holds only what stays the same from day to day; everything a day produces is derived
from the profile and the date (`days.py`). A user's profile depends on the population seed and
the user's index alone, so the first N users of a bigger population are the same N users.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Final
from zoneinfo import ZoneInfo

from rookery.sandbox.records import Record
from rookery.sandbox.streams import hex_id, stream
from rookery.withings.codes import device_model_name

# Odd offsets and both hemispheres' DST: +05:30, +05:45, +09:30/+10:30, -03:30/-02:30,
# +12:45/+13:45, +08:45, -09:30, +03:30, +06:30 next to whole-hour zones with and without DST.
ZONES: Final = (
    "Europe/Paris",
    "America/St_Johns",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/Los_Angeles",
    "Asia/Kathmandu",
    "Australia/Adelaide",
    "Asia/Tokyo",
    "America/New_York",
    "Australia/Eucla",
    "Europe/London",
    "Pacific/Marquesas",
    "America/Sao_Paulo",
    "Asia/Tehran",
    "Asia/Yangon",
)

_FIRST_NAMES: Final = (
    "Ada", "Bram", "Chiara", "Dev", "Elif", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Kiri",
    "Lena", "Mateo", "Noor", "Oskar", "Priya", "Quinn", "Rosa", "Sami", "Tala", "Ugo", "Vera",
    "Wiremu", "Xiu", "Yara", "Zeno",
)  # fmt: skip
_LAST_INITIALS: Final = "ABCDEFGHJKLMNOPRSTVWZ"

# Userids are int32-safe and differ across seeds: base + (seed mod 9000) * 100000 + index.
MAX_USERS: Final = 100_000
_USERID_BASE: Final = 10_000_000
_USERID_SEED_SPAN: Final = 9_000

SCALE_MODELS: Final = (6, 5)  # Body Cardio, Body+
BPM_MODELS: Final = (44, 45)  # BPM Core, BPM Connect
WATCH_MODELS: Final = (93, 90)  # ScanWatch, Move
SLEEP_ANALYZER_MODEL: Final = 63
THERMO_MODEL: Final = 70
PHONE_MODELS: Final = (1051, 1053)  # iOS, Android step trackers

# What each device model measures, so records only carry what the hardware can produce.
HEART_RATE_MODELS: Final = frozenset({6, 44, 45, 93, 63})
ECG_MODELS: Final = frozenset({44, 93})

_DEVICE_TYPES: Final[dict[int, str]] = {
    6: "Scale",
    5: "Scale",
    44: "Blood Pressure Monitor",
    45: "Blood Pressure Monitor",
    93: "Activity Tracker",
    90: "Activity Tracker",
    63: "Sleep Monitor",
    70: "Smart Connected Thermometer",
}

# Workout categories a user can favour: walk, run, hiking, bicycling, swimming, tennis, lift
# weights, elliptical, yoga, indoor cycling.
SPORTS: Final = (1, 2, 3, 6, 7, 12, 16, 18, 28, 308)
SWIMMING: Final = 7

# Weight drifts over years and waves over months, so a day-to-day change stays small (< 0.1 kg).
_WEIGHT_DRIFT_PERIOD_D: Final = 1000.0


@dataclass(frozen=True, slots=True)
class Device:
    """One of the user's Withings devices."""

    model_id: int
    deviceid: str
    battery: str

    @property
    def model(self) -> str:
        """The product name Withings reports for the model."""
        return device_model_name(self.model_id) or ""

    @property
    def type(self) -> str:
        """The getdevice `type` of the model."""
        return _DEVICE_TYPES[self.model_id]


@dataclass(frozen=True, slots=True)
class UserProfile:
    """The stable traits of one synthetic user."""

    seed: int
    index: int
    userid: int
    display_name: str
    timezone: str
    is_female: bool
    age_y: int
    height_m: float
    weight_kg: float
    weight_drift_kg: float
    weight_wave_kg: float
    weight_wave_period_d: float
    weight_wave_phase: float
    fat_ratio: float
    hydration_ratio: float
    resting_hr_bpm: int
    systolic_mmhg: float
    diastolic_mmhg: float
    bedtime_h: float
    sleep_need_min: int
    snoring_min_per_h: float
    weigh_rate: float
    bp_rate: float
    steps_per_day: int
    stride_m: float
    workout_rate: float
    sports: tuple[int, ...]
    workout_hour: float
    weight_unit: int
    bp_unit: int
    scale: Device | None
    bpm: Device | None
    watch: Device | None
    sleep_analyzer: Device | None
    thermo: Device | None
    phone_model_id: int | None
    goals: Record

    @property
    def zone(self) -> ZoneInfo:
        """The user's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def devices(self) -> tuple[Device, ...]:
        """The user's Withings devices, in getdevice order."""
        found = (self.scale, self.bpm, self.watch, self.sleep_analyzer, self.thermo)
        return tuple(device for device in found if device is not None)

    @property
    def bmr_kcal(self) -> float:
        """Basal metabolic rate by Mifflin-St Jeor, from the baseline weight."""
        sex_term = -161.0 if self.is_female else 5.0
        return 10 * self.weight_kg + 625 * self.height_m - 5 * self.age_y + sex_term

    def weight_on(self, day: date) -> float:
        """The user's underlying weight on `day`: a multi-year drift plus a slow wave, no noise."""
        day_number = day.toordinal()
        wave = 2 * math.pi * day_number / self.weight_wave_period_d + self.weight_wave_phase
        drift = 2 * math.pi * day_number / _WEIGHT_DRIFT_PERIOD_D + 1.7 * self.weight_wave_phase
        return (
            self.weight_kg
            + self.weight_drift_kg * math.sin(drift)
            + self.weight_wave_kg * math.sin(wave)
        )


def userid_for(seed: int, index: int) -> int:
    """The stable Withings userid of the user at `index` in a population made with `seed`."""
    return _USERID_BASE + (seed % _USERID_SEED_SPAN) * MAX_USERS + index


def make_profile(seed: int, index: int) -> UserProfile:
    """The profile of the user at `index` in the population made with `seed`."""
    if not 0 <= index < MAX_USERS:
        raise ValueError(f"a sandbox population has at most {MAX_USERS} users, not index {index}")
    rng = stream(seed, index, "profile")
    is_female = rng.random() < 0.5
    age_y = rng.randint(19, 78)
    height_m = round(rng.gauss(1.64 if is_female else 1.77, 0.065), 2)
    bmi = rng.uniform(19.0, 32.0)
    weight_kg = bmi * height_m**2
    fat_ratio = (0.30 if is_female else 0.19) + (bmi - 24) * 0.011 + rng.gauss(0, 0.02)
    systolic = rng.uniform(104, 146) + max(0, age_y - 40) * 0.25
    diastolic = systolic * rng.uniform(0.58, 0.68)

    def device(model_id: int) -> Device:
        battery = rng.choice(("high", "high", "high", "medium", "low"))
        return Device(model_id, hex_id(seed, index, "device", model_id), battery)

    def maybe(probability: float, models: tuple[int, ...]) -> Device | None:
        chosen = rng.choice(models)
        return device(chosen) if rng.random() < probability else None

    scale = maybe(0.92, SCALE_MODELS)
    bpm = maybe(0.5, BPM_MODELS)
    watch: Device | None = device(WATCH_MODELS[0] if rng.random() < 0.65 else WATCH_MODELS[1])
    if rng.random() < 0.12:
        watch = None
    sleep_analyzer = maybe(0.45, (SLEEP_ANALYZER_MODEL,))
    thermo = maybe(0.25, (THERMO_MODEL,))
    phone = rng.choice(PHONE_MODELS)
    phone_model_id = phone if watch is None or rng.random() < 0.5 else None

    sports = tuple(rng.sample(SPORTS, rng.randint(2, 3)))
    if SWIMMING not in sports and rng.random() < 0.3:
        sports = (*sports, SWIMMING)

    goals: Record = {}
    if rng.random() < 0.85:
        goals["steps"] = rng.choice((6000, 8000, 10000, 12000))
        goals["sleep"] = rng.choice((25200, 27000, 28800))
        if rng.random() < 0.6:
            goals["weight"] = {"value": round(22.5 * height_m**2 * 1000), "unit": -3}

    return UserProfile(
        seed=seed,
        index=index,
        userid=userid_for(seed, index),
        display_name=f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_INITIALS)}.",
        timezone=ZONES[(index + seed) % len(ZONES)],
        is_female=is_female,
        age_y=age_y,
        height_m=height_m,
        weight_kg=weight_kg,
        weight_drift_kg=rng.uniform(0.5, 4.0),
        weight_wave_kg=rng.uniform(0.3, 1.2),
        weight_wave_period_d=rng.uniform(60, 140),
        weight_wave_phase=rng.uniform(0, 2 * math.pi),
        fat_ratio=min(0.45, max(0.08, fat_ratio)),
        hydration_ratio=rng.uniform(0.68, 0.73),
        resting_hr_bpm=rng.randint(50, 76),
        systolic_mmhg=systolic,
        diastolic_mmhg=diastolic,
        bedtime_h=rng.uniform(21.8, 24.6),
        sleep_need_min=rng.randint(390, 510),
        snoring_min_per_h=rng.choice((0.0, 0.0, 0.5, 2.0, 6.0)),
        weigh_rate=rng.uniform(0.45, 0.95),
        bp_rate=rng.uniform(0.3, 0.8),
        steps_per_day=rng.randint(3500, 13000),
        stride_m=height_m * rng.uniform(0.40, 0.44),
        workout_rate=rng.uniform(0.15, 0.55),
        sports=sports,
        workout_hour=rng.choice((7.0, 12.5, 18.0, 19.0)),
        weight_unit=-3 if rng.random() < 0.8 else -2,
        bp_unit=0 if rng.random() < 0.5 else -2,
        scale=scale,
        bpm=bpm,
        watch=watch,
        sleep_analyzer=sleep_analyzer,
        thermo=thermo,
        phone_model_id=phone_model_id,
        goals=goals,
    )
