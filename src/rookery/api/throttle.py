"""Repeated failures to prove a secret are slowed down: past a limit, a source is refused a while.

Every place that checks a presented secret (client Basic auth, the dashboard sign-in, the
Withings notification token, the admin token of `/metrics`) asks `refusal` before checking and
calls `record_failure` after a wrong secret. Failures are counted per source (the peer's IP) and,
where the caller names one, per credential (the client uuid tried, or the operator); once either
count reaches its limit within the window, that key is refused with 429 and `Retry-After` for
the lockout, without the secret being looked at. A success resets nothing, so one caller's
success cannot clear an attacker's count.

The counts live in the process's memory: a refused guess then costs no database write (a flood
cannot become write load on SQLite's single writer), and with several server processes each
keeps its own count, which multiplies the ceiling by the number of processes but still holds
guesses at a 256-bit secret to a few hundred an hour.
"""

from __future__ import annotations

import math
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from rookery.errors import RateLimitedError


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `max_failures` within `window_s`; reaching it refuses the key for `lockout_s`."""

    max_failures: int
    window_s: float
    lockout_s: float


# A person mistyping a few times stays well below; a script guessing is stopped at once.
SOURCE_LIMIT: Final = Limit(max_failures=10, window_s=300.0, lockout_s=900.0)
# Higher than a source's: locking a credential out also locks out its owner, so it takes failures
# from several sources to do it.
CREDENTIAL_LIMIT: Final = Limit(max_failures=30, window_s=300.0, lockout_s=900.0)
# Beyond this many keys the oldest are forgotten, so that guesses with ever new client uuids or
# addresses cannot grow the process without bound.
MAX_TRACKED_KEYS: Final = 10_000
TOO_MANY_FAILURES_MESSAGE: Final = "Too many failed attempts; try again later"
# The credential name of the operator's admin token (a client's is its uuid).
OPERATOR_CREDENTIAL: Final = "operator"


@dataclass(slots=True)
class _Record:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0


class FailureThrottle:
    """Counts failed attempts per source and per credential, and refuses locked-out ones."""

    def __init__(
        self,
        *,
        source_limit: Limit = SOURCE_LIMIT,
        credential_limit: Limit = CREDENTIAL_LIMIT,
        max_tracked_keys: int = MAX_TRACKED_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = {"source": source_limit, "credential": credential_limit}
        self._max_tracked_keys = max_tracked_keys
        self._clock = clock
        self._records: dict[tuple[str, str], _Record] = {}

    def refusal(self, source: str, credential: str | None = None) -> RateLimitedError | None:
        """The error to answer with while the source or the credential is locked out, else None."""
        now = self._clock()
        locked_until = max(
            (record.locked_until for record in self._records_of(source, credential)),
            default=0.0,
        )
        if locked_until <= now:
            return None
        return RateLimitedError(
            TOO_MANY_FAILURES_MESSAGE, retry_after_s=math.ceil(locked_until - now)
        )

    def record_failure(self, source: str, credential: str | None = None) -> None:
        """Count one failed attempt; a key that reaches its limit is locked out."""
        now = self._clock()
        for kind, name in _keys(source, credential):
            limit = self._limits[kind]
            record = self._records.get((kind, name))
            if record is None:
                self._forget_oldest()
                record = self._records[(kind, name)] = _Record()
            while record.failures and record.failures[0] <= now - limit.window_s:
                record.failures.popleft()
            record.failures.append(now)
            if len(record.failures) >= limit.max_failures:
                record.locked_until = now + limit.lockout_s
                record.failures.clear()

    def _records_of(self, source: str, credential: str | None) -> list[_Record]:
        return [
            record
            for key in _keys(source, credential)
            if (record := self._records.get(key)) is not None
        ]

    def _forget_oldest(self) -> None:
        while len(self._records) >= self._max_tracked_keys:
            del self._records[next(iter(self._records))]


def _keys(source: str, credential: str | None) -> list[tuple[str, str]]:
    keys = [("source", source)]
    if credential is not None:
        keys.append(("credential", credential))
    return keys


def client_credential(client_uuid: str) -> str | None:
    """The credential key of a presented client uuid; None when it is not a uuid at all (no
    client can be locked out through it, and junk names cannot crowd out real ones)."""
    try:
        return str(uuid.UUID(client_uuid.strip()))
    except ValueError:
        return None
