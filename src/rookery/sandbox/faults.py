"""Injected faults: what goes wrong for the next N calls, or for a fraction of them.

Call faults replace an API call's answer (5xx, 601 storms, hangs, malformed or truncated bodies,
revoked tokens); the notification fault duplicates deliveries. Lost subscriptions and notifications
with no data behind them are one-shot actions run by the control endpoint.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final


class FaultKind(StrEnum):
    """Every fault the sandbox can inject."""

    HTTP_5XX = "http_5xx"
    RATE_LIMIT = "rate_limit"
    TIMEOUT = "timeout"
    MALFORMED_JSON = "malformed_json"
    TRUNCATED = "truncated"
    REVOKED_TOKEN = "revoked_token"  # noqa: S105 - a fault name, not a secret
    DUPLICATE_NOTIFICATION = "duplicate_notification"
    LOST_SUBSCRIPTION = "lost_subscription"
    PHANTOM_NOTIFICATION = "phantom_notification"


CALL_FAULTS: Final = frozenset(
    {
        FaultKind.HTTP_5XX,
        FaultKind.RATE_LIMIT,
        FaultKind.TIMEOUT,
        FaultKind.MALFORMED_JSON,
        FaultKind.TRUNCATED,
        FaultKind.REVOKED_TOKEN,
    }
)
ONE_SHOT_FAULTS: Final = frozenset({FaultKind.LOST_SUBSCRIPTION, FaultKind.PHANTOM_NOTIFICATION})


@dataclass(slots=True)
class Fault:
    """An armed fault. Exactly one of `remaining` (next N) and `fraction` (each with p) is set."""

    id: int
    kind: FaultKind
    remaining: int | None = None
    fraction: float | None = None
    path: str | None = None
    http_status: int = 503
    hang_s: float = 30.0
    wait_seconds: int = 60

    def as_json(self) -> dict[str, Any]:
        """The control endpoint's view."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "remaining": self.remaining,
            "fraction": self.fraction,
            "path": self.path,
            "http_status": self.http_status,
            "hang_s": self.hang_s,
            "wait_seconds": self.wait_seconds,
        }


class FaultPlan:
    """The armed faults, drawn in the order they were armed."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)  # noqa: S311 - reproducible draws, not security
        self._ids = itertools.count(1)
        self._faults: list[Fault] = []

    @property
    def active(self) -> list[Fault]:
        """The faults still armed."""
        return list(self._faults)

    def arm(
        self,
        kind: FaultKind,
        *,
        count: int | None = None,
        fraction: float | None = None,
        path: str | None = None,
        http_status: int = 503,
        hang_s: float = 30.0,
        wait_seconds: int = 60,
    ) -> Fault:
        """Arm a repeating fault for the next `count` calls or for a `fraction` of calls."""
        if kind in ONE_SHOT_FAULTS:
            raise ValueError(f"{kind.value} is a one-shot action, not an armed fault")
        if (count is None) == (fraction is None):
            raise ValueError("give exactly one of count and fraction")
        if count is not None and count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        if fraction is not None and not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        if not 500 <= http_status <= 599:
            raise ValueError(f"http_status must be a 5xx, got {http_status}")
        if hang_s <= 0 or wait_seconds < 1:
            raise ValueError("hang_s must be > 0 and wait_seconds >= 1")
        fault = Fault(
            next(self._ids), kind, count, fraction, path, http_status, hang_s, wait_seconds
        )
        self._faults.append(fault)
        return fault

    def reset(self) -> None:
        """Disarm everything."""
        self._faults.clear()

    def draw_call(self, path: str) -> Fault | None:
        """The call fault that hits an API call on `path`, if any (spending one of its count)."""
        return self._draw(lambda f: f.kind in CALL_FAULTS and f.path in (None, path))

    def draw_duplicate(self) -> bool:
        """Whether the next notification delivery is sent twice."""
        return self._draw(lambda f: f.kind is FaultKind.DUPLICATE_NOTIFICATION) is not None

    def _draw(self, matches: Callable[[Fault], bool]) -> Fault | None:
        if not self._faults:
            return None
        for fault in self._faults:
            if not matches(fault):
                continue
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
            if fault.fraction is not None and self._rng.random() < fault.fraction:
                return fault
        return None
