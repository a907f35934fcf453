"""The time and rounding helpers, against values worked out by hand from the tz database."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rookery.model.common import format_datetime
from rookery.transform.time import (
    UnknownTimeZoneError,
    end_of_day,
    exact,
    iso_local,
    local_date,
    round_half_away,
    start_of_day,
    zone,
)

# 2023-11-14T22:00:00Z (1699999200 = 19675 days × 86400 + 22 h).
NOV_14_22H_UTC = 1_699_999_200


@pytest.mark.parametrize(
    ("zone_name", "expected"),
    [
        ("Europe/Paris", "2023-11-14T23:00:00.000000+01:00"),
        ("UTC", "2023-11-14T22:00:00.000000Z"),
        ("Etc/UTC", "2023-11-14T22:00:00.000000Z"),
        ("Europe/London", "2023-11-14T22:00:00.000000Z"),  # GMT in November: a zero offset
        ("Asia/Kathmandu", "2023-11-15T03:45:00.000000+05:45"),
        ("America/St_Johns", "2023-11-14T18:30:00.000000-03:30"),  # NST after 5 November
        ("Pacific/Chatham", "2023-11-15T11:45:00.000000+13:45"),  # Chatham summer time
        ("Asia/Kolkata", "2023-11-15T03:30:00.000000+05:30"),
    ],
)
def test_iso_local_writes_the_zone_offset(zone_name: str, expected: str) -> None:
    assert iso_local(NOV_14_22H_UTC, zone(zone_name)) == expected


def test_chatham_winter_offset_is_twelve_forty_five() -> None:
    # 2023-06-15T00:00:00Z = 1686787200 (19523 days).
    assert iso_local(1_686_787_200, zone("Pacific/Chatham")) == "2023-06-15T12:45:00.000000+12:45"


def test_st_johns_summer_offset_is_minus_two_thirty() -> None:
    assert iso_local(1_686_787_200, zone("America/St_Johns")) == "2023-06-14T21:30:00.000000-02:30"


def test_local_date_is_the_zone_day_not_the_utc_day() -> None:
    assert local_date(NOV_14_22H_UTC, zone("UTC")) == date(2023, 11, 14)
    assert local_date(NOV_14_22H_UTC, zone("Asia/Kathmandu")) == date(2023, 11, 15)
    # 2023-11-15T02:00Z is still 14 November in St John's (22:30 the evening before).
    assert local_date(NOV_14_22H_UTC + 4 * 3600, zone("America/St_Johns")) == date(2023, 11, 14)


def test_spring_forward_in_paris() -> None:
    paris = zone("Europe/Paris")
    # 2023-03-26T01:00:00Z = 1679792400: clocks jump from 02:00 CET to 03:00 CEST.
    assert iso_local(1_679_792_399, paris) == "2023-03-26T01:59:59.000000+01:00"
    assert iso_local(1_679_792_400, paris) == "2023-03-26T03:00:00.000000+02:00"
    start = start_of_day(date(2023, 3, 26), paris)
    assert format_datetime(start) == "2023-03-26T00:00:00.000000+01:00"
    assert start.timestamp() == 1_679_785_200
    # Same-zone subtraction is wall-clock in Python; compare instants.
    assert end_of_day(date(2023, 3, 26), paris).timestamp() - start.timestamp() == 23 * 3600


def test_fall_back_day_lasts_twenty_five_hours() -> None:
    paris = zone("Europe/Paris")
    start = start_of_day(date(2023, 10, 29), paris)
    assert format_datetime(start) == "2023-10-29T00:00:00.000000+02:00"
    end = end_of_day(date(2023, 10, 29), paris)
    assert format_datetime(end) == "2023-10-30T00:00:00.000000+01:00"
    assert end.timestamp() - start.timestamp() == 25 * 3600


def test_day_whose_midnight_does_not_exist_starts_at_one() -> None:
    # Cuba springs forward at 00:00 standard time (-05:00) to 01:00 (-04:00): 12 March 2023.
    havana = zone("America/Havana")
    start = start_of_day(date(2023, 3, 12), havana)
    assert format_datetime(start) == "2023-03-12T01:00:00.000000-04:00"
    assert start.astimezone(UTC) == datetime(2023, 3, 12, 5, tzinfo=UTC)


def test_start_of_day_in_non_whole_hour_zones() -> None:
    kathmandu = start_of_day(date(2023, 11, 15), zone("Asia/Kathmandu"))
    assert format_datetime(kathmandu) == "2023-11-15T00:00:00.000000+05:45"
    assert kathmandu.astimezone(UTC) == datetime(2023, 11, 14, 18, 15, tzinfo=UTC)
    st_johns = start_of_day(date(2023, 11, 15), zone("America/St_Johns"))
    assert st_johns.astimezone(UTC) == datetime(2023, 11, 15, 3, 30, tzinfo=UTC)


@pytest.mark.parametrize("epoch_s", [10**20, -(10**20), 10**17, 253_402_300_800])
def test_an_instant_no_datetime_holds_is_a_value_error(epoch_s: int) -> None:
    # Past year 9999 datetime raises ValueError itself, or the C library's time_t overflows
    # first (OverflowError, or OSError on some platforms): all come out as ValueError.
    with pytest.raises(ValueError, match="out of range"):
        iso_local(epoch_s, zone("Pacific/Kiritimati"))
    with pytest.raises(ValueError, match="out of range"):
        local_date(epoch_s, zone("UTC"))


def test_the_ends_of_the_calendar_are_value_errors() -> None:
    with pytest.raises(ValueError, match="no next day"):
        end_of_day(date.max, zone("UTC"))
    with pytest.raises(ValueError, match="out of range"):
        start_of_day(date.min, zone("Asia/Tokyo"))  # 0001-01-01 local is still year 0 in UTC
    # Los Angeles' local mean time (-07:52:58) cannot be shifted to whole minutes before year 1.
    first_moment = start_of_day(date.min, zone("America/Los_Angeles"))
    with pytest.raises(ValueError, match="offset"):
        format_datetime(first_moment)


def test_unknown_zone_is_a_clear_error() -> None:
    with pytest.raises(UnknownTimeZoneError, match="Mars/Olympus"):
        zone("Mars/Olympus")
    with pytest.raises(UnknownTimeZoneError):
        zone("../etc/passwd")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("2.5"), 3),
        (Decimal("-2.5"), -3),
        (Decimal("2.4999"), 2),
        (Decimal("-2.5001"), -3),
        (0.5, 1),
        (-0.5, -1),
        (1.5, 2),
        (86.4, 86),
        (7, 7),
        (Decimal("0"), 0),
    ],
)
def test_round_half_away_from_zero(value: int | float | Decimal, expected: int) -> None:
    assert round_half_away(value) == expected


def test_float_from_json_scales_exactly() -> None:
    # 0.575 × 100 is 57.49999999999999 in binary floating point; as written it is 57.5 → 58.
    assert 0.575 * 100 < 57.5
    assert round_half_away(exact(0.575) * 100) == 58
    assert exact(0.86) == Decimal("0.86")


def test_round_refuses_non_finite() -> None:
    with pytest.raises(ValueError, match="finite"):
        round_half_away(float("nan"))
    with pytest.raises(ValueError, match="finite"):
        round_half_away(float("inf"))


@given(
    st.integers(min_value=0, max_value=4_102_444_800),
    st.sampled_from(["Europe/Paris", "Asia/Kathmandu", "America/St_Johns", "Pacific/Chatham"]),
)
def test_iso_local_round_trips_to_the_same_instant(epoch_s: int, zone_name: str) -> None:
    tz = zone(zone_name)
    text = iso_local(epoch_s, tz)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert parsed.timestamp() == epoch_s
    assert parsed.utcoffset() == datetime.fromtimestamp(epoch_s, tz).utcoffset()
    day = local_date(epoch_s, tz)
    assert start_of_day(day, tz).timestamp() <= epoch_s < end_of_day(day, tz).timestamp()


@given(st.dates(min_value=date(1971, 1, 1), max_value=date(2100, 1, 1)))
def test_start_of_day_is_on_that_day(day: date) -> None:
    for name in ("America/Havana", "America/Santiago", "Europe/Paris", "Pacific/Chatham"):
        tz = ZoneInfo(name)
        start = start_of_day(day, tz)
        assert start.date() == day
        just_before = datetime.fromtimestamp(start.timestamp() - 1, tz)
        assert just_before.date() < day
