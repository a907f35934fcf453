"""Time and number helpers shared by every transform. Pure.

Withings gives instants as epoch seconds and the user's IANA zone per record; ROOK wants local ISO
8601 with microseconds and an offset (`Z` for zero). A user's day is the local calendar day of that
zone, never the UTC day (peers bucketed by UTC and put evening data on the wrong day).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rookery.model.common import format_datetime

_ONE = Decimal(1)


class UnknownTimeZoneError(ValueError):
    """A time zone name that the IANA database does not know."""


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The IANA zone called `name`; raises UnknownTimeZoneError for an unknown or malformed name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UnknownTimeZoneError(f"unknown time zone {name!r}") from exc


def local_datetime(epoch_s: int | float, tz: ZoneInfo) -> datetime:
    """The instant `epoch_s` (seconds since 1970 UTC) as an aware datetime in `tz`.

    Raises ValueError for an instant no datetime holds (beyond year 1 to 9999).
    """
    try:
        return datetime.fromtimestamp(epoch_s, tz)
    except (OverflowError, OSError) as exc:
        # The C library's time_t overflows before datetime's own ValueError for far years.
        raise ValueError(f"epoch second {epoch_s} is out of range") from exc


def iso_local(epoch_s: int | float, tz: ZoneInfo) -> str:
    """The instant `epoch_s` as ROOK text in `tz`, e.g. `2023-11-14T23:00:00.000000+01:00`."""
    return format_datetime(local_datetime(epoch_s, tz))


def local_date(epoch_s: int | float, tz: ZoneInfo) -> date:
    """The calendar date in `tz` on which the instant `epoch_s` falls."""
    return local_datetime(epoch_s, tz).date()


def start_of_day(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of `day` in `tz`.

    That is local midnight, except where a DST change skips midnight (then the first wall time that
    exists, e.g. 01:00); where midnight happens twice, the earlier one.
    """
    wall = datetime(day.year, day.month, day.day, tzinfo=tz)
    # A wall time in a DST gap maps (fold 0) to the instant the gap ends; the round trip through
    # UTC turns it into the wall time that really exists.
    try:
        return wall.astimezone(UTC).astimezone(tz)
    except OverflowError as exc:  # 0001-01-01 east of Greenwich starts before year 1 in UTC
        raise ValueError(f"the start of {day} in {tz} is out of range") from exc


def end_of_day(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of the day after `day` in `tz` (exclusive end of `day`)."""
    try:
        after = day + timedelta(days=1)
    except OverflowError as exc:
        raise ValueError(f"{day} has no next day") from exc
    return start_of_day(after, tz)


def exact(value: int | float | Decimal) -> Decimal:
    """`value` as an exact Decimal; a float becomes the decimal it was written as in JSON."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        # repr() is the shortest text that round-trips, i.e. what the JSON said (0.86, not
        # 0.85999999999999998667732370449812151491641998291015625).
        return Decimal(repr(value))
    return Decimal(value)


def round_half_away(value: int | float | Decimal) -> int:
    """`value` rounded to the nearest integer, halves away from zero (2.5 → 3, -2.5 → -3)."""
    if isinstance(value, int):
        return value
    # Whole numbers (JSON 58.0, measure 12100 × 10^-2) skip the Decimal rounding.
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
    elif value.is_finite() and value == (whole := int(value)):
        return whole
    number = exact(value)
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return int(number.quantize(_ONE, rounding=ROUND_HALF_UP))
