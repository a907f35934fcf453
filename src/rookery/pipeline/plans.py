"""What to fetch for each Withings notification category, declared as data. Pure.

A notification names a data domain and a window; the fetch plan of its domain says which
endpoints one fetch calls, in order. Notifications of one domain for one connection coalesce
into one queued fetch whose window is the union of theirs (`rookery.jobs.merge_window`), so a
burst of weigh-ins, or Withings' re-deliveries, costs one fetch.

Measures (applis 1, 2, 4, 58) share one domain and one `getmeas` call without a `meastypes`
filter: Withings cuts the listed types out of each group, so a filtered call would drop the
heart pulse a scale records with a weigh-in (appli 1 does not list type 11), a manual height
(no appli lists type 4) or a VO2 max, and would return the same group with different measures
depending on which notification asked — a new fingerprint, a spurious new version.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from rookery.withings.codes import APPLIS, Appli
from rookery.withings.responses import Endpoint


class Domain(StrEnum):
    """A slice of a user's Withings data that one fetch covers."""

    MEASURES = "measures"
    ACTIVITY = "activity"
    SLEEP = "sleep"
    HEART = "heart"


class WindowKind(StrEnum):
    """How a domain's window is written in a job payload (`start`, `end`)."""

    EPOCH = "epoch"  # Unix seconds, inclusive: what startdate/enddate notifications carry
    DATE = "date"  # local dates `YYYY-MM-DD`, inclusive: what appli 16 carries


@dataclass(frozen=True, slots=True)
class FetchPlan:
    """One domain's calls: `ranged` once over the window (every page), then `per_record` once
    for each record the ranged calls returned within the window that needs it: sleep `get`
    per main night (its granular heart-rate and breathing series exist only per night, at
    most 24 h a call); `getintradayactivity` per finished day whose activity row is new or
    changed (`rookery.pipeline.fetch` says why no more often)."""

    domain: Domain
    window: WindowKind
    ranged: tuple[Endpoint, ...]
    per_record: Endpoint | None = None

    @property
    def fewest_calls(self) -> int:
        """Calls a fetch of one new record needs: the ranged calls, plus one per record."""
        return len(self.ranged) + (0 if self.per_record is None else 1)


PLANS: Final[Mapping[Domain, FetchPlan]] = {
    Domain.MEASURES: FetchPlan(Domain.MEASURES, WindowKind.EPOCH, (Endpoint.GETMEAS,)),
    Domain.ACTIVITY: FetchPlan(
        Domain.ACTIVITY,
        WindowKind.DATE,
        (Endpoint.GETACTIVITY, Endpoint.GETWORKOUTS),
        Endpoint.GETINTRADAYACTIVITY,
    ),
    Domain.SLEEP: FetchPlan(
        Domain.SLEEP, WindowKind.EPOCH, (Endpoint.SLEEP_GETSUMMARY,), Endpoint.SLEEP_GET
    ),
    Domain.HEART: FetchPlan(Domain.HEART, WindowKind.EPOCH, (Endpoint.HEART_LIST,)),
}

# A day's final activity update, made by its close job when the stored physical summary has no
# intraday samples yet (the day's last sync came before its end): the day's row and samples;
# workouts are events, delivered as they come, so they are not asked again.
DAY_END_ACTIVITY: Final = FetchPlan(
    Domain.ACTIVITY, WindowKind.DATE, (Endpoint.GETACTIVITY,), Endpoint.GETINTRADAYACTIVITY
)

# The notification categories that mean "new data": which domain each one fetches.
APPLI_DOMAINS: Final[Mapping[Appli, Domain]] = {
    Appli.WEIGHT: Domain.MEASURES,
    Appli.TEMPERATURE: Domain.MEASURES,
    Appli.PRESSURE_HEART_SPO2: Domain.MEASURES,
    Appli.GLUCOSE: Domain.MEASURES,
    Appli.ACTIVITY: Domain.ACTIVITY,
    Appli.SLEEP: Domain.SLEEP,
    Appli.ECG: Domain.HEART,
}


def plan_for(appli: Appli) -> FetchPlan | None:
    """The fetch plan a notification of `appli` starts; None when it fetches nothing (bed in
    and out, the user events of appli 46, ...)."""
    domain = APPLI_DOMAINS.get(appli)
    return None if domain is None else PLANS[domain]


def domains_for(scopes: Iterable[str]) -> tuple[Domain, ...]:
    """The domains a connection's granted `scopes` let Rookery read (the scope of the
    notification categories that fetch them), in `Domain` order."""
    granted = set(scopes)
    return tuple(
        domain
        for domain in Domain
        if any(
            APPLIS[appli].scope in granted
            for appli, of in APPLI_DOMAINS.items()
            if of is domain and APPLIS[appli].scope is not None
        )
    )
