"""The per-client rate limit and the call log it is checked against."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from rookery.sandbox.clock import SandboxClock
from rookery.sandbox.protocol import TOO_MANY_REQUESTS, WithingsStatusError

WINDOW_S: Final = 60.0


class RateLimiter:
    """At most `per_minute` accepted calls per client_id in any sliding 60 s of sandbox time."""

    def __init__(self, clock: SandboxClock, per_minute: int) -> None:
        if per_minute < 1:
            raise ValueError(f"the rate limit must be >= 1 per minute, got {per_minute}")
        self._clock = clock
        self._per_minute = per_minute
        self._accepted: dict[str, deque[float]] = {}

    def admit(self, client_id: str) -> None:
        """Count one call, or raise 601 with `wait_seconds` (a refused call does not count)."""
        now = self._clock.now()
        window = self._accepted.setdefault(client_id, deque())
        while window and window[0] <= now - WINDOW_S:
            window.popleft()
        if len(window) >= self._per_minute:
            wait_s = max(1, math.ceil(window[0] + WINDOW_S - now))
            raise WithingsStatusError(
                TOO_MANY_REQUESTS, "Too many requests", {"wait_seconds": wait_s}
            )
        window.append(now)


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One API call as the sandbox saw it."""

    at: float
    client_id: str | None
    userid: int | None
    path: str
    action: str
    status: int | None
    http_status: int
    fault: str | None

    def as_json(self) -> dict[str, Any]:
        """The control endpoint's view."""
        return {
            "at": self.at,
            "client_id": self.client_id,
            "userid": self.userid,
            "path": self.path,
            "action": self.action,
            "status": self.status,
            "http_status": self.http_status,
            "fault": self.fault,
        }


class CallLog:
    """The latest API calls, oldest first, bounded."""

    def __init__(self, size: int) -> None:
        self._records: deque[CallRecord] = deque(maxlen=size)

    def add(self, record: CallRecord) -> None:
        """Append one call."""
        self._records.append(record)

    def query(
        self, *, client_id: str | None = None, since: float | None = None
    ) -> list[CallRecord]:
        """Calls, optionally of one client and from a sandbox time on."""
        return [
            r
            for r in self._records
            if (client_id is None or r.client_id == client_id) and (since is None or r.at >= since)
        ]


def busiest_minute(calls: Iterable[Mapping[str, Any]], *, include_refused: bool = False) -> int:
    """The most calls in any sliding 60 s of a call log (`CallRecord.as_json` rows): the calls
    Withings accepted, or every call made when `include_refused`."""
    instants = sorted(
        float(call["at"])
        for call in calls
        if include_refused or call["status"] != TOO_MANY_REQUESTS
    )
    busiest = 0
    first = 0
    for last, at in enumerate(instants):
        while instants[first] <= at - WINDOW_S:
            first += 1
        busiest = max(busiest, last - first + 1)
    return busiest
