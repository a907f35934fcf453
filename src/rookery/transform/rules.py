"""The value rules every transform shares (mapping.md "Common rules"). Pure."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import TypeVar, overload

from rookery.model.common import RookDocument
from rookery.model.identity import DocumentIdentity
from rookery.transform.context import Produced
from rookery.transform.time import exact, round_half_away

T = TypeVar("T")


def first_present(*values: T | None) -> T | None:
    """mapping.md's "A; else B": the first value that is not None (0 counts as present)."""
    for value in values:
        if value is not None:
            return value
    return None


def sum_present(*values: float | None) -> float | None:
    """The sum of the values that are present, or None when none is."""
    present = [value for value in values if value is not None]
    if not present:
        return None
    return sum(present)


def opt_int(value: float | Decimal | None) -> int | None:
    """An integer field: `value` rounded half away from zero, None stays None."""
    if value is None:
        return None
    if type(value) is int:
        return value
    return round_half_away(value)


def opt_float(value: float | Decimal | None) -> float | None:
    """A float field from a JSON number or an exact Decimal, None stays None."""
    if value is None:
        return None
    return float(value)


@overload
def positive(value: Decimal) -> Decimal | None: ...
@overload
def positive(value: float) -> float | None: ...
@overload
def positive(value: None) -> None: ...
def positive(value: float | Decimal | None) -> float | Decimal | None:
    """`value` when it is a positive number, else None (Withings writes 0 for "not measured")."""
    if value is None or value <= 0:
        return None
    return value


def bpm(value: float | Decimal | None) -> int | None:
    """A heart rate in bpm: 0 or absent means Withings had no reading, so null."""
    return opt_int(positive(value))


def mean_int(values: Iterable[int | None]) -> int | None:
    """The mean of the values that are present, rounded half away from zero; None when none is.

    Integer arithmetic, exact for any count (the mean of 71 and 72 is 72, of -71 and -72 is -72).
    """
    present = [value for value in values if value is not None]
    if not present:
        return None
    total, count = sum(present), len(present)
    whole, rest = divmod(abs(total), count)
    if 2 * rest >= count:
        whole += 1
    return whole if total >= 0 else -whole


def percent_of(part: Decimal | None, whole: Decimal | None) -> int | None:
    """`part` as an integer percentage of `whole`, or None when either is missing or whole ≤ 0."""
    if part is None or whole is None or whole <= 0:
        return None
    return round_half_away(part * 100 / whole)


def difference(minuend: float | None, subtrahend: float | None) -> float | None:
    """`minuend − subtrahend` computed exactly (no float drift), when both are present."""
    if minuend is None or subtrahend is None:
        return None
    return float(exact(minuend) - exact(subtrahend))


def produced(document: RookDocument, source_key: str, local_date: date) -> Produced:
    """A transform's output: `document` with its identity (named by `source_key`) and date."""
    return Produced(DocumentIdentity.of(document, source_key), local_date, document)
