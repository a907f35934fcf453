"""What the sandbox holds for each synthetic user: raw records exactly as Withings serves them.

The synthetic-data generator (`synth.py`) fills these; the server (`server.py`) filters, pages and
encodes them per request, and changes them through its control endpoints. Records are plain dicts
in Withings' own wire shape (see ../shared/research/withings_api.md §3), so what the server returns
is what was generated, and tests can compare the two directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

from rookery.withings.codes import Appli

Record: TypeAlias = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Account:
    """Who a synthetic user is, without the data: what the consent page and listings show."""

    userid: int
    display_name: str
    timezone: str


@dataclass(slots=True)
class SandboxUser:
    """One synthetic Withings account and everything it has recorded.

    Every record carries Withings' own `created`/`modified` epoch seconds where the real API has
    them, so `lastupdate` queries work. Lists are kept in chronological order.
    """

    userid: int
    display_name: str
    timezone: str
    devices: list[Record] = field(default_factory=list)
    goals: Record = field(default_factory=dict)
    measuregrps: list[Record] = field(default_factory=list)
    activities: list[Record] = field(default_factory=list)
    workouts: list[Record] = field(default_factory=list)
    sleep_summaries: list[Record] = field(default_factory=list)
    heart: list[Record] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Change:
    """A change to a user's data or account that Withings would notify about.

    `startdate`/`enddate` (epoch seconds) or `date` (`YYYY-MM-DD`) say which data changed;
    `action` (`update`, `unlink` or `delete`) is what happened to the account, for appli 46.
    """

    userid: int
    appli: Appli
    startdate: int | None = None
    enddate: int | None = None
    date: str | None = None
    action: str | None = None
