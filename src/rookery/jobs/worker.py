"""The worker: claims due jobs with leases and runs their handlers, several at a time.

Any number of workers (threads of one process, processes, machines on one PostgreSQL) share the
queue; a job is leased to one worker at a time. A worker renews its leases while their handlers
run; when it dies its leases expire and `recover_expired` (run by every worker) puts the jobs
back, so nothing is lost. Idle workers wake as soon as a job is committed (LISTEN/NOTIFY on
PostgreSQL, an in-process event on SQLite) and otherwise poll every `poll_s` seconds.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from datetime import datetime
from typing import TYPE_CHECKING, Final

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from rookery.jobs import queue
from rookery.jobs.handlers import all_handlers
from rookery.jobs.metrics import JobMetrics, Outcome
from rookery.jobs.registry import JobContext, Park, Registry, Retry
from rookery.jobs.scheduler import Scheduler
from rookery.jobs.shield import to_completion
from rookery.jobs.wakeup import JOBS, listening
from rookery.store.enums import JobStatus
from rookery.store.tables import Job, utc_now

if TYPE_CHECKING:
    from rookery.app import Resources

logger = structlog.get_logger(__name__)

# A fetch mostly waits on Withings: a notification burst needs more slots than cores.
DEFAULT_CONCURRENCY: Final = 16
DEFAULT_LEASE_S: Final = 60.0
DEFAULT_POLL_S: Final = 5.0
# Shortest pause between two looks at the queue, so that a due job another worker is busy
# claiming does not make this one spin.
_MIN_PAUSE_S: Final = 0.05


def worker_id() -> str:
    """A name for this worker, unique in the deployment: host, process, random suffix."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


class Worker:
    """Runs the jobs of the kinds `registry` has handlers for, `concurrency` at a time."""

    def __init__(
        self,
        resources: Resources,
        registry: Registry,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        lease_s: float = DEFAULT_LEASE_S,
        poll_s: float = DEFAULT_POLL_S,
        owner: str | None = None,
        metrics: JobMetrics | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        if lease_s <= 0 or poll_s <= 0:
            raise ValueError("lease_s and poll_s must be positive")
        self.resources = resources
        self.registry = registry
        self.concurrency = concurrency
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.owner = owner or worker_id()
        self.metrics = metrics or resources.metrics.jobs
        self.kinds = tuple(registry.handlers)
        self._running: dict[int, asyncio.Task[None]] = {}
        # Jobs whose handler is still running (cancelling one of them is safe).
        self._in_handler: set[int] = set()
        self._lost: set[int] = set()
        # Jobs that ended done: their end frees a slot but puts nothing new in the queue.
        self._done: set[int] = set()
        # Whether the last look at the queue left due jobs unclaimed for want of a slot.
        self._full = False
        self._wake = asyncio.Event()
        self._last_recovery = float("-inf")

    async def run(self) -> None:
        """Work until cancelled; then cancel the running handlers and give their jobs back."""
        engine = self.resources.engine
        helpers = [asyncio.create_task(self._renew_leases(), name="rookery-job-leases")]
        async with listening(engine, JOBS, self._wake.set, retry_s=self.poll_s):
            logger.info(
                "worker.started", owner=self.owner, kinds=list(self.kinds), slots=self.concurrency
            )
            try:
                await self._loop()
            finally:
                for helper in helpers:
                    helper.cancel()
                await self._stop_handlers()
                await asyncio.gather(*helpers, return_exceptions=True)
                logger.info("worker.stopped", owner=self.owner)

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                pause_s = await self._poll()
            except Exception:  # the database is unreachable or restarting: try again later
                logger.exception("worker.poll_failed", owner=self.owner)
                pause_s = self.poll_s
            if pause_s > 0:
                with suppress(TimeoutError):
                    async with asyncio.timeout(pause_s):
                        await self._wake.wait()

    async def _poll(self) -> float:
        """Recover, claim, start; returns how long to wait before looking again."""
        if time.monotonic() - self._last_recovery >= self.poll_s:
            recovered = await to_completion(self._recover())
            self._last_recovery = time.monotonic()
            if recovered:
                logger.warning("worker.recovered_expired_leases", jobs=recovered)
        free = self.concurrency - len(self._running)
        if free <= 0:
            self._full = True
            return self.poll_s  # a finishing job wakes the loop
        now = utc_now()
        # Claimed jobs are started in the same uncancellable step, so none is claimed and then
        # forgotten: once started, stopping the worker gives them back.
        claimed, due = await to_completion(self._claim_and_start(free))
        self._full = claimed == free
        if self._full:
            return 0.0
        if due is None:
            return self.poll_s
        return min(self.poll_s, max((due - now).total_seconds(), _MIN_PAUSE_S))

    async def _recover(self) -> int:
        async with self.resources.sessions.begin() as session:
            return await queue.recover_expired(session)

    async def _claim_and_start(self, free: int) -> tuple[int, datetime | None]:
        """Claim and start up to `free` jobs; when fewer were due, also when the next is (one
        transaction: on SQLite every transaction takes the write lock)."""
        due: datetime | None = None
        async with self.resources.sessions.begin() as session:
            jobs = await queue.claim(
                session, owner=self.owner, kinds=self.kinds, limit=free, lease_s=self.lease_s
            )
            if len(jobs) < free:
                due = await queue.next_run_at(session, kinds=self.kinds)
        for job in jobs:
            self._start(job)
        return len(jobs), due

    def _start(self, job: Job) -> None:
        self.metrics.record(job.kind, Outcome.CLAIMED)
        self.metrics.record_lag(job.kind, (utc_now() - job.run_at).total_seconds())
        task = asyncio.create_task(self._execute(job), name=f"rookery-job-{job.id}")
        self._running[job.id] = task

        def finished(_: asyncio.Task[None]) -> None:
            self._running.pop(job.id, None)
            self._lost.discard(job.id)
            # Look again when jobs were waiting for this slot, or when the job went back to
            # the queue (deferred, failed, released) and may be due before the next look.
            if self._full or job.id not in self._done:
                self._wake.set()
            self._done.discard(job.id)

        task.add_done_callback(finished)

    async def _execute(self, job: Job) -> None:
        spec = self.registry.handlers[job.kind]
        context = JobContext(self.resources, job_id=job.id, owner=self.owner)
        with structlog.contextvars.bound_contextvars(job_id=job.id, job_kind=job.kind):
            started = time.monotonic()
            self._in_handler.add(job.id)
            try:
                try:
                    async with asyncio.timeout(spec.timeout_s) as deadline:
                        await spec.handler(context, job)
                finally:
                    self._in_handler.discard(job.id)
            except asyncio.CancelledError:
                if job.id in self._lost:
                    self.metrics.record(job.kind, Outcome.LOST)
                else:
                    await self._settle(
                        job,
                        Outcome.RELEASED,
                        lambda s: queue.release(s, job.id, owner=self.owner),
                    )
                raise
            except Retry as retry:
                after_s, reason = retry.after_s, retry.reason
                logger.info("job.deferred", after_s=after_s, reason=reason)
                await self._settle(
                    job,
                    Outcome.DEFERRED,
                    lambda s: queue.defer(
                        s, job.id, owner=self.owner, after_s=after_s, reason=reason
                    ),
                )
            except Park as parked:
                park_reason = parked.reason
                logger.warning("job.parked", reason=park_reason)
                await self._settle(
                    job,
                    Outcome.PARKED,
                    lambda s: queue.park(s, job.id, owner=self.owner, reason=park_reason),
                )
            except Exception as error:
                timed_out = isinstance(error, TimeoutError) and deadline.expired()
                described = (
                    f"TimeoutError: the handler ran longer than {spec.timeout_s:g} s"
                    if timed_out
                    else queue.describe_error(error)
                )
                await self._fail(job, described, spec.backoff.delay_s(job.attempts + 1))
            else:
                duration_s = round(time.monotonic() - started, 3)
                if context.completed:
                    self.metrics.record(job.kind, Outcome.DONE)
                else:
                    await self._settle(
                        job, Outcome.DONE, lambda s: queue.complete(s, job.id, owner=self.owner)
                    )
                self._done.add(job.id)
                logger.info("job.done", duration_s=duration_s)

    async def _fail(self, job: Job, error: str, retry_after_s: float) -> None:
        try:
            async with self.resources.sessions.begin() as session:
                status = await queue.fail(
                    session, job, owner=self.owner, error=error, retry_after_s=retry_after_s
                )
        except Exception:
            logger.exception("job.settle_failed")
            return
        if status is None:
            self.metrics.record(job.kind, Outcome.LOST)
        elif status is JobStatus.PARKED:
            self.metrics.record(job.kind, Outcome.PARKED)
            logger.warning("job.parked", attempts=job.attempts + 1, error=error)
        else:
            self.metrics.record(job.kind, Outcome.RETRIED)
            logger.warning(
                "job.failed", attempts=job.attempts + 1, retry_after_s=retry_after_s, error=error
            )

    async def _settle(
        self,
        job: Job,
        outcome: Outcome,
        write: Callable[[AsyncSession], Awaitable[bool]],
    ) -> None:
        # A failure here leaves the lease to expire: the job is recovered, not lost.
        try:
            async with self.resources.sessions.begin() as session:
                applied = await write(session)
        except Exception:
            logger.exception("job.settle_failed")
            return
        self.metrics.record(job.kind, outcome if applied else Outcome.LOST)
        if not applied:
            logger.warning("job.lease_lost", owner=self.owner)

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            running = set(self._in_handler)
            if not running:
                continue
            try:
                held = await to_completion(self._renew(running))
            except Exception:
                logger.exception("worker.renew_failed", owner=self.owner)
                continue
            # Still in its handler but no longer ours: another worker may run it now.
            for job_id in running - held:
                task = self._running.get(job_id)
                if task is not None and job_id in self._in_handler:
                    logger.warning("job.lease_lost", job_id=job_id, owner=self.owner)
                    self._lost.add(job_id)
                    task.cancel()

    async def _renew(self, job_ids: set[int]) -> set[int]:
        async with self.resources.sessions.begin() as session:
            return await queue.renew(session, job_ids, owner=self.owner, lease_s=self.lease_s)

    async def _stop_handlers(self) -> None:
        for job_id in list(self._in_handler):
            task = self._running.get(job_id)
            if task is not None:
                task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)


async def run_jobs(
    resources: Resources,
    *,
    registry: Registry | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    owner: str | None = None,
    metrics: JobMetrics | None = None,
) -> None:
    """Run a worker and the scheduler for `registry` (default: every Rookery handler and
    periodic task) until cancelled; the worker counts into `metrics` when given."""
    if registry is None:
        registry = all_handlers()
    owner = owner or worker_id()
    worker = Worker(resources, registry, concurrency=concurrency, owner=owner, metrics=metrics)
    scheduler = Scheduler(resources.sessions, registry.periodic.values(), owner=owner)
    async with asyncio.TaskGroup() as group:
        group.create_task(worker.run(), name="rookery-worker")
        group.create_task(scheduler.run(), name="rookery-scheduler")


@asynccontextmanager
async def jobs_running(
    resources: Resources,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    metrics: JobMetrics | None = None,
) -> AsyncIterator[None]:
    """Run the worker and the scheduler in this process while the block runs (`rookery
    serve`'s default); on exit they stop and give their unfinished jobs back."""
    task = asyncio.create_task(
        run_jobs(resources, concurrency=concurrency, metrics=metrics), name="rookery-jobs"
    )

    def crashed(done: asyncio.Task[None]) -> None:
        if not done.cancelled() and done.exception() is not None:
            logger.error("jobs.crashed", error=repr(done.exception()))

    task.add_done_callback(crashed)
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
