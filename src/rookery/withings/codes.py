"""Withings code tables, declared as data.

Withings adds codes without notice, so every lookup here falls back to an UNKNOWN value and logs
the code once instead of failing. Sources: ../shared/research/withings_api.md §2, §4, §5, §6.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from functools import cache
from typing import Final, TypeVar

logger = logging.getLogger(__name__)

_Code = TypeVar("_Code", bound=IntEnum)


class Scope(StrEnum):
    """OAuth scopes a user can grant (comma-separated on the wire)."""

    INFO = "user.info"
    METRICS = "user.metrics"
    ACTIVITY = "user.activity"
    SLEEP_EVENTS = "user.sleepevents"


ALL_SCOPES: Final = (Scope.INFO, Scope.METRICS, Scope.ACTIVITY, Scope.SLEEP_EVENTS)


class MeasureType(IntEnum):
    """getmeas `meastype`: what one measure in a measure group is."""

    UNKNOWN = -1
    WEIGHT_KG = 1
    HEIGHT_M = 4
    FAT_FREE_MASS_KG = 5
    FAT_RATIO_PERCENT = 6
    FAT_MASS_KG = 8
    DIASTOLIC_MMHG = 9
    SYSTOLIC_MMHG = 10
    HEART_PULSE_BPM = 11
    TEMPERATURE_C = 12
    SPO2_PERCENT = 54
    BODY_TEMPERATURE_C = 71
    SKIN_TEMPERATURE_C = 73
    MUSCLE_MASS_KG = 76
    HYDRATION_KG = 77
    BONE_MASS_KG = 88
    PULSE_WAVE_VELOCITY_M_S = 91
    GLUCOSE_MG_DL = 119
    VO2_MAX_ML_MIN_KG = 123
    AFIB_ECG = 130
    QRS_INTERVAL_MS = 135
    PR_INTERVAL_MS = 136
    QT_INTERVAL_MS = 137
    CORRECTED_QT_INTERVAL_MS = 138
    AFIB_PPG = 139
    VASCULAR_AGE = 155
    NERVE_HEALTH_LEFT_FOOT = 158
    NERVE_HEALTH_RIGHT_FOOT = 159
    NERVE_HEALTH_FEET = 167
    EXTRACELLULAR_WATER_KG = 168
    INTRACELLULAR_WATER_KG = 169
    VISCERAL_FAT = 170
    SEGMENTAL_FAT_FREE_MASS_KG = 173
    SEGMENTAL_FAT_MASS_KG = 174
    SEGMENTAL_MUSCLE_MASS_KG = 175
    ELECTRODERMAL_ACTIVITY_FEET = 196
    ELECTRODERMAL_ACTIVITY_LEFT_FOOT = 197
    ELECTRODERMAL_ACTIVITY_RIGHT_FOOT = 198
    BASAL_METABOLIC_RATE_KCAL = 226
    METABOLIC_AGE = 227
    SKIN_CONDUCTANCE = 229


class MeasureAttrib(IntEnum):
    """Measure group `attrib`: how trustworthy the group's attribution to the user is."""

    UNKNOWN = -1
    DEVICE = 0
    DEVICE_AMBIGUOUS = 1
    MANUAL = 2
    MANUAL_AT_CREATION = 4
    BPM_AUTO = 5
    USER_CONFIRMED = 7
    SAME_AS_DEVICE = 8
    GUIDED = 15
    UNDOCUMENTED_17 = 17


class MeasureCategory(IntEnum):
    """getmeas `category`: real measures or user objectives."""

    REAL = 1
    GOAL = 2


class SleepState(IntEnum):
    """Sleep v2 `get` segment `state`."""

    UNKNOWN = -1
    AWAKE = 0
    LIGHT = 1
    DEEP = 2
    REM = 3
    MANUAL = 4
    UNSPECIFIED = 5
    OUT_OF_BED = 15


class SleepModel(IntEnum):
    """Sleep summary `model`: which kind of device recorded the night."""

    UNKNOWN = -1
    ACTIVITY_TRACKER = 16
    SLEEP_MONITOR = 32


class Appli(IntEnum):
    """Notification categories (`appli`)."""

    UNKNOWN = -1
    WEIGHT = 1
    TEMPERATURE = 2
    PRESSURE_HEART_SPO2 = 4
    ACTIVITY = 16
    SLEEP = 44
    USER = 46
    BED_IN = 50
    BED_OUT = 51
    INFLATE_DONE = 52
    NO_ACCOUNT_DEVICE = 53
    ECG = 54
    ECG_FAILED = 55
    GLUCOSE = 58


@dataclass(frozen=True, slots=True)
class AppliInfo:
    """What a notification category needs and carries."""

    scope: Scope | None
    measure_types: tuple[MeasureType, ...] = ()
    carries_date: bool = False
    carries_action: bool = False


APPLIS: Final[dict[Appli, AppliInfo]] = {
    Appli.WEIGHT: AppliInfo(
        Scope.METRICS,
        (
            MeasureType.WEIGHT_KG,
            MeasureType.FAT_FREE_MASS_KG,
            MeasureType.FAT_RATIO_PERCENT,
            MeasureType.FAT_MASS_KG,
            MeasureType.BODY_TEMPERATURE_C,
            MeasureType.SKIN_TEMPERATURE_C,
            MeasureType.MUSCLE_MASS_KG,
            MeasureType.HYDRATION_KG,
            MeasureType.BONE_MASS_KG,
            MeasureType.PULSE_WAVE_VELOCITY_M_S,
        ),
    ),
    Appli.TEMPERATURE: AppliInfo(
        Scope.METRICS,
        (
            MeasureType.TEMPERATURE_C,
            MeasureType.BODY_TEMPERATURE_C,
            MeasureType.SKIN_TEMPERATURE_C,
        ),
    ),
    Appli.PRESSURE_HEART_SPO2: AppliInfo(
        Scope.METRICS,
        (
            MeasureType.DIASTOLIC_MMHG,
            MeasureType.SYSTOLIC_MMHG,
            MeasureType.HEART_PULSE_BPM,
            MeasureType.SPO2_PERCENT,
        ),
    ),
    Appli.ACTIVITY: AppliInfo(Scope.ACTIVITY, carries_date=True),
    Appli.SLEEP: AppliInfo(Scope.ACTIVITY),
    Appli.USER: AppliInfo(Scope.INFO, carries_action=True),
    Appli.BED_IN: AppliInfo(Scope.SLEEP_EVENTS),
    Appli.BED_OUT: AppliInfo(Scope.SLEEP_EVENTS),
    Appli.INFLATE_DONE: AppliInfo(Scope.SLEEP_EVENTS),
    Appli.NO_ACCOUNT_DEVICE: AppliInfo(None),
    Appli.ECG: AppliInfo(Scope.METRICS),
    Appli.ECG_FAILED: AppliInfo(Scope.METRICS),
    Appli.GLUCOSE: AppliInfo(Scope.METRICS, (MeasureType.GLUCOSE_MG_DL,)),
}

# The categories Rookery subscribes to for each granted scope (product: weight 1, temperature 2,
# pressure/heart/SpO2 4, activity 16, sleep 44, ECG 54).
SUBSCRIBED_APPLIS: Final = (
    Appli.WEIGHT,
    Appli.TEMPERATURE,
    Appli.PRESSURE_HEART_SPO2,
    Appli.ACTIVITY,
    Appli.SLEEP,
    Appli.ECG,
)


class UserAction(StrEnum):
    """`action` of an appli 46 notification."""

    UNKNOWN = "unknown"
    DELETE = "delete"
    UNLINK = "unlink"
    UPDATE = "update"


class ActivityBrand(IntEnum):
    """getactivity `brand`: who recorded the day's activity."""

    UNKNOWN = -1
    WITHINGS = 1
    EXTERNAL = 18


WORKOUT_CATEGORY_NAMES: Final[dict[int, str]] = {
    1: "Walk", 2: "Run", 3: "Hiking", 4: "Skating", 5: "BMX", 6: "Bicycling", 7: "Swimming",
    8: "Surfing", 9: "Kitesurfing", 10: "Windsurfing", 11: "Bodyboard", 12: "Tennis",
    13: "Table tennis", 14: "Squash", 15: "Badminton", 16: "Lift weights", 17: "Fitness",
    18: "Elliptical", 19: "Pilates", 20: "Basketball", 21: "Soccer", 22: "Football", 23: "Rugby",
    24: "Volleyball", 25: "Waterpolo", 26: "Horse riding", 27: "Golf", 28: "Yoga", 29: "Dancing",
    30: "Boxing", 31: "Fencing", 32: "Wrestling", 33: "Martial arts", 34: "Skiing",
    35: "Snowboarding", 36: "Other", 128: "No activity", 187: "Rowing", 188: "Zumba",
    191: "Baseball", 192: "Handball", 193: "Hockey", 194: "Ice hockey", 195: "Climbing",
    196: "Ice skating", 272: "Multi-sport", 306: "Indoor walk", 307: "Indoor running",
    308: "Indoor cycling", 455: "Stand-up paddle", 456: "Padel", 457: "Gaming",
    490: "Beach volleyball", 491: "Stair stepper", 492: "Skateboarding", 493: "Parkour",
    494: "Kayaking", 495: "Canoeing", 496: "Sailing", 497: "Fishing", 498: "Trail running",
    499: "Snowshoeing", 500: "Paintball", 501: "Archery", 502: "Scuba diving",
    503: "Baseball training", 504: "Biathlon", 505: "Bocce", 506: "Pétanque", 507: "Paragliding",
    508: "Frisbee", 509: "Skydiving", 510: "Pickleball", 511: "Cornhole", 512: "Dodgeball",
    513: "Ultimate", 514: "Teqball", 515: "Wheelchair push (running pace)",
    516: "Wheelchair push (walking pace)", 517: "Athletics", 518: "Track cycling",
    519: "Pentathlon", 520: "Sport shooting", 521: "Triathlon", 522: "Diving",
    523: "Mountain biking", 524: "Gravel biking", 525: "E-biking", 526: "E-mountain biking",
    527: "Handcycling", 528: "Velomobile", 529: "Backcountry skiing", 530: "Nordic skiing",
    531: "Roller skiing", 532: "Racquetball", 534: "Hip hop", 535: "Muay thai", 536: "Taekwondo",
    537: "Judo", 538: "Trampoline", 539: "Standing frame", 540: "Seated strength",
    541: "Seated cardio", 542: "Walk with walker", 543: "Walk with cane", 544: "Breaking",
    545: "Chores", 546: "Crossfit", 547: "Spin class", 548: "Cricket", 549: "Flamenco",
    550: "HIIT", 551: "Meditation", 552: "Stretching", 553: "Yard work", 554: "Cleaning",
    555: "Public speaking", 556: "Spikeball", 557: "Lacrosse", 558: "Baby wearing",
    559: "Dog walking", 560: "Breathing exercises", 561: "Balance drills",
    562: "Pushing a stroller", 563: "Toddler wearing", 564: "Bowling", 565: "Lasertag",
    566: "Nordic walking", 567: "Sumo wrestling", 568: "Cooking",
}  # fmt: skip
WORKOUT_OTHER: Final = 36
SWIMMING_CATEGORIES: Final = frozenset({7})

DEVICE_MODEL_NAMES: Final[dict[int, str]] = {
    1: "WBS01", 2: "WS30", 3: "Kid Scale", 4: "Smart Body Analyzer", 5: "Body+", 6: "Body Cardio",
    7: "Body", 9: "Body Pro", 10: "Body Scan", 11: "WBS10", 12: "WBS11", 17: "Body Comp Pro",
    18: "Body Comp", 21: "Smart Baby Monitor", 22: "Withings Home", 41: "BPM V1", 42: "BPM V2",
    43: "BPM V3", 44: "BPM Core", 45: "BPM Connect", 46: "BPM Connect Pro", 47: "BPM Pro 2",
    48: "BPM Vision", 51: "Pulse", 52: "Activite", 53: "Activite Pop/Steel", 54: "Withings Go",
    55: "Steel HR", 58: "Pulse HR", 59: "Steel HR Sport", 60: "Aura Dock", 61: "Aura Sensor",
    63: "Aura Sensor V2", 70: "Thermo", 71: "BeamO", 90: "Move", 91: "Move ECG", 92: "Move ECG",
    93: "ScanWatch", 94: "ScanWatch 2", 95: "ScanWatch Light", 100: "WUP01",
    1051: "iOS step tracker", 1052: "iOS step tracker", 1053: "Android step tracker",
    1054: "Android step tracker", 1055: "GoogleFit", 1056: "Samsung Health",
    1057: "HealthKit iPhone", 1058: "HealthKit Apple Watch", 1059: "HealthKit other",
    1060: "Google Health Connect", 1061: "iGlucose", 1062: "Huawei", 1063: "Lingo Sensor",
}  # fmt: skip


class StatusFamily(StrEnum):
    """What a Withings `status` code means; Withings publishes families, not single codes."""

    OK = "ok"
    AUTH_FAILED = "auth_failed"
    INVALID_PARAMS = "invalid_params"
    UNAUTHORIZED = "unauthorized"
    ERROR = "error"
    TIMEOUT = "timeout"
    BAD_STATE = "bad_state"
    TOO_MANY_REQUESTS = "too_many_requests"
    NOT_IMPLEMENTED = "not_implemented"
    UNKNOWN = "unknown"


# Inclusive ranges from the official response_status table; later rows never overlap earlier ones.
_STATUS_RANGES: Final[tuple[tuple[int, int, StatusFamily], ...]] = (
    (0, 0, StatusFamily.OK),
    (100, 102, StatusFamily.AUTH_FAILED),
    (200, 200, StatusFamily.AUTH_FAILED),
    (201, 213, StatusFamily.INVALID_PARAMS),
    (214, 214, StatusFamily.UNAUTHORIZED),
    (215, 215, StatusFamily.ERROR),
    (216, 218, StatusFamily.INVALID_PARAMS),
    (219, 219, StatusFamily.ERROR),
    (220, 221, StatusFamily.INVALID_PARAMS),
    (222, 222, StatusFamily.ERROR),
    (223, 223, StatusFamily.INVALID_PARAMS),
    (224, 224, StatusFamily.ERROR),
    (225, 225, StatusFamily.INVALID_PARAMS),
    (226, 226, StatusFamily.ERROR),
    (227, 230, StatusFamily.INVALID_PARAMS),
    (231, 233, StatusFamily.ERROR),
    (234, 236, StatusFamily.INVALID_PARAMS),
    (237, 237, StatusFamily.ERROR),
    (238, 238, StatusFamily.INVALID_PARAMS),
    (240, 252, StatusFamily.INVALID_PARAMS),
    (253, 253, StatusFamily.ERROR),
    (254, 254, StatusFamily.INVALID_PARAMS),
    (255, 259, StatusFamily.ERROR),
    (260, 267, StatusFamily.INVALID_PARAMS),
    (268, 270, StatusFamily.ERROR),
    (271, 272, StatusFamily.INVALID_PARAMS),
    (273, 274, StatusFamily.ERROR),
    (275, 276, StatusFamily.INVALID_PARAMS),
    (277, 277, StatusFamily.UNAUTHORIZED),
    (278, 282, StatusFamily.ERROR),
    (283, 288, StatusFamily.INVALID_PARAMS),
    (289, 289, StatusFamily.ERROR),
    (290, 290, StatusFamily.INVALID_PARAMS),
    (291, 292, StatusFamily.ERROR),
    (293, 295, StatusFamily.INVALID_PARAMS),
    (296, 296, StatusFamily.ERROR),
    (297, 297, StatusFamily.INVALID_PARAMS),
    (298, 298, StatusFamily.ERROR),
    (300, 304, StatusFamily.INVALID_PARAMS),
    (305, 320, StatusFamily.ERROR),
    (321, 321, StatusFamily.INVALID_PARAMS),
    (322, 322, StatusFamily.ERROR),
    (323, 353, StatusFamily.INVALID_PARAMS),
    (370, 375, StatusFamily.ERROR),
    (380, 382, StatusFamily.INVALID_PARAMS),
    (383, 383, StatusFamily.ERROR),
    (391, 391, StatusFamily.ERROR),
    (400, 400, StatusFamily.INVALID_PARAMS),
    (401, 401, StatusFamily.AUTH_FAILED),
    (402, 402, StatusFamily.ERROR),
    (501, 511, StatusFamily.INVALID_PARAMS),
    (516, 521, StatusFamily.ERROR),
    (522, 522, StatusFamily.TIMEOUT),
    (523, 523, StatusFamily.INVALID_PARAMS),
    (524, 524, StatusFamily.BAD_STATE),
    (525, 531, StatusFamily.ERROR),
    (532, 532, StatusFamily.INVALID_PARAMS),
    (533, 533, StatusFamily.ERROR),
    (601, 601, StatusFamily.TOO_MANY_REQUESTS),
    (602, 602, StatusFamily.ERROR),
    (700, 700, StatusFamily.ERROR),
    (1051, 1054, StatusFamily.ERROR),
    (2551, 2552, StatusFamily.ERROR),
    (2553, 2553, StatusFamily.UNAUTHORIZED),
    (2554, 2554, StatusFamily.NOT_IMPLEMENTED),
    (2555, 2555, StatusFamily.UNAUTHORIZED),
    (2556, 2559, StatusFamily.ERROR),
    (3000, 3016, StatusFamily.ERROR),
    (3017, 3019, StatusFamily.INVALID_PARAMS),
    (3020, 3024, StatusFamily.ERROR),
    (5000, 5006, StatusFamily.ERROR),
    (6000, 6000, StatusFamily.ERROR),
    (6010, 6011, StatusFamily.ERROR),
    (9000, 9000, StatusFamily.ERROR),
    (10000, 10000, StatusFamily.ERROR),
)


@cache
def status_family(status: int) -> StatusFamily:
    """The family of a Withings `status` code; codes outside the table are UNKNOWN."""
    for low, high, family in _STATUS_RANGES:
        if low <= status <= high:
            return family
    logger.warning("withings.unknown_status", extra={"status": status})
    return StatusFamily.UNKNOWN


@cache
def _warn_unknown(table: str, code: object) -> None:
    # Cached so that a new code logs once per process, not once per record.
    logger.warning("withings.unknown_code", extra={"table": table, "code": code})


def _lookup(enum: type[_Code], table: str) -> Callable[[int], _Code]:
    """A function from a code to its member of `enum`, or to UNKNOWN (logged once).

    A dict lookup is several times faster than calling the enum (a getmeas page has tens of
    thousands of measures); the dict holds every member, UNKNOWN's own -1 included.
    """
    members = {member.value: member for member in enum}
    unknown = enum(-1)

    def lookup(code: int) -> _Code:
        found = members.get(code)
        if found is None:
            _warn_unknown(table, code)
            return unknown
        return found

    return lookup


measure_type: Final = _lookup(MeasureType, "meastype")
"""The measure type for a `meastype` code, or UNKNOWN (logged once)."""
measure_attrib: Final = _lookup(MeasureAttrib, "attrib")
"""The attribution of a measure group, or UNKNOWN (logged once)."""
sleep_state: Final = _lookup(SleepState, "sleep_state")
"""The sleep state of a segment, or UNKNOWN (logged once)."""
appli: Final = _lookup(Appli, "appli")
"""The notification category for an `appli` code, or UNKNOWN (logged once)."""


def user_action(value: str) -> UserAction:
    """The action of an appli 46 notification, or UNKNOWN (logged once)."""
    try:
        return UserAction(value)
    except ValueError:
        _warn_unknown("user_action", value)
        return UserAction.UNKNOWN


def workout_name(category: int) -> str:
    """The display name of a workout category; unknown codes are "Other" (logged once)."""
    name = WORKOUT_CATEGORY_NAMES.get(category)
    if name is None:
        _warn_unknown("workout_category", category)
        return WORKOUT_CATEGORY_NAMES[WORKOUT_OTHER]
    return name


def device_model_name(model_id: int | None) -> str | None:
    """The product name of a device model id, or None when Withings gave none or it is new."""
    if model_id is None:
        return None
    name = DEVICE_MODEL_NAMES.get(model_id)
    if name is None:
        _warn_unknown("device_model", model_id)
    return name


def parse_scopes(value: str) -> frozenset[Scope]:
    """The known scopes in a comma-separated scope string; unknown scopes are logged and dropped."""
    scopes: set[Scope] = set()
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            scopes.add(Scope(part))
        except ValueError:
            _warn_unknown("scope", part)
    return frozenset(scopes)
