"""The sandbox clock: real time times a speed factor, plus manual jumps.

Token and code expiry, nonce lifetimes, rate-limit windows, notification retries and live data all
read this one clock, so a test can compress hours into milliseconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime


class SandboxClock:
    """Sandbox time in epoch seconds: `start + speed × real elapsed + manual advances`."""

    def __init__(
        self,
        *,
        speed: float = 1.0,
        start_at_epoch: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed < 0:
            raise ValueError(f"clock speed must be >= 0, got {speed}")
        self._monotonic = monotonic
        self._base_epoch = time.time() if start_at_epoch is None else start_at_epoch
        self._base_real = monotonic()
        self._speed = speed
        self._listeners: list[Callable[[], None]] = []

    @property
    def speed(self) -> float:
        """Sandbox seconds per real second."""
        return self._speed

    def now(self) -> float:
        """The current sandbox time, epoch seconds."""
        return self._base_epoch + (self._monotonic() - self._base_real) * self._speed

    def now_utc(self) -> datetime:
        """The current sandbox time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.now(), UTC)

    def advance(self, seconds: float) -> float:
        """Jump forward by `seconds` (never backwards) and return the new time."""
        if seconds < 0:
            raise ValueError(f"the clock only moves forward, got {seconds} s")
        self._rebase()
        self._base_epoch += seconds
        self._notify()
        return self.now()

    def set_speed(self, speed: float) -> None:
        """Change the speed from now on; time so far is kept."""
        if speed < 0:
            raise ValueError(f"clock speed must be >= 0, got {speed}")
        self._rebase()
        self._speed = speed
        self._notify()

    def real_seconds_until(self, at_epoch: float) -> float | None:
        """Real seconds until the clock reaches `at_epoch`; None if it never will by itself."""
        remaining = at_epoch - self.now()
        if remaining <= 0:
            return 0.0
        if self._speed == 0:
            return None
        return remaining / self._speed

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call `listener` after every jump or speed change."""
        self._listeners.append(listener)

    def _rebase(self) -> None:
        now_real = self._monotonic()
        self._base_epoch += (now_real - self._base_real) * self._speed
        self._base_real = now_real

    def _notify(self) -> None:
        for listener in self._listeners:
            listener()
