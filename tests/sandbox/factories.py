"""Small hand-made sandbox users, so that every expected answer can be computed by hand."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from rookery.sandbox.notices import RecordKind, change_for
from rookery.sandbox.records import Account, Change, Record, SandboxUser
from rookery.sandbox.synth import UnknownRecordError, UnknownUserError, record_key

T0: Final = 1_700_000_000  # 2023-11-14T22:13:20Z
DAY: Final = 86_400
DEVICE: Final = "9b3f5c1a2e7d4b60a8c3f1e2d4b5a6c7d8e9f012"


def measure_group(
    grpid: int, at: int, measures: list[tuple[int, int, int]], **extra: Any
) -> Record:
    """A measure group of (type, value, unit) measures taken at `at`."""
    return {
        "grpid": grpid,
        "attrib": 0,
        "date": at,
        "created": at + 30,
        "modified": at + 30,
        "category": 1,
        "deviceid": DEVICE,
        "hash_deviceid": DEVICE,
        "modelid": 6,
        "model": "Body Cardio",
        "comment": None,
        "measures": [
            {"value": v, "type": t, "unit": u, "algo": 0, "fm": 3} for t, v, u in measures
        ],
        **extra,
    }


def activity(day: str, modified: int, steps: int) -> Record:
    """A daily activity row with every field."""
    return {
        "date": day,
        "timezone": "Europe/Paris",
        "deviceid": DEVICE,
        "hash_deviceid": DEVICE,
        "brand": 1,
        "is_tracker": True,
        "modified": modified,
        "model": "ScanWatch",
        "modelid": 93,
        "steps": steps,
        "distance": steps * 0.75,
        "elevation": 3,
        "soft": 3000,
        "moderate": 900,
        "intense": 300,
        "active": 1200,
        "calories": 310.5,
        "totalcalories": 2200.25,
        "hr_average": 71,
        "hr_min": 52,
        "hr_max": 141,
        "hr_zone_0": 40000,
        "hr_zone_1": 2400,
        "hr_zone_2": 600,
        "hr_zone_3": 60,
    }


def workout(wid: int, day: str, start: int) -> Record:
    """A run."""
    return {
        "id": wid,
        "category": 2,
        "timezone": "Europe/Paris",
        "model": 93,
        "attrib": 0,
        "startdate": start,
        "enddate": start + 2700,
        "date": day,
        "modified": start + 3000,
        "deviceid": DEVICE,
        "data": {
            "calories": 402,
            "intensity": 0,
            "hr_average": 148,
            "hr_min": 96,
            "hr_max": 176,
            "steps": 6980,
            "distance": 7410,
            "elevation": 12,
            "pause_duration": 0,
            "algo_pause_duration": None,
        },
    }


def night(nid: int, day: str, start: int) -> Record:
    """A night with every summary field aiowithings knows plus a few."""
    return {
        "id": nid,
        "timezone": "Europe/Paris",
        "model": 32,
        "model_id": 63,
        "hash_deviceid": DEVICE,
        "startdate": start,
        "enddate": start + 28_200,
        "date": day,
        "created": start + 30_000,
        "modified": start + 30_000,
        "data": {
            "total_timeinbed": 28200,
            "total_sleep_time": 24780,
            "lightsleepduration": 13500,
            "deepsleepduration": 5700,
            "remsleepduration": 5580,
            "wakeupduration": 3420,
            "wakeupcount": 2,
            "durationtosleep": 720,
            "durationtowakeup": 480,
            "sleep_efficiency": 0.88,
            "sleep_latency": 720,
            "wakeup_latency": 480,
            "waso": 2220,
            "nb_rem_episodes": 4,
            "out_of_bed_count": 1,
            "hr_average": 58,
            "hr_min": 49,
            "hr_max": 77,
            "rr_average": 14,
            "rr_min": 11,
            "rr_max": 18,
            "snoring": 1080,
            "snoringepisodecount": 9,
            "sleep_score": 81,
            "night_events": {"1": [0], "2": [720]},
        },
    }


def segment(start: int, minutes: int, state: int) -> Record:
    """A sleep-state segment with per-minute hr/rr/snoring."""
    stamps = [str(start + 60 * i) for i in range(minutes)]
    return {
        "startdate": start,
        "enddate": start + 60 * minutes,
        "state": state,
        "model": "Aura Sensor V2",
        "model_id": 63,
        "hash_deviceid": DEVICE,
        "hr": dict.fromkeys(stamps, 60),
        "rr": dict.fromkeys(stamps, 14),
        "snoring": dict.fromkeys(stamps, 0),
    }


def make_user(userid: int = 1001, *, goals: bool = True) -> SandboxUser:
    """A user with a little of everything around T0."""
    return SandboxUser(
        userid=userid,
        display_name=f"Ada A. ({userid})",
        timezone="Europe/Paris",
        devices=[
            {
                "type": "Scale",
                "battery": "high",
                "model": "Body Cardio",
                "model_id": 6,
                "timezone": "Europe/Paris",
                "first_session_date": T0 - 100 * DAY,
                "last_session_date": T0,
                "deviceid": DEVICE,
                "hash_deviceid": DEVICE,
            },
            {
                "type": "Sleep Monitor",
                "battery": "medium",
                "model": "Aura Sensor V2",
                "model_id": 63,
                "timezone": "Europe/Paris",
                "first_session_date": None,
                "last_session_date": None,
                "deviceid": DEVICE,
                "hash_deviceid": DEVICE,
            },
        ],
        goals={"steps": 10000, "sleep": 28800, "weight": {"value": 70500, "unit": -3}}
        if goals
        else {},
        measuregrps=[
            measure_group(1, T0 - 2 * DAY, [(1, 75232, -3), (6, 1823, -2)]),
            measure_group(2, T0 - DAY, [(9, 79, 0), (10, 12100, -2), (11, 66, 0)]),
            measure_group(3, T0, [(1, 7510, -2)]),
            {**measure_group(4, T0 + 60, [(1, 70, 0)]), "category": 2},
        ],
        activities=[
            activity("2023-11-12", T0 - DAY, 8000),
            activity("2023-11-13", T0, 9000),
            activity("2023-11-14", T0 + 10, 10000),
        ],
        workouts=[workout(11, "2023-11-13", T0 - DAY), workout(12, "2023-11-14", T0 - 3600)],
        sleep_summaries=[night(21, "2023-11-13", T0 - 2 * DAY), night(22, "2023-11-14", T0 - DAY)],
        heart=[
            {
                "deviceid": DEVICE,
                "model": 44,
                "ecg": {"signalid": 48213, "afib": 0},
                "bloodpressure": {"diastole": 79, "systole": 121},
                "heart_rate": 66,
                "timestamp": T0 - DAY,
                "modified": T0 - DAY + 100,
            }
        ],
    )


def make_world(users: int = 2) -> StaticWorld:
    """`users` users (1001, 1002, ...) with sleep segments and intraday samples for the first."""
    people = [make_user(1001 + i) for i in range(users)]
    night_start = T0 - DAY
    segments = [segment(night_start + 600 * i, 10, i % 4) for i in range(6 * 36)]
    samples = {
        T0 - DAY + 60 * i: {"deviceid": DEVICE, "model": "ScanWatch", "model_id": 93,
                            "steps": i % 50, "heart_rate": 60 + i % 30, "duration": 60}
        for i in range(3 * 1440)
    }  # fmt: skip
    return StaticWorld(people, sleep_segments={1001: segments}, intraday={1001: samples})


class StaticWorld:
    """A hand-made world: given users and series; nothing arrives by itself."""

    def __init__(
        self,
        users: Iterable[SandboxUser],
        *,
        sleep_segments: Mapping[int, Sequence[Record]] | None = None,
        intraday: Mapping[int, Mapping[int, Record]] | None = None,
    ) -> None:
        self.users = list(users)
        self._segments = {uid: list(rows) for uid, rows in (sleep_segments or {}).items()}
        self._intraday = {uid: dict(rows) for uid, rows in (intraday or {}).items()}
        self.now_epoch = T0

    @property
    def accounts(self) -> list[Account]:
        """Who can log in."""
        return [Account(u.userid, u.display_name, u.timezone) for u in self.users]

    def user(self, userid: int, /) -> SandboxUser:
        """The user with `userid`."""
        for user in self.users:
            if user.userid == userid:
                return user
        raise UnknownUserError(userid)

    def ecg_signal(self, user: SandboxUser, signalid: int, /) -> Record:
        """A short made-up signal for each listed ECG."""
        for row in user.heart:
            if row["ecg"]["signalid"] == signalid:
                return {
                    "signal": [-12, -9, 4, 31, 57, 40],
                    "sampling_frequency": 500,
                    "wearposition": 2,
                    "model": row["model"],
                    "heart_rate": row["heart_rate"],
                }
        raise UnknownRecordError(RecordKind.HEART, signalid)

    def sleep_segments(self, user: SandboxUser, startdate: int, enddate: int, /) -> list[Record]:
        """The given segments overlapping the window."""
        return [
            s
            for s in self._segments.get(user.userid, ())
            if s["enddate"] > startdate and s["startdate"] < enddate
        ]

    def intraday(self, user: SandboxUser, startdate: int, enddate: int, /) -> dict[str, Record]:
        """The given samples within the window."""
        samples = self._intraday.get(user.userid, {})
        return {str(at): s for at, s in samples.items() if startdate <= at < enddate}

    def advance(self, until_utc: datetime, /) -> list[Change]:
        """Nothing arrives by itself."""
        self.now_epoch = int(until_utc.timestamp())
        return []

    def add_record(
        self, userid: int, kind: RecordKind, record: Record, /, *, at_utc: datetime | None = None
    ) -> Change:
        """Append the record, stamped `modified` (and `created`)."""
        at = int(at_utc.timestamp()) if at_utc else self.now_epoch
        stored = {**record, "modified": at}
        if kind in (RecordKind.MEASURE, RecordKind.SLEEP):
            stored["created"] = at
        getattr(self.user(userid), kind.value).append(stored)
        return change_for(userid, kind, stored)

    def update_record(
        self,
        userid: int,
        kind: RecordKind,
        key: int | str,
        changes: Mapping[str, Any],
        /,
        *,
        at_utc: datetime | None = None,
    ) -> Change:
        """Merge `changes` into the record with `key`."""
        records: list[Record] = getattr(self.user(userid), kind.value)
        for position, record in enumerate(records):
            if record_key(kind, record) == key:
                at = int(at_utc.timestamp()) if at_utc else self.now_epoch
                records[position] = {**record, **changes, "modified": at}
                return change_for(userid, kind, records[position])
        raise UnknownRecordError(kind, key)

    def remove_record(self, userid: int, kind: RecordKind, key: int | str, /) -> Change:
        """Drop the record with `key`."""
        records: list[Record] = getattr(self.user(userid), kind.value)
        for position, record in enumerate(records):
            if record_key(kind, record) == key:
                return change_for(userid, kind, records.pop(position))
        raise UnknownRecordError(kind, key)
