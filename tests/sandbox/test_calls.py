"""The call log's busiest minute, which benchmarks and fault tests hold the rate limit to."""

from __future__ import annotations

from rookery.sandbox.calls import busiest_minute
from rookery.sandbox.protocol import TOO_MANY_REQUESTS


def _call(at: float, status: int = 0) -> dict[str, float | int]:
    return {"at": at, "status": status}


def test_the_busiest_minute_is_the_most_calls_in_any_sliding_60_s() -> None:
    calls = [_call(0), _call(30), _call(59.9), _call(60), _call(61), _call(200)]
    # 30, 59.9, 60 and 61 fall within 60 s of each other; 0 and 60 do not.
    assert busiest_minute(calls) == 4


def test_refused_calls_count_only_when_asked() -> None:
    calls = [_call(0), _call(1, TOO_MANY_REQUESTS), _call(2, TOO_MANY_REQUESTS)]
    assert busiest_minute(calls) == 1
    assert busiest_minute(calls, include_refused=True) == 3


def test_an_empty_log_has_no_busy_minute() -> None:
    assert busiest_minute([]) == 0
