"""The sandbox's state file (`rookery sandbox --state PATH`): what a restart must not forget.

Saved: the OAuth grants (access and refresh tokens with their expiries and rotation state), the
subscriptions, the control endpoints' record edits (a journal, replayed in order), the clock and
how far live mode had got. Not saved, because it is regenerated or short-lived: the synthetic
data (deterministic from the seed and the population's generation time, which is saved), codes
(30 s), nonces (30 min), the rate limiter, the call log, the delivery log and armed faults.

The journal, not the records, is saved: a user's records are megabytes, its edits a few lines.
Replaying an edit after advancing the world to the edit's time gives the same records as the
first run, because the server brings the world up to the edit's time before applying it.

The file is JSON with a `version` key and the options that decide the data (seed, users,
history days, client id): a file from another format or another population is refused with one
line, never half-loaded. Writes are atomic (a temporary file in the same folder, fsynced, then
renamed over the old one), so a crash leaves the previous file or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

from rookery.sandbox.notices import RecordKind
from rookery.sandbox.records import Change, Record
from rookery.sandbox.world import SandboxWorld

STATE_VERSION: Final = 1

EditOp = Literal["add", "update", "delete"]


class StateError(Exception):
    """The state file cannot be used; the message is one line saying why and what to do."""


class ForeignStateError(StateError):
    """The state file belongs to a sandbox with other options (`saved`)."""

    def __init__(self, message: str, saved: Identity) -> None:
        super().__init__(message)
        self.saved = saved


@dataclass(frozen=True, slots=True)
class Identity:
    """The options that decide a sandbox's users and data, and the app its tokens belong to."""

    seed: int
    users: int
    history_days: int
    client_id: str

    def options(self) -> str:
        """The command-line options that give these users and data."""
        return f"--users {self.users} --seed {self.seed} --history-days {self.history_days}"


@dataclass(frozen=True, slots=True)
class Edit:
    """A record change made through a control endpoint, at sandbox time `at` (epoch seconds).

    `body` is the record as given (add) or the changes (update); ids the sandbox assigned are
    not in it, so replaying the journal in order assigns the same ones again."""

    op: EditOp
    userid: int
    kind: RecordKind
    at: float
    key: int | str | None = None
    body: Record = field(default_factory=dict)

    @property
    def at_utc(self) -> datetime:
        """`at` as an aware UTC datetime."""
        return datetime.fromtimestamp(self.at, UTC)

    def apply(self, world: SandboxWorld) -> Change:
        """Make the change in `world`; the notification it causes."""
        if self.op == "add":
            return world.add_record(self.userid, self.kind, self.body, at_utc=self.at_utc)
        if self.key is None:
            raise ValueError(f"an {self.op} edit needs a key")
        if self.op == "update":
            return world.update_record(
                self.userid, self.kind, self.key, self.body, at_utc=self.at_utc
            )
        return world.remove_record(self.userid, self.kind, self.key)

    def as_json(self) -> dict[str, Any]:
        """The journal entry."""
        return {
            "op": self.op,
            "userid": self.userid,
            "kind": self.kind.value,
            "at": self.at,
            "key": self.key,
            "body": self.body,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Edit:
        """A journal entry read back; `ValueError`/`KeyError`/`TypeError` when malformed."""
        op = raw["op"]
        if op not in ("add", "update", "delete"):
            raise ValueError(f"unknown edit {op!r}")
        key = raw["key"]
        if key is not None and not isinstance(key, int | str):
            raise TypeError(f"edit key {key!r}")
        body = raw["body"]
        if not isinstance(body, dict):
            raise TypeError("edit body is not an object")
        return cls(op, int(raw["userid"]), RecordKind(raw["kind"]), float(raw["at"]), key, body)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A saved state, checked and parsed; the stores read their own parts from `grants` and
    `subscriptions` (see `AuthStore.restore`, `SubscriptionStore.restore`)."""

    generated_at: int
    clock_now: float
    world_at: float
    grants: Mapping[str, Any]
    subscriptions: list[Mapping[str, Any]]
    edits: list[Edit]

    @property
    def world_at_utc(self) -> datetime:
        """How far live mode had got, as an aware UTC datetime."""
        return datetime.fromtimestamp(self.world_at, UTC)


@dataclass(frozen=True, slots=True)
class Resume:
    """Where a sandbox starts: its population's generation time, the clock's start, and the
    saved state to restore (None on a first run).

    The clock resumes at the later of the saved sandbox time and now: never backwards (every
    saved expiry and record stays in the past it was in), and at speed 1 it keeps up with real
    time, as Withings does while a client is away (signed calls are checked against it)."""

    generated_at: int
    clock_at: float
    snapshot: Snapshot | None = None


class StateFile:
    """One state file: read at start, written atomically after each change that matters."""

    def __init__(self, path: Path, identity: Identity) -> None:
        self.path = path
        self.identity = identity

    def resume(self, now: float) -> Resume:
        """How to start at real time `now`: from the file when it exists, else afresh.

        `StateError` (one line) when the file is unreadable, of another format version, or
        from a sandbox with other options."""
        if not self.path.exists():
            return Resume(int(now), now)
        snapshot = self._read()
        return Resume(snapshot.generated_at, max(snapshot.clock_now, now), snapshot)

    def write(self, state: Mapping[str, Any]) -> None:
        """Replace the file with `state` (plus the version and identity), atomically;
        `StateError` when it cannot be written."""
        document = {"version": STATE_VERSION, "identity": asdict(self.identity), **state}
        data = json.dumps(document, separators=(",", ":")).encode()
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(
                prefix=f".{self.path.name}.", suffix=".tmp", dir=directory
            )
        except OSError as error:
            raise StateError(f"cannot write {self.path}: {error.strerror}") from None
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    def _read(self) -> Snapshot:
        path = self.path
        try:
            document = json.loads(path.read_bytes())
        except OSError as error:
            raise StateError(f"cannot read {path}: {error.strerror}") from None
        except ValueError:
            raise StateError(
                f"{path} is not a sandbox state file (not JSON); delete it to start afresh"
            ) from None
        if not isinstance(document, dict) or "version" not in document:
            raise StateError(
                f"{path} is not a sandbox state file (no version); delete it to start afresh"
            )
        if document["version"] != STATE_VERSION:
            raise StateError(
                f"{path} is in state format version {document['version']!r}, this sandbox "
                f"reads version {STATE_VERSION}; delete it to start afresh"
            )
        try:
            saved = Identity(**document["identity"])
            snapshot = Snapshot(
                generated_at=int(document["generated_at"]),
                clock_now=float(document["clock_now"]),
                world_at=float(document["world_at"]),
                grants=dict(document["grants"]),
                subscriptions=[dict(row) for row in document["subscriptions"]],
                edits=[Edit.from_json(row) for row in document["edits"]],
            )
        except (KeyError, TypeError, ValueError) as error:
            raise StateError(
                f"{path} is not a sandbox state file ({type(error).__name__}: {error}); "
                "delete it to start afresh"
            ) from None
        self._check_identity(saved)
        return snapshot

    def _check_identity(self, saved: Identity) -> None:
        mine = self.identity
        if saved == mine:
            return
        if saved.client_id != mine.client_id:
            message = (
                f"{self.path} holds the tokens of client_id {saved.client_id!r}, not "
                f"{mine.client_id!r}; use another --state file"
            )
        else:
            message = (
                f"{self.path} was saved by a sandbox started with {saved.options()}, not "
                f"{mine.options()}; start with those options or use another --state file"
            )
        raise ForeignStateError(message, saved)
