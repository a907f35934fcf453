"""What a transform needs besides one Withings response, and what it hands back. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Final
from zoneinfo import ZoneInfo

from rookery.model.common import RookDocument
from rookery.model.identity import DocumentIdentity
from rookery.transform.time import zone

UTC_ZONE: Final = zone("UTC")


@dataclass(frozen=True, slots=True)
class HeightReading:
    """A height the user recorded (by a device or by hand) at `at_epoch_s`."""

    at_epoch_s: int
    height_m: Decimal


@dataclass(frozen=True, slots=True)
class UserContext:
    """Who the documents are for, and the facts a rule needs from outside one response.

    `timezone` is the user's zone for the responses that carry none (sleep `get`, intraday
    activity, heart `list`); responses that name a zone per record or per body use that one.
    `heights` are the user's heights known from earlier responses (any order): BMI uses the latest
    one at or before a weigh-in, together with the heights in the response itself.
    """

    client_uuid: str
    user_id: str
    timezone: ZoneInfo = UTC_ZONE
    heights: tuple[HeightReading, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Produced:
    """One ROOK document a transform produced, with its stable identity and local date.

    `local_date` is the user's calendar day the document belongs to (the query API's `date`):
    the summary's date, or the day of the event in the record's zone.
    """

    identity: DocumentIdentity
    local_date: date
    document: RookDocument
