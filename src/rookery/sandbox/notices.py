"""Which kind of record a sandbox change touches, and the notification Withings sends for it.

One place decides the `appli` and the window of a notification, for generated data (live mode)
and for the server's control endpoints alike. Source: ../shared/research/withings_api.md §5.2.
"""

from __future__ import annotations

from enum import StrEnum

from rookery.sandbox.records import Change, Record
from rookery.withings.codes import APPLIS, Appli


class RecordKind(StrEnum):
    """A kind of raw record; the value is the `SandboxUser` list that holds it."""

    MEASURE = "measuregrps"
    ACTIVITY = "activities"
    WORKOUT = "workouts"
    SLEEP = "sleep_summaries"
    HEART = "heart"


# A measure notification's window: Withings sends a short range around the group's date.
MEASURE_WINDOW_S = 60
# Length of an ECG recording (the longest device, ScanWatch, records 30 s).
ECG_DURATION_S = 30


def measure_appli(measure_types: set[int]) -> Appli:
    """The notification category of a measure group with these `meastype` codes.

    The category whose list covers most of the group's types wins, the narrower list on a tie (a
    Thermo's body temperature is appli 2, not 1). A group no category covers (height) is appli 1.
    """
    best: tuple[int, int] = (0, 0)
    chosen = Appli.WEIGHT
    for appli, info in APPLIS.items():
        if not info.measure_types:
            continue
        covered = len(measure_types & {int(t) for t in info.measure_types})
        rank = (covered, -len(info.measure_types))
        if covered and rank > best:
            best, chosen = rank, appli
    return chosen


def change_for(userid: int, kind: RecordKind, record: Record) -> Change:
    """The notification Withings sends when `record` of `kind` is added or changed for `userid`."""
    match kind:
        case RecordKind.MEASURE:
            types = {int(m["type"]) for m in record["measures"]}
            at = int(record["date"])
            return Change(userid, measure_appli(types), at, at + MEASURE_WINDOW_S)
        case RecordKind.ACTIVITY | RecordKind.WORKOUT:
            return Change(userid, Appli.ACTIVITY, date=str(record["date"]))
        case RecordKind.SLEEP:
            return Change(userid, Appli.SLEEP, int(record["startdate"]), int(record["enddate"]))
        case RecordKind.HEART:
            at = int(record["timestamp"])
            return Change(userid, Appli.ECG, at, at + ECG_DURATION_S)
