"""Code lookups: every known code gives its member, any other gives UNKNOWN with one log line."""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import IntEnum

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rookery.withings import codes
from rookery.withings.codes import Appli, MeasureAttrib, MeasureType, SleepState

LOOKUPS: list[tuple[Callable[[int], IntEnum], type[IntEnum]]] = [
    (codes.measure_type, MeasureType),
    (codes.measure_attrib, MeasureAttrib),
    (codes.sleep_state, SleepState),
    (codes.appli, Appli),
]
IDS = [enum.__name__ for _, enum in LOOKUPS]


@pytest.mark.parametrize(("lookup", "enum"), LOOKUPS, ids=IDS)
def test_every_member_is_found_by_its_code(
    lookup: Callable[[int], IntEnum], enum: type[IntEnum]
) -> None:
    for member in enum:
        assert lookup(member.value) is member


@pytest.mark.parametrize(("lookup", "enum"), LOOKUPS, ids=IDS)
@given(code=st.integers(min_value=-(2**40), max_value=2**40))
def test_lookup_agrees_with_the_enum(
    lookup: Callable[[int], IntEnum], enum: type[IntEnum], code: int
) -> None:
    known = code in {member.value for member in enum}
    assert lookup(code) is (enum(code) if known else enum["UNKNOWN"])


def test_an_unknown_code_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    code = 987_654_321  # no other test uses it: the warning is cached for the process
    with caplog.at_level(logging.WARNING, logger=codes.__name__):
        assert codes.measure_type(code) is MeasureType.UNKNOWN
        assert codes.measure_type(code) is MeasureType.UNKNOWN
    unknown = [
        record for record in caplog.records if record.getMessage() == "withings.unknown_code"
    ]
    assert len(unknown) == 1
    assert unknown[0].__dict__["table"] == "meastype"
    assert unknown[0].__dict__["code"] == code


def test_an_unknown_workout_category_is_other_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    code = 987_654_322  # unique, as above
    with caplog.at_level(logging.WARNING, logger=codes.__name__):
        assert codes.workout_name(code) == "Other"
        assert codes.workout_name(code) == "Other"
    unknown = [
        record for record in caplog.records if record.getMessage() == "withings.unknown_code"
    ]
    assert [(r.__dict__["table"], r.__dict__["code"]) for r in unknown] == [
        ("workout_category", code)
    ]
