"""The worker on both engines: outcomes, retries, wake-up latency, leases, shutdown, sharing."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter

import pytest
from sqlalchemy import select

from rookery.app import Resources, open_resources
from rookery.config import Settings
from rookery.jobs import Job, JobContext, LeaseLost, Park, Registry, Retry, enqueue
from rookery.jobs.metrics import Outcome
from rookery.jobs.retry import Backoff
from rookery.jobs.worker import Worker
from rookery.store.enums import JobStatus
from rookery.store.tables import AuditEvent
from tests.jobs.conftest import count_rows, eventually, load_job, running

pytestmark = pytest.mark.anyio

FAST = Backoff(base_s=0.05, max_s=0.1)


async def _enqueue(resources: Resources, kind: str, **options: object) -> int:
    async with resources.sessions.begin() as session:
        return await enqueue(session, kind, {}, **options)  # type: ignore[arg-type]


async def _status_is(resources: Resources, job_id: int, status: JobStatus) -> bool:
    return (await load_job(resources.sessions, job_id)).status is status


async def test_a_committed_job_starts_within_milliseconds_not_at_the_next_poll(
    resources: Resources,
) -> None:
    started = asyncio.Event()

    async def handle(ctx: JobContext, job: Job) -> None:
        started.set()

    registry = Registry()
    registry.register("test.ping", handle)
    worker = Worker(resources, registry, poll_s=30)
    async with running(worker):
        await asyncio.sleep(0.3)  # idle: the worker has looked and now waits for a wake-up
        begin = time.monotonic()
        job_id = await _enqueue(resources, "test.ping")
        async with asyncio.timeout(5):
            await started.wait()
        latency_s = time.monotonic() - begin
        await eventually(lambda: _status_is(resources, job_id, JobStatus.DONE))
    # Bounded well below the polling interval (30 s), with room for a busy machine.
    assert latency_s < 5.0, f"started after {latency_s:.3f} s (polling interval 30 s)"
    assert worker.metrics.outcomes[("test.ping", Outcome.DONE)] == 1


async def test_failures_retry_with_backoff_then_park_with_the_error(
    resources: Resources,
) -> None:
    calls: list[float] = []

    async def handle(ctx: JobContext, job: Job) -> None:
        calls.append(time.monotonic())
        raise ValueError(f"boom {len(calls)}")

    registry = Registry()
    registry.register("test.fail", handle, backoff=FAST)
    worker = Worker(resources, registry, poll_s=1)
    job_id = await _enqueue(resources, "test.fail", max_attempts=3)
    async with running(worker):
        await eventually(lambda: _status_is(resources, job_id, JobStatus.PARKED))
    job = await load_job(resources.sessions, job_id)
    assert len(calls) == 3
    assert (job.attempts, job.last_error) == (3, "ValueError: boom 3")
    gaps = [later - earlier for earlier, later in itertools.pairwise(calls)]
    assert all(gap >= FAST.base_s / 2 for gap in gaps), gaps
    assert worker.metrics.outcomes[("test.fail", Outcome.RETRIED)] == 2
    assert worker.metrics.outcomes[("test.fail", Outcome.PARKED)] == 1


async def test_retry_after_defers_without_counting_a_failure(resources: Resources) -> None:
    calls: list[float] = []

    async def handle(ctx: JobContext, job: Job) -> None:
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise Retry(0.2, "601: wait_seconds=0.2")

    registry = Registry()
    registry.register("test.limited", handle)
    worker = Worker(resources, registry, poll_s=5)
    job_id = await _enqueue(resources, "test.limited", max_attempts=1)
    async with running(worker):
        await eventually(lambda: _status_is(resources, job_id, JobStatus.DONE))
    job = await load_job(resources.sessions, job_id)
    assert len(calls) == 3
    assert job.attempts == 0  # max_attempts=1 and never parked: deferrals are not failures
    gaps = [later - earlier for earlier, later in itertools.pairwise(calls)]
    # Deferred by 0.2 s and woken for it, not left to the 5 s poll.
    assert all(0.19 <= gap < 1.5 for gap in gaps), gaps


async def test_park_stops_at_once_and_a_timeout_is_a_failure(resources: Resources) -> None:
    async def park(ctx: JobContext, job: Job) -> None:
        raise Park("the user revoked access")

    async def hang(ctx: JobContext, job: Job) -> None:
        await asyncio.sleep(30)

    registry = Registry()
    registry.register("test.park", park)
    registry.register("test.hang", hang, timeout_s=0.1, backoff=FAST)
    worker = Worker(resources, registry, poll_s=1)
    parked = await _enqueue(resources, "test.park")
    hung = await _enqueue(resources, "test.hang", max_attempts=1)
    async with running(worker):
        await eventually(lambda: _status_is(resources, parked, JobStatus.PARKED))
        await eventually(lambda: _status_is(resources, hung, JobStatus.PARKED))
    assert (await load_job(resources.sessions, parked)).last_error == "the user revoked access"
    assert (await load_job(resources.sessions, parked)).attempts == 0
    timed_out = await load_job(resources.sessions, hung)
    assert timed_out.last_error == "TimeoutError: the handler ran longer than 0.1 s"


async def test_stopping_gives_unfinished_jobs_back_untouched(resources: Resources) -> None:
    entered = asyncio.Event()

    async def block(ctx: JobContext, job: Job) -> None:
        entered.set()
        await asyncio.sleep(30)

    registry = Registry()
    registry.register("test.block", block)
    worker = Worker(resources, registry, poll_s=1)
    job_id = await _enqueue(resources, "test.block")
    async with running(worker):
        async with asyncio.timeout(5):
            await entered.wait()
    job = await load_job(resources.sessions, job_id)
    assert (job.status, job.attempts, job.lease_owner) == (JobStatus.QUEUED, 0, None)
    assert worker.metrics.outcomes[("test.block", Outcome.RELEASED)] == 1


async def test_a_long_job_keeps_its_lease_and_another_worker_leaves_it_alone(
    resources: Resources, settings: Settings
) -> None:
    runs: Counter[int] = Counter()

    async def slow(ctx: JobContext, job: Job) -> None:
        runs[job.id] += 1
        await asyncio.sleep(3.5)  # more than three leases of 1 s

    registry = Registry()
    registry.register("test.slow", slow)
    async with open_resources(settings) as other:
        first = Worker(resources, registry, lease_s=1.0, poll_s=0.5, owner="first")
        second = Worker(other, registry, lease_s=1.0, poll_s=0.5, owner="second")
        job_id = await _enqueue(resources, "test.slow")
        async with running(first):
            await eventually(lambda: _status_is(resources, job_id, JobStatus.RUNNING))
            async with running(second):
                await eventually(lambda: _status_is(resources, job_id, JobStatus.DONE))
    assert runs == {job_id: 1}
    assert (await load_job(resources.sessions, job_id)).attempts == 0


async def test_two_workers_on_two_engines_run_every_job_exactly_once(
    resources: Resources, settings: Settings
) -> None:
    runs: Counter[int] = Counter()

    async def count(ctx: JobContext, job: Job) -> None:
        runs[job.id] += 1
        await asyncio.sleep(0.001)

    registry = Registry()
    registry.register("test.count", count)
    async with resources.sessions.begin() as session:
        ids = [await enqueue(session, "test.count", {"n": n}) for n in range(200)]
    async with open_resources(settings) as other:
        workers = [
            Worker(resources, registry, concurrency=8, poll_s=0.2, owner="a"),
            Worker(other, registry, concurrency=8, poll_s=0.2, owner="b"),
        ]
        async with running(workers[0]), running(workers[1]):
            await eventually(
                lambda: _all_done(resources, len(ids)),
                timeout_s=30,
            )
    assert runs == dict.fromkeys(ids, 1)
    shares = [w.metrics.outcomes[("test.count", Outcome.DONE)] for w in workers]
    assert sum(shares) == len(ids)


async def _all_done(resources: Resources, total: int) -> bool:
    return await count_rows(resources.sessions, Job.status == JobStatus.DONE) == total


async def test_complete_in_commits_effects_and_completion_together(
    resources: Resources,
) -> None:
    async def effect(ctx: JobContext, job: Job) -> None:
        async with ctx.sessions.begin() as session:
            session.add(AuditEvent(actor="test", action="effect", subject=str(job.id)))
            await ctx.complete_in(session)

    registry = Registry()
    registry.register("test.effect", effect)
    worker = Worker(resources, registry, poll_s=1)
    job_id = await _enqueue(resources, "test.effect")
    async with running(worker):
        await eventually(lambda: _status_is(resources, job_id, JobStatus.DONE))
    assert worker.metrics.outcomes[("test.effect", Outcome.DONE)] == 1

    # A context whose lease is gone refuses, and the effect rolls back with it.
    stale = JobContext(resources, job_id=job_id, owner="someone-else")
    with pytest.raises(LeaseLost):
        await _effect_with(resources, stale)
    async with resources.sessions() as session:
        actions = list(await session.scalars(select(AuditEvent.action)))
    assert actions == ["effect"]


async def _effect_with(resources: Resources, context: JobContext) -> None:
    async with resources.sessions.begin() as session:
        session.add(AuditEvent(actor="test", action="stale-effect"))
        await context.complete_in(session)
