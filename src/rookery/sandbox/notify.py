"""Notifications: the per-user subscription store, the Notify API and webhook delivery.

Subscribing HEAD-probes the callback (status 293 unless it answers 2xx). Each change is POSTed
form-encoded to every matching subscription, which must answer below 400 within 2 s; failures are
retried on Withings' schedule (research §5.4), timed by the sandbox clock so tests can compress it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import httpx2

from rookery.sandbox.clock import SandboxClock
from rookery.sandbox.oauth import AccessGrant
from rookery.sandbox.protocol import (
    CALLBACK_INVALID,
    NO_SUCH_SUBSCRIPTION,
    NOT_IMPLEMENTED,
    WithingsStatusError,
    invalid_params,
    is_loopback_url,
)
from rookery.sandbox.records import Change
from rookery.sandbox.settings import SandboxSettings
from rookery.withings.codes import APPLIS, Appli

# Withings' "never" for a subscription's expiry, as seen in real `list` answers.
SUBSCRIPTION_EXPIRES: Final = 2_147_483_647
TRIES_PER_CYCLE: Final = 2
# Each cycle starts this long after the previous one: base + uniform(low, high) seconds.
RETRY_CYCLES_S: Final[tuple[tuple[float, float, float], ...]] = (
    (0, 0, 0),
    (10, 0, 0),
    (60, 60, 600),
    (3600, 120, 1200),
    (14400, 180, 1800),
)


@dataclass(slots=True)
class Subscription:
    """One (user, appli, callback) subscription."""

    userid: int
    appli: Appli
    callbackurl: str
    comment: str = ""

    def as_profile(self) -> dict[str, Any]:
        """The `list` row."""
        return {
            "appli": int(self.appli),
            "callbackurl": self.callbackurl,
            "expires": SUBSCRIPTION_EXPIRES,
            "comment": self.comment,
        }


@dataclass(frozen=True, slots=True)
class Notification:
    """What Withings POSTs: the user, the category and the category's own fields."""

    userid: int
    appli: Appli
    fields: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_change(cls, change: Change) -> Notification:
        """The notification for a change: a `date` for appli 16, an `action` for appli 46
        (`update` when the change names none)."""
        info = APPLIS.get(change.appli)
        fields: dict[str, str] = {}
        if info is not None and info.carries_action:
            fields["action"] = change.action or "update"
        if change.date is not None:
            fields["date"] = change.date
        if change.startdate is not None and not (info is not None and info.carries_date):
            fields["startdate"] = str(change.startdate)
        if change.enddate is not None and not (info is not None and info.carries_date):
            fields["enddate"] = str(change.enddate)
        return cls(change.userid, change.appli, fields)

    def form(self) -> dict[str, str]:
        """The form-encoded body."""
        return {"userid": str(self.userid), "appli": str(int(self.appli)), **self.fields}


@dataclass(slots=True)
class Attempt:
    """One HTTP try of a delivery."""

    at: float
    cycle: int
    outcome: str


@dataclass(slots=True)
class Delivery:
    """One notification to one callback, with its tries so far."""

    id: int
    callbackurl: str
    notification: Notification
    attempts: list[Attempt] = field(default_factory=list)
    state: str = "pending"
    next_at: float | None = None

    def as_json(self) -> dict[str, Any]:
        """The control endpoint's view."""
        return {
            "id": self.id,
            "callbackurl": self.callbackurl,
            "payload": self.notification.form(),
            "state": self.state,
            "next_at": self.next_at,
            "attempts": [
                {"at": a.at, "cycle": a.cycle, "outcome": a.outcome} for a in self.attempts
            ],
        }


def parse_appli(raw: str | None, *, default: Appli | None = None) -> Appli:
    """An `appli` parameter; a missing one takes `default` or is a 503."""
    if raw is None or raw == "":
        if default is None:
            raise invalid_params("missing appli")
        return default
    try:
        appli = Appli(int(raw))
    except ValueError:
        raise invalid_params(f"unknown appli {raw!r}") from None
    if appli is Appli.UNKNOWN:
        raise invalid_params(f"unknown appli {raw!r}")
    return appli


class SubscriptionStore:
    """Every subscription, per user. `on_change` is called after every change (for the state
    file)."""

    def __init__(self, on_change: Callable[[], None] = lambda: None) -> None:
        self._by_user: dict[int, list[Subscription]] = {}
        self._on_change = on_change

    @property
    def userids(self) -> list[int]:
        """The users with at least one subscription."""
        return [userid for userid, subs in self._by_user.items() if subs]

    def of(self, userid: int, appli: Appli | None = None) -> list[Subscription]:
        """A user's subscriptions, optionally of one appli."""
        subs = self._by_user.get(userid, [])
        return [s for s in subs if appli is None or s.appli == appli]

    def find(self, userid: int, appli: Appli, callbackurl: str) -> Subscription | None:
        """The subscription with exactly this key."""
        return next(
            (s for s in self.of(userid, appli) if s.callbackurl == callbackurl),
            None,
        )

    def add(self, subscription: Subscription) -> None:
        """Add, or update the comment of an existing identical subscription."""
        existing = self.find(subscription.userid, subscription.appli, subscription.callbackurl)
        if existing is None:
            self._by_user.setdefault(subscription.userid, []).append(subscription)
        else:
            existing.comment = subscription.comment
        self._on_change()

    def update(
        self,
        subscription: Subscription,
        *,
        callbackurl: str | None = None,
        appli: Appli | None = None,
        comment: str | None = None,
    ) -> None:
        """Change what is given of one subscription."""
        if callbackurl is not None:
            subscription.callbackurl = callbackurl
        if appli is not None:
            subscription.appli = appli
        if comment is not None:
            subscription.comment = comment
        self._on_change()

    def remove(
        self, userid: int, appli: Appli | None = None, callbackurl: str | None = None
    ) -> int:
        """Remove matching subscriptions; how many went."""
        subs = self._by_user.get(userid, [])
        kept = [
            s
            for s in subs
            if not (
                (appli is None or s.appli == appli)
                and (callbackurl is None or s.callbackurl == callbackurl)
            )
        ]
        self._by_user[userid] = kept
        if len(kept) < len(subs):
            self._on_change()
        return len(subs) - len(kept)

    def export(self) -> list[dict[str, Any]]:
        """Every subscription, for the state file (`restore` reads it back)."""
        return [
            {
                "userid": s.userid,
                "appli": int(s.appli),
                "callbackurl": s.callbackurl,
                "comment": s.comment,
            }
            for subs in self._by_user.values()
            for s in subs
        ]

    def restore(self, saved: list[Mapping[str, Any]]) -> None:
        """Take back what `export` gave; `KeyError`/`TypeError`/`ValueError` when malformed."""
        self._by_user = {}
        for row in saved:
            subscription = Subscription(
                int(row["userid"]),
                Appli(int(row["appli"])),
                str(row["callbackurl"]),
                str(row["comment"]),
            )
            self._by_user.setdefault(subscription.userid, []).append(subscription)


class Notifier:
    """Delivers notifications through the injected HTTP client, retrying on Withings' schedule."""

    def __init__(
        self,
        http: httpx2.AsyncClient,
        clock: SandboxClock,
        settings: SandboxSettings,
        subscriptions: SubscriptionStore,
        duplicate: Callable[[], bool],
    ) -> None:
        self._http = http
        self._clock = clock
        self._settings = settings
        self._subscriptions = subscriptions
        self._duplicate = duplicate
        self._rng = random.Random(settings.seed)  # noqa: S311 - reproducible retry jitter
        self._ids = itertools.count(1)
        self._queue: list[tuple[float, int, Delivery]] = []
        self.deliveries: dict[int, Delivery] = {}
        self.wakeup = asyncio.Event()

    async def probe(self, url: str) -> bool:
        """Whether the callback answers a HEAD with 2xx within the timeout."""
        try:
            response = await self._http.head(url, timeout=self._settings.notify_timeout_s)
        except httpx2.HTTPError:
            return False
        return 200 <= response.status_code < 300

    def notify(self, notification: Notification) -> list[Delivery]:
        """Queue the notification for every subscription of its user and appli."""
        queued: list[Delivery] = []
        for sub in self._subscriptions.of(notification.userid, notification.appli):
            copies = 2 if self._duplicate() else 1
            for _ in range(copies):
                delivery = Delivery(next(self._ids), sub.callbackurl, notification)
                self.deliveries[delivery.id] = delivery
                self._schedule(delivery, self._clock.now())
                queued.append(delivery)
        return queued

    def next_due_at(self) -> float | None:
        """When the earliest queued delivery is due."""
        return self._queue[0][0] if self._queue else None

    async def run_due(self) -> None:
        """Run every delivery cycle that is due now, and wait for them."""
        now = self._clock.now()
        due: list[Delivery] = []
        while self._queue and self._queue[0][0] <= now:
            due.append(heapq.heappop(self._queue)[2])
        if due:
            await asyncio.gather(*(self._run_cycle(d) for d in due))

    def _schedule(self, delivery: Delivery, at: float) -> None:
        delivery.next_at = at
        heapq.heappush(self._queue, (at, delivery.id, delivery))
        self.wakeup.set()

    async def _run_cycle(self, delivery: Delivery) -> None:
        cycle = len(delivery.attempts) // TRIES_PER_CYCLE
        delivery.next_at = None
        for _ in range(TRIES_PER_CYCLE):
            outcome = await self._post(delivery)
            delivery.attempts.append(Attempt(self._clock.now(), cycle, outcome))
            if outcome == "delivered":
                delivery.state = "delivered"
                return
        if cycle + 1 >= len(RETRY_CYCLES_S):
            delivery.state = "failed"
            return
        base_s, low_s, high_s = RETRY_CYCLES_S[cycle + 1]
        self._schedule(delivery, self._clock.now() + base_s + self._rng.uniform(low_s, high_s))

    async def _post(self, delivery: Delivery) -> str:
        try:
            response = await self._http.post(
                delivery.callbackurl,
                data=delivery.notification.form(),
                timeout=self._settings.notify_timeout_s,
            )
        except httpx2.TimeoutException:
            return "timeout"
        except httpx2.HTTPError as error:
            return f"error: {type(error).__name__}"
        return "delivered" if response.status_code < 400 else f"http {response.status_code}"


class NotifyService:
    """The `/notify` actions, on behalf of the token's user."""

    def __init__(
        self,
        settings: SandboxSettings,
        subscriptions: SubscriptionStore,
        notifier: Notifier,
    ) -> None:
        self._settings = settings
        self._subscriptions = subscriptions
        self._notifier = notifier

    async def handle(self, grant: AccessGrant, params: Mapping[str, str]) -> dict[str, Any]:
        """Dispatch one Notify action."""
        action = params.get("action", "")
        userid = grant.userid
        if action == "list":
            appli = parse_appli(params["appli"]) if params.get("appli") else None
            return {"profiles": [s.as_profile() for s in self._subscriptions.of(userid, appli)]}
        if action not in ("subscribe", "get", "revoke", "update"):
            raise WithingsStatusError(NOT_IMPLEMENTED, f"Unknown action '{action}' for /notify")
        callbackurl = params.get("callbackurl", "")
        if not callbackurl:
            raise invalid_params("missing callbackurl")
        if action == "subscribe":
            appli = parse_appli(params.get("appli"))
            self._check_scope(grant, appli)
            await self._check_callback(callbackurl)
            self._subscriptions.add(
                Subscription(userid, appli, callbackurl, params.get("comment", ""))
            )
            return {}
        appli = parse_appli(params.get("appli"), default=Appli.WEIGHT)
        subscription = self._subscriptions.find(userid, appli, callbackurl)
        if subscription is None:
            raise WithingsStatusError(NO_SUCH_SUBSCRIPTION, "No such subscription")
        if action == "get":
            return {
                "appli": int(appli),
                "callbackurl": callbackurl,
                "comment": subscription.comment,
            }
        if action == "revoke":
            self._subscriptions.remove(userid, appli, callbackurl)
            return {}
        return await self._update(grant, subscription, params)

    async def _update(
        self, grant: AccessGrant, subscription: Subscription, params: Mapping[str, str]
    ) -> dict[str, Any]:
        new_url = params.get("new_callbackurl")
        new_appli = parse_appli(params["new_appli"]) if params.get("new_appli") else None
        if new_url is None and new_appli is None and "comment" not in params:
            raise invalid_params("one of new_callbackurl, new_appli or comment is required")
        # Every check before any change: a refused update changes nothing.
        if new_appli is not None:
            self._check_scope(grant, new_appli)
        if new_url is not None:
            await self._check_callback(new_url)
        self._subscriptions.update(
            subscription, callbackurl=new_url, appli=new_appli, comment=params.get("comment")
        )
        return {}

    def _check_scope(self, grant: AccessGrant, appli: Appli) -> None:
        info = APPLIS.get(appli)
        needed = info.scope if info is not None else None
        if needed is None or needed not in grant.scopes:
            raise WithingsStatusError(
                self._settings.scope_miss_status,
                f"Insufficient scope: appli {int(appli)} needs {needed or 'a signed call'}",
            )

    async def _check_callback(self, url: str) -> None:
        if not is_loopback_url(url) or not await self._notifier.probe(url):
            raise WithingsStatusError(
                CALLBACK_INVALID, f"The callback URL '{url}' is either unknown or invalid"
            )
