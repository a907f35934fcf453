"""What the worker runs: handlers per job kind and periodic tasks, with what a handler gets.

A package that owns job kinds exposes `register_jobs(registry: Registry) -> None`, and
`rookery.jobs.handlers.all_handlers()` calls it; nothing registers itself at import time.

A handler is `async def handle(ctx: JobContext, job: Job) -> None`. It returns normally when the
work is done, raises `Retry(after_s, reason)` to run again later (a deferral, not a failure),
`Park(reason)` to stop for good (the job is kept with the reason), and any other exception to be
retried with backoff. Jobs run at least once: a handler must be idempotent, or make its database
effects exactly-once with `ctx.complete_in(session)`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

import httpx2
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from rookery.config import Settings
from rookery.jobs.queue import complete
from rookery.jobs.retry import DEFAULT_BACKOFF, Backoff
from rookery.store.crypto import TokenCipher
from rookery.store.tables import Job

if TYPE_CHECKING:
    from rookery.app import Resources

# A handler that runs longer than this is cancelled and counts as failed.
DEFAULT_TIMEOUT_S: Final = 15 * 60.0


class Retry(Exception):  # noqa: N818 - a verb, as the handler's instruction reads
    """Raised by a handler: run this job again in `after_s` seconds; not a failure."""

    def __init__(self, after_s: float, reason: str) -> None:
        super().__init__(reason)
        if after_s < 0:
            raise ValueError(f"Retry after_s must be >= 0, got {after_s}")
        self.after_s = after_s
        self.reason = reason


class Park(Exception):  # noqa: N818 - a verb, as the handler's instruction reads
    """Raised by a handler: stop retrying; the job is parked with `reason`, visible."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LeaseLost(Exception):  # noqa: N818 - names the state, like TimeoutError's cousins
    """This worker no longer holds the job (its lease expired and another worker may run it)."""


class JobContext:
    """What a running job may use: the process's resources, and its own lease."""

    __slots__ = ("_completed", "job_id", "owner", "resources")

    def __init__(self, resources: Resources, *, job_id: int, owner: str) -> None:
        self.resources = resources
        self.job_id = job_id
        self.owner = owner
        self._completed = False

    @property
    def settings(self) -> Settings:
        """The deployment's settings."""
        return self.resources.settings

    @property
    def engine(self) -> AsyncEngine:
        """The database engine (for `rookery.jobs.ratelimit.acquire`)."""
        return self.resources.engine

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        """Sessions on the database; a handler opens its own transactions."""
        return self.resources.sessions

    @property
    def http(self) -> httpx2.AsyncClient:
        """The process's shared HTTP client."""
        return self.resources.http

    @property
    def cipher(self) -> TokenCipher:
        """The cipher for stored secrets."""
        return self.resources.cipher

    @property
    def completed(self) -> bool:
        """Whether the handler already marked the job done with `complete_in`."""
        return self._completed

    async def complete_in(self, session: AsyncSession) -> None:
        """Mark the job done in `session`'s transaction, so that the handler's database
        effects and the job's completion commit together (exactly once).

        Raises `LeaseLost` (and the caller's transaction must roll back) when this worker no
        longer holds the job.
        """
        if not await complete(session, self.job_id, owner=self.owner):
            raise LeaseLost(f"job {self.job_id} is no longer leased by {self.owner}")
        self._completed = True


Handler = Callable[[JobContext, Job], Awaitable[None]]
# Runs in the transaction that claims the period: enqueue the period's work there.
PeriodicRun = Callable[[AsyncSession, datetime], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    """A kind's handler and how its failures are retried."""

    handler: Handler
    backoff: Backoff = DEFAULT_BACKOFF
    timeout_s: float = DEFAULT_TIMEOUT_S


@dataclass(frozen=True, slots=True)
class PeriodicTask:
    """Work run once per `interval` for the whole deployment, however many schedulers run.

    Periods are aligned on the Unix epoch (an hourly task runs at each full hour). `run` gets
    the claiming transaction and the instant: it should enqueue jobs (with a dedupe key) rather
    than do long work, so that the claim and the work it starts commit together.
    """

    name: str
    interval: timedelta
    run: PeriodicRun


@dataclass(slots=True)
class Registry:
    """Handlers by job kind, and periodic tasks by name."""

    handlers: dict[str, HandlerSpec] = field(default_factory=dict)
    periodic: dict[str, PeriodicTask] = field(default_factory=dict)

    def register(
        self,
        kind: str,
        handler: Handler,
        *,
        backoff: Backoff = DEFAULT_BACKOFF,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        """Run `handler` for jobs of `kind` (a `JobKind`); a kind has one handler."""
        if kind in self.handlers:
            raise ValueError(f"job kind {kind!r} already has a handler")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self.handlers[kind] = HandlerSpec(handler, backoff, timeout_s)

    def every(self, name: str, interval: timedelta, run: PeriodicRun) -> None:
        """Run `run` once per `interval` for the whole deployment (see `PeriodicTask`)."""
        if name in self.periodic:
            raise ValueError(f"periodic task {name!r} is already registered")
        if interval <= timedelta(0):
            raise ValueError(f"interval must be positive, got {interval}")
        self.periodic[name] = PeriodicTask(name, interval, run)
