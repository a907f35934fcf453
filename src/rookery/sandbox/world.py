"""What the server needs from the data behind it: `synth.Population` is the real one.

Tests plug in small hand-made worlds with the same shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from rookery.sandbox.notices import RecordKind
from rookery.sandbox.records import Account, Change, Record, SandboxUser


class SandboxWorld(Protocol):
    """The data a sandbox serves and edits."""

    @property
    def accounts(self) -> Sequence[Account]:
        """Every synthetic account, in a stable order (cheap: no data is generated for it)."""
        ...

    def user(self, userid: int, /) -> SandboxUser:
        """The user with its data up to now (generated on first use), or a `LookupError`."""
        ...

    def sleep_segments(self, user: SandboxUser, startdate: int, enddate: int, /) -> list[Record]:
        """Sleep-state segments (with every per-minute series) overlapping [startdate, enddate)."""
        ...

    def intraday(self, user: SandboxUser, startdate: int, enddate: int, /) -> dict[str, Record]:
        """Intraday samples keyed by epoch-second strings, within [startdate, enddate)."""
        ...

    def ecg_signal(self, user: SandboxUser, signalid: int, /) -> Record:
        """The heart `get` body of one of the user's ECGs, or a `LookupError`."""
        ...

    def advance(self, until_utc: datetime, /) -> list[Change]:
        """Live mode: record what arrived up to `until_utc` and say what changed."""
        ...

    def add_record(
        self, userid: int, kind: RecordKind, record: Record, /, *, at_utc: datetime | None = None
    ) -> Change:
        """Store a record as arrived at `at_utc`; the notification it causes."""
        ...

    def update_record(
        self,
        userid: int,
        kind: RecordKind,
        key: int | str,
        changes: Mapping[str, Any],
        /,
        *,
        at_utc: datetime | None = None,
    ) -> Change:
        """Change fields of one record; the notification it causes."""
        ...

    def remove_record(self, userid: int, kind: RecordKind, key: int | str, /) -> Change:
        """Delete one record; the notification it causes."""
        ...
