"""Retry schedule of failed jobs: exponential backoff with jitter, then parking.

A handler that raises an unexpected exception is retried after `Backoff.delay_s(failures)`; after
`max_attempts` failures the job is parked with its error. A deliberate `Retry(after_s)` (a 601,
a resource not ready yet) is a deferral, not a failure, and does not count.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Final

DEFAULT_MAX_ATTEMPTS: Final = 10
# 5 s, 10 s, 20 s, ... capped at an hour: ten failures span about 45 minutes.
DEFAULT_BACKOFF_BASE_S: Final = 5.0
DEFAULT_BACKOFF_MAX_S: Final = 3600.0

_random = secrets.SystemRandom()


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff: `base_s` after the first failure, doubling, at most `max_s`."""

    base_s: float = DEFAULT_BACKOFF_BASE_S
    max_s: float = DEFAULT_BACKOFF_MAX_S

    def __post_init__(self) -> None:
        if not 0 < self.base_s <= self.max_s:
            raise ValueError(f"backoff needs 0 < base_s <= max_s, got {self.base_s}, {self.max_s}")

    def delay_s(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failure (1-based): half the exponential
        delay plus a random share of the other half, so that jobs failing together spread out."""
        exponent = min(max(failures, 1) - 1, 62)
        full_s = min(self.max_s, self.base_s * 2.0**exponent)
        return full_s / 2 + _random.uniform(0, full_s / 2)


DEFAULT_BACKOFF: Final = Backoff()
