"""Withings notifications: parsed from their form body, then stored with the fetches they ask
for in one transaction (the caller's), so that once Withings has its 200 nothing is lost.

A notification for a Withings account no linked connection knows is not stored (it would only
let whoever knows the callback URL fill the table). Withings re-delivers, duplicates and overlaps
notifications; each becomes at most one queued fetch per connection and domain, whose window
grows to cover them all (`rookery.jobs.merge_window`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final
from urllib.parse import parse_qsl

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rookery.connections.links import handle_withings_unlink
from rookery.errors import InvalidInputError
from rookery.jobs.kinds import JobKind, Priority
from rookery.jobs.queue import enqueue, merge_window
from rookery.pipeline.plans import FetchPlan, WindowKind, plan_for
from rookery.store.enums import ConnectionState
from rookery.store.tables import WithingsConnection, WithingsNotification
from rookery.withings.codes import Appli, UserAction

logger = structlog.get_logger(__name__)

# A Withings notification is a handful of short fields; anything longer is not one.
MAX_BODY_BYTES: Final = 2048
MAX_FIELDS: Final = 16
# A notification that names no window (some payloads omit it) fetches this much recent data.
DEFAULT_LOOKBACK: Final = timedelta(days=2)
# Withings epochs are after 2000 and before 2100: anything else is not a date.
MIN_EPOCH_S: Final = 946_684_800
MAX_EPOCH_S: Final = 4_102_444_800
_KNOWN_FIELDS: Final = frozenset(
    {"userid", "appli", "startdate", "enddate", "date", "action", "deviceid", "callbackurl"}
)
MAX_USERID: Final = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Notification:
    """One parsed notification. `date_ymd` is set when `date` is a `YYYY-MM-DD`; a `date` given
    in epoch seconds (bed in/out) lands in `startdate`/`enddate` when those are absent."""

    userid: int
    appli: Appli
    appli_code: int
    startdate: int | None
    enddate: int | None
    date_ymd: date | None
    action: UserAction | None
    params: dict[str, str]


def parse_notification(body: bytes) -> Notification:
    """The notification in a form-encoded body; raises `InvalidInputError` (a safe message)
    when it is not one."""
    if len(body) > MAX_BODY_BYTES:
        raise InvalidInputError("the notification body is too large")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        raise InvalidInputError("the notification body is not form-encoded") from None
    if len(pairs) > MAX_FIELDS:
        raise InvalidInputError("the notification has too many fields")
    params = {key: value for key, value in pairs if key in _KNOWN_FIELDS}
    userid = _integer(params, "userid", required=True)
    appli_code = _integer(params, "appli", required=True)
    assert userid is not None  # required=True
    assert appli_code is not None
    if not 0 < userid <= MAX_USERID:
        raise InvalidInputError("userid is out of range")
    startdate = _epoch(params, "startdate")
    enddate = _epoch(params, "enddate")
    date_ymd, date_epoch = _date(params.get("date"))
    if startdate is None and enddate is None and date_epoch is not None:
        startdate = enddate = date_epoch
    if startdate is not None and enddate is not None and enddate < startdate:
        raise InvalidInputError("enddate is before startdate")
    action = params.get("action")
    return Notification(
        userid=userid,
        appli=_appli(appli_code),
        appli_code=appli_code,
        startdate=startdate,
        enddate=enddate,
        date_ymd=date_ymd,
        action=None if action is None else _user_action(action),
        params=params,
    )


def _integer(params: dict[str, str], name: str, *, required: bool = False) -> int | None:
    text = params.get(name)
    if text is None or text == "":
        if required:
            raise InvalidInputError(f"{name} is missing")
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        raise InvalidInputError(f"{name} is not an integer")
    return int(text)


def _epoch(params: dict[str, str], name: str) -> int | None:
    value = _integer(params, name)
    if value is not None and not MIN_EPOCH_S <= value <= MAX_EPOCH_S:
        raise InvalidInputError(f"{name} is not a plausible date")
    return value


def _date(text: str | None) -> tuple[date | None, int | None]:
    if text is None or text == "":
        return None, None
    if text.isascii() and text.isdigit():
        value = _epoch({"date": text}, "date")
        return None, value
    try:
        return date.fromisoformat(text), None
    except ValueError:
        raise InvalidInputError("date is neither YYYY-MM-DD nor epoch seconds") from None


def _appli(code: int) -> Appli:
    try:
        return Appli(code)
    except ValueError:
        return Appli.UNKNOWN


def _user_action(text: str) -> UserAction:
    try:
        return UserAction(text)
    except ValueError:
        return UserAction.UNKNOWN


def fetch_window(
    notification: Notification, plan: FetchPlan, *, now: datetime
) -> tuple[int | str, int | str]:
    """The (start, end) a notification asks `plan` to fetch, as its job payload writes it:
    epoch seconds, or local dates for a date-window domain (activity).

    A date-window domain notified with epoch seconds gets the UTC dates around them, one day
    wider on each side (the user's local date is within a day of the UTC one). A notification
    with no window at all fetches the last `DEFAULT_LOOKBACK`.
    """
    start_s = notification.startdate
    end_s = notification.enddate if notification.enddate is not None else start_s
    if start_s is None and notification.date_ymd is None:
        start_s = int((now - DEFAULT_LOOKBACK).timestamp())
        end_s = int(now.timestamp())
    if plan.window is WindowKind.DATE:
        if notification.date_ymd is not None:
            day = notification.date_ymd.isoformat()
            return day, day
        assert start_s is not None
        assert end_s is not None
        first = datetime.fromtimestamp(start_s, UTC).date() - timedelta(days=1)
        last = datetime.fromtimestamp(end_s, UTC).date() + timedelta(days=1)
        return first.isoformat(), last.isoformat()
    if start_s is None or end_s is None:
        # An epoch domain notified with a local date only: that date, widened by a day each way.
        assert notification.date_ymd is not None
        first_dt = datetime.combine(notification.date_ymd, datetime.min.time(), UTC)
        return int((first_dt - timedelta(days=1)).timestamp()), int(
            (first_dt + timedelta(days=2)).timestamp()
        )
    return start_s, end_s


def fetch_dedupe_key(connection_id: uuid.UUID, domain: str) -> str:
    """The key that coalesces a connection's queued notification fetches of one domain."""
    return f"{JobKind.PIPELINE_FETCH}:{connection_id}:{domain}"


@dataclass(frozen=True, slots=True)
class Recorded:
    """What storing a notification did: whether its account is known, how many fetches it
    asked for (queued or merged into queued ones), how many connections it unlinked."""

    known: bool
    fetches: int = 0
    unlinked: int = 0


async def record_notification(
    session: AsyncSession, notification: Notification, *, now: datetime
) -> Recorded:
    """Store `notification` and queue what it asks for, in the caller's transaction (the
    caller commits): a fetch per linked connection of the account (appli with a fetch plan),
    or the unlink of every connection (appli 46, `unlink` or `delete`). Nothing is stored for
    an account no linked connection knows."""
    connections = list(
        await session.scalars(
            select(WithingsConnection.id).where(
                WithingsConnection.withings_userid == notification.userid,
                WithingsConnection.state == ConnectionState.LINKED,
            )
        )
    )
    if not connections:
        return Recorded(known=False)
    unlinked = 0
    fetches = 0
    if notification.appli is Appli.USER and notification.action in (
        UserAction.UNLINK,
        UserAction.DELETE,
    ):
        unlinked = await handle_withings_unlink(
            session, withings_userid=notification.userid, now=now
        )
    elif (plan := plan_for(notification.appli)) is not None:
        # The notification row itself records when the account was last notified
        # (`rookery.pipeline.status.last_notified_at`): no other row is written, so a fetch of
        # the same connection, holding its sync state, never holds Withings' answer up.
        start, end = fetch_window(notification, plan, now=now)
        for connection_id in connections:
            await enqueue(
                session,
                JobKind.PIPELINE_FETCH,
                {
                    "connection_id": str(connection_id),
                    "domain": plan.domain.value,
                    "start": start,
                    "end": end,
                },
                priority=Priority.NOTIFICATION,
                dedupe_key=fetch_dedupe_key(connection_id, plan.domain),
                connection_id=connection_id,
                coalesce=merge_window("start", "end"),
                now=now,
            )
            fetches += 1
    session.add(
        WithingsNotification(
            received_at=now,
            withings_userid=notification.userid,
            appli=notification.appli_code,
            params=notification.params,
            fetches=fetches,
        )
    )
    logger.info(
        "withings_notification",
        appli=notification.appli_code,
        connections=len(connections),
        fetches=fetches,
        unlinked=unlinked,
    )
    return Recorded(known=True, fetches=fetches, unlinked=unlinked)
