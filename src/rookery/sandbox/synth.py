"""The sandbox's synthetic users: a seeded population whose data keeps arriving.

`generate_population(count, seed, now_utc=...)` builds `count` users with devices, a time zone and
`history_days` of records in Withings' wire shape; `Population.advance(until_utc)` adds what would
have arrived since and returns the notifications Withings would send. Both run the same timeline
(`days.plan_day`), filtered to a window, so a population advanced to T holds exactly what one
generated at T holds, and advancing in one step or many gives the same records and changes.

History is lazy: a user's past days are generated when the user is first touched (`user()`,
`users`, a control helper), from that same timeline, so a lazy population holds byte for byte what
an eager one holds, and start-up costs only the profiles.

The server owns HTTP, filtering, paging and encoding; this module owns the data and its
consistency, including for the server's control endpoints (`add_record`, `update_record`,
`remove_record`, `add_measures`).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from rookery.sandbox.days import (
    ActivityDay,
    DayPlan,
    HourShape,
    Slot,
    day_bounds,
    local_date,
    measure,
    measure_group,
    plan_day,
    record_id,
)
from rookery.sandbox.detail import ecg_signal, intraday_samples, night_segments
from rookery.sandbox.notices import RecordKind, change_for
from rookery.sandbox.profiles import (
    ECG_MODELS,
    MAX_USERS,
    SLEEP_ANALYZER_MODEL,
    WATCH_MODELS,
    UserProfile,
    make_profile,
)
from rookery.sandbox.records import Account, Change, Record, SandboxUser
from rookery.withings.codes import ActivityBrand, MeasureAttrib, MeasureType, SleepModel

MAX_HISTORY_DAYS: Final = 3650
# Ids of records added through control endpoints, far above any generated id.
_CONTROL_ID_BASE: Final = 9 * 10**12
# Days before the window's first local date whose records can still arrive in it (a day's
# activity is final the next morning; a late night ends on the day after it began).
_LOOKBACK_DAYS: Final = 2

# Decimal exponents a control-added measure is encoded with, per type (Withings varies them).
_CONTROL_UNITS: Final[dict[int, int]] = {
    MeasureType.WEIGHT_KG: -3,
    MeasureType.HEIGHT_M: -2,
    MeasureType.FAT_RATIO_PERCENT: -3,
    MeasureType.DIASTOLIC_MMHG: 0,
    MeasureType.SYSTOLIC_MMHG: 0,
    MeasureType.HEART_PULSE_BPM: 0,
    MeasureType.SPO2_PERCENT: 0,
}


class UnknownUserError(LookupError):
    """No synthetic user has this userid."""

    def __init__(self, userid: int) -> None:
        super().__init__(f"no sandbox user with userid {userid}")
        self.userid = userid


class UnknownRecordError(LookupError):
    """The user has no record of this kind with this key."""

    def __init__(self, kind: RecordKind, key: object) -> None:
        super().__init__(f"no {kind.value} record with key {key!r}")
        self.kind = kind
        self.key = key


def _order_key(kind: RecordKind) -> Callable[[Record], tuple[Any, ...]]:
    """How a kind of record is kept in chronological order (ties broken by id: a total order)."""
    match kind:
        case RecordKind.MEASURE:
            return lambda r: (r["date"], r["grpid"])
        case RecordKind.ACTIVITY:
            return lambda r: (r["date"], r["brand"], r["deviceid"] or "")
        case RecordKind.WORKOUT | RecordKind.SLEEP:
            return lambda r: (r["startdate"], r["id"])
        case RecordKind.HEART:
            return lambda r: (r["timestamp"], r["ecg"]["signalid"])


def record_key(kind: RecordKind, record: Record) -> int | str:
    """The key that names a record of `kind` in the control helpers.

    grpid for measure groups, id for workouts and nights, the ECG signalid for heart rows and the
    `YYYY-MM-DD` date for activity rows (with the brand given separately).
    """
    match kind:
        case RecordKind.MEASURE:
            return int(record["grpid"])
        case RecordKind.ACTIVITY:
            return str(record["date"])
        case RecordKind.WORKOUT | RecordKind.SLEEP:
            return int(record["id"])
        case RecordKind.HEART:
            return int(record["ecg"]["signalid"])


# The measures of a daily activity row besides `steps` and `active` (research §3.2).
_ACTIVITY_MEASURES: Final = (
    "distance",
    "elevation",
    "soft",
    "moderate",
    "intense",
    "calories",
    "totalcalories",
)

_REQUIRED: Final[dict[RecordKind, tuple[str, ...]]] = {
    RecordKind.MEASURE: ("date", "measures"),
    RecordKind.ACTIVITY: ("date", "steps"),
    RecordKind.WORKOUT: ("category", "startdate", "enddate", "date", "data"),
    RecordKind.SLEEP: ("startdate", "enddate", "date", "data"),
    RecordKind.HEART: ("timestamp", "heart_rate"),
}


def _epoch(at_utc: datetime, name: str) -> int:
    if at_utc.tzinfo is None or at_utc.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got naive {at_utc.isoformat()}")
    return int(at_utc.timestamp())


@dataclass(slots=True)
class _Pending:
    """A change found in a window, with the key that orders it the same in every window."""

    order: tuple[int, int, int, int]
    change: Change


@dataclass(slots=True)
class Population:
    """Synthetic Withings users and the clock their data has reached.

    Build one with `generate_population`. Users are ordered by index; records inside each user are
    kept in chronological order (see `records.SandboxUser`). A user is *awake* once touched: only
    then does it hold its history, and only awake users take part in `advance`.
    """

    seed: int
    start_utc: datetime
    now_utc: datetime
    _users: list[SandboxUser] = field(repr=False)
    _profiles: dict[int, UserProfile] = field(repr=False)
    _by_id: dict[int, SandboxUser] = field(repr=False)
    _awake: set[int] = field(default_factory=set, repr=False)
    _plans: dict[tuple[int, date], DayPlan] = field(default_factory=dict, repr=False)
    _next_control_id: int = _CONTROL_ID_BASE

    @property
    def accounts(self) -> list[Account]:
        """Who can log in, in index order; generates no history."""
        return [Account(u.userid, u.display_name, u.timezone) for u in self._users]

    @property
    def awake_userids(self) -> frozenset[int]:
        """The users whose history has been generated so far."""
        return frozenset(self._awake)

    @property
    def users(self) -> list[SandboxUser]:
        """Every user with its history up to `now_utc` (wakes them all), in index order."""
        for user in self._users:
            self._wake(user)
        return self._users

    def user(self, userid: int) -> SandboxUser:
        """The user with `userid`, history up to `now_utc` included, or `UnknownUserError`."""
        found = self._by_id.get(userid)
        if found is None:
            raise UnknownUserError(userid)
        if userid not in self._awake:
            self._wake(found)
        return found

    def advance(self, until_utc: datetime) -> list[Change]:
        """Add every record that arrives after `now_utc` and up to `until_utc`; move the clock.

        Returns one `Change` per notification Withings would send for the awake users, in the
        order they happen: each measure group, night, workout and ECG when it arrives, and each
        upload that changes a day's activity. A user nobody has touched yet catches up silently
        when first touched (no one can have subscribed to it). Advancing to T in one call or in
        many gives the same records and the same changes. `until_utc` earlier than `now_utc` is
        an error.
        """
        after, until = _epoch(self.now_utc, "now_utc"), _epoch(until_utc, "until_utc")
        if until < after:
            raise ValueError(
                f"cannot advance back in time: {until_utc.isoformat()} is before "
                f"{self.now_utc.isoformat()}"
            )
        pending: list[_Pending] = []
        for user in self._users:
            if user.userid in self._awake:
                self._fill(user, after, until, pending, cache=True)
        self.now_utc = until_utc.astimezone(UTC)
        oldest = {
            uid: local_date(self._profiles[uid].zone, until) - timedelta(days=_LOOKBACK_DAYS + 1)
            for uid in self._awake
        }
        self._plans = {
            key: plan for key, plan in self._plans.items() if key[1] >= oldest.get(key[0], key[1])
        }
        pending.sort(key=lambda item: item.order)
        return [item.change for item in pending]

    def _wake(self, user: SandboxUser) -> None:
        """Generate the user's history from the start of the population to `now_utc`, once."""
        if user.userid in self._awake:
            return
        self._awake.add(user.userid)
        start = _epoch(self.start_utc, "start_utc")
        self._fill(user, start, _epoch(self.now_utc, "now_utc"), None, cache=False)

    def sleep_segments(self, user: SandboxUser, startdate: int, enddate: int) -> list[Record]:
        """The sleep `get` segments of `user` overlapping [startdate, enddate), in time order.

        Derived from the stored summaries: each night's segments add up per state to its summary
        and carry `hr`/`rr`/`snoring` maps (one point a minute) where the summary has them. The
        server applies the 24-hour cap and drops maps not asked for in `data_fields`.
        """
        segments: list[Record] = []
        for summary in user.sleep_summaries:
            if summary["enddate"] <= startdate or summary["startdate"] >= enddate:
                continue
            for segment in night_segments(self.seed, user.userid, summary):
                if segment["enddate"] > startdate and segment["startdate"] < enddate:
                    segments.append(segment)
        segments.sort(key=lambda s: (s["startdate"], s["enddate"]))
        return segments

    def intraday(self, user: SandboxUser, startdate: int, enddate: int) -> dict[str, Record]:
        """getintradayactivity `series` of `user` within [startdate, enddate), keyed by epoch.

        Samples come from the watch's daily rows: per day their steps add up to the row's steps,
        up to the data of the row's last upload. The server applies the 24-hour cap and picks the
        `data_fields`; the same call always gives the same answer.
        """
        profile = self._profiles[user.userid]
        zone = profile.zone
        samples: dict[int, Record] = {}
        # Nothing exists outside the population's history: clamp absurd windows to it.
        startdate = max(startdate, int(self.start_utc.timestamp()) - 86_400 * _LOOKBACK_DAYS)
        enddate = min(enddate, int(self.now_utc.timestamp()) + 86_400)
        if enddate <= startdate:
            return {}
        day, last = local_date(zone, startdate), local_date(zone, enddate - 1)
        while day <= last:
            row = _find_activity(user, day.isoformat(), ActivityBrand.WITHINGS)
            if row is not None:
                plan = self._activity_plan(profile, day, row)
                workouts = [
                    w
                    for w in user.workouts
                    if w["date"] == row["date"] and w["deviceid"] == row["deviceid"]
                ]
                samples |= intraday_samples(profile, plan, row, workouts, startdate, enddate)
            day += timedelta(days=1)
        return {str(at): sample for at, sample in sorted(samples.items())}

    def ecg_signal(self, user: SandboxUser, signalid: int) -> Record:
        """The heart `get` body for one of `user`'s ECGs, or `UnknownRecordError`."""
        for row in user.heart:
            if row["ecg"]["signalid"] == signalid:
                return ecg_signal(self.seed, user.userid, row)
        raise UnknownRecordError(RecordKind.HEART, signalid)

    def add_record(
        self, userid: int, kind: RecordKind, record: Record, *, at_utc: datetime | None = None
    ) -> Change:
        """Store a raw record for `userid` as if it had arrived at `at_utc` (default: now).

        The record is in Withings' wire shape; a missing id (`grpid`, `id`, ECG `signalid`) is
        assigned, `created`/`modified` are set to the arrival time, and every other field the
        real API always sends is filled in (device fields from the user's own devices for nights
        and ECGs, nulls or zeros otherwise), so that clients read it like any other record. An
        activity row replaces the row of the same date and brand. Returns the notification
        Withings would send.
        """
        user = self.user(userid)
        missing = [name for name in _REQUIRED[kind] if name not in record]
        if missing:
            raise ValueError(f"a {kind.value} record needs {', '.join(missing)}")
        at = _epoch(at_utc or self.now_utc, "at_utc")
        stored = dict(record)
        if kind is RecordKind.MEASURE:
            stored.setdefault("grpid", self._control_id())
            stored.setdefault("attrib", int(MeasureAttrib.MANUAL))
            stored.setdefault("category", 1)
            for name in ("deviceid", "hash_deviceid", "modelid", "model", "comment"):
                stored.setdefault(name, None)
            stored |= {"created": at, "modified": at}
        elif kind is RecordKind.ACTIVITY:
            stored.setdefault("brand", int(ActivityBrand.WITHINGS))
            stored.setdefault("deviceid", None)
            stored.setdefault("hash_deviceid", stored["deviceid"])
            stored.setdefault("is_tracker", stored["deviceid"] is not None)
            stored.setdefault("model", None)
            stored.setdefault("modelid", None)
            stored.setdefault("timezone", user.timezone)
            # Withings sends every measure of a day row; what the caller left out is zero.
            for name in _ACTIVITY_MEASURES:
                stored.setdefault(name, 0)
            stored.setdefault("active", stored["moderate"] + stored["intense"])
            stored["modified"] = at
        elif kind is RecordKind.WORKOUT:
            stored.setdefault("id", self._control_id())
            stored.setdefault("timezone", user.timezone)
            stored.setdefault("attrib", 0)
            stored.setdefault("deviceid", None)
            stored.setdefault("model", None)
            stored["modified"] = at
        elif kind is RecordKind.SLEEP:
            # A night is always recorded by a device: the user's Sleep Analyzer, else its watch.
            device = _device_of(user, (SLEEP_ANALYZER_MODEL, *WATCH_MODELS))
            monitor = device is not None and device["model_id"] == SLEEP_ANALYZER_MODEL
            stored.setdefault("id", self._control_id())
            stored.setdefault("timezone", user.timezone)
            stored.setdefault(
                "model", int(SleepModel.SLEEP_MONITOR if monitor else SleepModel.ACTIVITY_TRACKER)
            )
            stored.setdefault("model_id", device["model_id"] if device else None)
            stored.setdefault("hash_deviceid", device["deviceid"] if device else None)
            stored |= {"created": at, "modified": at}
        else:
            device = _device_of(user, tuple(sorted(ECG_MODELS)))
            ecg = dict(stored.get("ecg") or {})
            ecg.setdefault("signalid", self._control_id())
            ecg.setdefault("afib", 0)
            stored["ecg"] = ecg
            stored.setdefault("deviceid", device["deviceid"] if device else None)
            stored.setdefault("model", device["model_id"] if device else None)
            stored["modified"] = at
        _store(user, kind, stored)
        return change_for(userid, kind, stored)

    def add_measures(
        self,
        userid: int,
        values: Mapping[MeasureType, float],
        *,
        taken_at_utc: datetime,
        at_utc: datetime | None = None,
        attrib: MeasureAttrib = MeasureAttrib.MANUAL,
    ) -> Change:
        """Add a manual measure group (e.g. {WEIGHT_KG: 80.2}) taken at `taken_at_utc`."""
        if not values:
            raise ValueError("a measure group needs at least one measure")
        measures = [
            measure(mtype, value, _CONTROL_UNITS.get(mtype, -2), manual=True)
            for mtype, value in values.items()
        ]
        taken = _epoch(taken_at_utc, "taken_at_utc")
        group = measure_group(self._control_id(), attrib, taken, taken, None, measures)
        return self.add_record(userid, RecordKind.MEASURE, group, at_utc=at_utc)

    def update_record(
        self,
        userid: int,
        kind: RecordKind,
        key: int | str,
        changes: Mapping[str, Any],
        *,
        brand: int = ActivityBrand.WITHINGS,
        at_utc: datetime | None = None,
    ) -> Change:
        """Change fields of one record (a `data` mapping is merged) and bump its `modified`.

        `key` is what `record_key` gives; `brand` picks the activity row of a date. Returns the
        notification Withings would send.
        """
        user = self.user(userid)
        records: list[Record] = getattr(user, kind.value)
        position = _locate(records, kind, key, brand)
        updated = dict(records[position])
        for name, value in changes.items():
            if name == "data" and isinstance(value, Mapping):
                updated["data"] = {**updated.get("data", {}), **value}
            else:
                updated[name] = value
        updated["modified"] = _epoch(at_utc or self.now_utc, "at_utc")
        del records[position]
        _store(user, kind, updated)
        return change_for(userid, kind, updated)

    def remove_record(
        self, userid: int, kind: RecordKind, key: int | str, *, brand: int = ActivityBrand.WITHINGS
    ) -> Change:
        """Delete one record; Withings notifies deletions like changes."""
        user = self.user(userid)
        records: list[Record] = getattr(user, kind.value)
        removed = records.pop(_locate(records, kind, key, brand))
        return change_for(userid, kind, removed)

    def _control_id(self) -> int:
        self._next_control_id += 1
        return self._next_control_id

    def _plan(self, profile: UserProfile, day: date, *, cache: bool) -> DayPlan:
        if not cache:
            return plan_day(profile, day)
        key = (profile.userid, day)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = plan_day(profile, day)
        return plan

    def _activity_plan(self, profile: UserProfile, day: date, row: Record) -> ActivityDay:
        for activity in self._plan(profile, day, cache=True).activities:
            if (
                activity.full["brand"] == row["brand"]
                and activity.full["deviceid"] == row["deviceid"]
            ):
                return activity
        # A row added through a control endpoint: spread its movement evenly over the day.
        start, end = day_bounds(profile.zone, day)
        shape = HourShape(
            (self.seed, profile.index, day.toordinal()), -(-(end - start) // 3600), 0, 24
        )
        return ActivityDay(row, (), start, end, shape, 0.0)

    def _fill(
        self,
        user: SandboxUser,
        after: int,
        until: int,
        pending: list[_Pending] | None,
        *,
        cache: bool,
    ) -> None:
        """Store what arrives for `user` in (after, until]; note the changes in `pending`."""
        profile = self._profiles[user.userid]
        zone = profile.zone
        day = local_date(zone, after) - timedelta(days=_LOOKBACK_DAYS)
        last = local_date(zone, until)
        while day <= last:
            plan = self._plan(profile, day, cache=cache)
            for number, arrival in enumerate(plan.arrivals):
                if after < arrival.at <= until:
                    _store(user, arrival.kind, arrival.record)
                    _note_session(user, arrival.kind, arrival.record, arrival.at)
                    if pending is not None:
                        change = change_for(user.userid, arrival.kind, arrival.record)
                        order = (arrival.at, user.userid, day.toordinal(), number)
                        pending.append(_Pending(order, change))
            for number, activity in enumerate(plan.activities):
                synced = [at for at in activity.syncs if after < at <= until]
                if not synced:
                    continue
                row = activity.row_at(synced[-1])
                _store(user, RecordKind.ACTIVITY, row)
                _note_session(user, RecordKind.ACTIVITY, row, synced[-1])
                if pending is not None:
                    change = change_for(user.userid, RecordKind.ACTIVITY, row)
                    for at in synced:
                        order = (at, user.userid, day.toordinal(), 1000 + number)
                        pending.append(_Pending(order, change))
            day += timedelta(days=1)


def _device_of(user: SandboxUser, model_ids: tuple[int, ...]) -> Record | None:
    """The user's first device of the first model in `model_ids` it owns, if any."""
    for model_id in model_ids:
        for device in user.devices:
            if device["model_id"] == model_id:
                return device
    return None


def _find_activity(user: SandboxUser, day: str, brand: int) -> Record | None:
    for row in user.activities:
        if row["date"] == day and row["brand"] == brand:
            return row
    return None


def _locate(records: list[Record], kind: RecordKind, key: int | str, brand: int) -> int:
    for position, record in enumerate(records):
        if record_key(kind, record) == key and (
            kind is not RecordKind.ACTIVITY or record["brand"] == brand
        ):
            return position
    raise UnknownRecordError(kind, key)


def _store(user: SandboxUser, kind: RecordKind, record: Record) -> None:
    """Insert `record` in order; an activity row replaces the row of its date and source."""
    records: list[Record] = getattr(user, kind.value)
    order = _order_key(kind)
    key = order(record)
    position = bisect.bisect_left(records, key, key=order)
    if kind is RecordKind.ACTIVITY and position < len(records) and order(records[position]) == key:
        records[position] = record
    else:
        records.insert(position, record)


def _note_session(user: SandboxUser, kind: RecordKind, record: Record, at: int) -> None:
    """Move the recording device's `last_session_date` forward (the max, so order never matters)."""
    deviceid = record.get("hash_deviceid" if kind is RecordKind.SLEEP else "deviceid")
    if deviceid is None:
        return
    for device in user.devices:
        if device["deviceid"] == deviceid:
            last = device["last_session_date"]
            device["last_session_date"] = at if last is None else max(last, at)
            return


def _device_rows(profile: UserProfile, start: int) -> list[Record]:
    return [
        {
            "type": device.type,
            "battery": device.battery,
            "model": device.model,
            "model_id": device.model_id,
            "timezone": profile.timezone,
            "first_session_date": start,
            "last_session_date": None,
            "deviceid": device.deviceid,
            "hash_deviceid": device.deviceid,
        }
        for device in profile.devices
    ]


def generate_population(
    count: int, seed: int, *, now_utc: datetime, history_days: int = 90, lazy: bool = True
) -> Population:
    """`count` synthetic users with `history_days` of data up to `now_utc`, decided by `seed`.

    The same (count, seed, now_utc, history_days) gives byte-identical records; user i is the
    same user in every population with the same seed. The accounts are created at
    `now_utc - history_days` with a manual height entry; everything else arrives as it would
    have, so generating at T equals generating earlier and advancing to T. `lazy` defers each
    user's history to its first touch (same records); `lazy=False` generates everyone now.
    """
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_USERS:
        raise ValueError(f"count must be an integer from 0 to {MAX_USERS}, got {count!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if not 0 <= history_days <= MAX_HISTORY_DAYS:
        raise ValueError(f"history_days must be from 0 to {MAX_HISTORY_DAYS}, got {history_days}")
    now = _epoch(now_utc, "now_utc")
    # Whole seconds, so that the start is the same epoch however it is later read back.
    start_utc = datetime.fromtimestamp(now - history_days * 86_400, UTC)
    start = now - history_days * 86_400
    profiles = [make_profile(seed, index) for index in range(count)]
    users = [_new_user(profile, start) for profile in profiles]
    population = Population(
        seed=seed,
        start_utc=start_utc,
        now_utc=now_utc.astimezone(UTC),
        _users=users,
        _profiles={p.userid: p for p in profiles},
        _by_id={u.userid: u for u in users},
    )
    if not lazy:
        for user in users:
            population._wake(user)
    return population


def _new_user(profile: UserProfile, start: int) -> SandboxUser:
    """An account as created at `start`: devices, goals and the height typed in at sign-up."""
    created_day = local_date(profile.zone, start)
    height = measure(MeasureType.HEIGHT_M, profile.height_m, -2, manual=True)
    group = measure_group(
        record_id(created_day, Slot.HEIGHT, profile.index),
        MeasureAttrib.MANUAL,
        start,
        start,
        None,
        [height],
    )
    return SandboxUser(
        userid=profile.userid,
        display_name=profile.display_name,
        timezone=profile.timezone,
        devices=_device_rows(profile, start),
        goals=dict(profile.goals),
        measuregrps=[group],
    )


def all_records(user: SandboxUser) -> Iterable[tuple[RecordKind, Record]]:
    """Every stored record of `user` with its kind, kind by kind in chronological order."""
    for kind in RecordKind:
        for record in getattr(user, kind.value):
            yield kind, record
