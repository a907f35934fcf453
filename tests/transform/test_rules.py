"""The shared value rules, checked for every input."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given
from hypothesis import strategies as st

from rookery.transform.rules import mean_int


@given(st.lists(st.one_of(st.none(), st.integers(min_value=-(10**12), max_value=10**12))))
def test_mean_int_is_the_exact_mean_rounded_half_away_from_zero(values: list[int | None]) -> None:
    present = [value for value in values if value is not None]
    if not present:
        assert mean_int(values) is None
        return
    exact = Decimal(sum(present)) / Decimal(len(present))
    assert mean_int(values) == int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def test_mean_int_rounds_halves_away_from_zero() -> None:
    assert mean_int([71, 72]) == 72
    assert mean_int([-71, -72]) == -72
    assert mean_int([1, None, 2, 2]) == 2
    assert mean_int([None]) is None
