"""The queue's rows on both engines: transactional enqueue, leases, coalescing, recovery."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rookery.jobs import Priority, enqueue, merge_window
from rookery.jobs.queue import (
    LEASE_EXPIRED_ERROR,
    claim,
    complete,
    count_jobs,
    fail,
    list_jobs,
    prune_finished,
    recover_expired,
    renew,
    requeue,
)
from rookery.store.enums import JobStatus
from rookery.store.tables import Job, utc_now
from tests.jobs.conftest import count_rows, load_job

pytestmark = pytest.mark.anyio

Sessions = async_sessionmaker[AsyncSession]


async def _enqueue_then_fail(sessions: Sessions) -> None:
    async with sessions.begin() as session:
        await enqueue(session, "test.a", {"n": 1})
        raise RuntimeError("caller failed")


async def test_a_rolled_back_enqueue_leaves_no_job(sessions: Sessions) -> None:
    with pytest.raises(RuntimeError, match="caller failed"):
        await _enqueue_then_fail(sessions)
    assert await count_rows(sessions) == 0

    async with sessions.begin() as session:
        job_id = await enqueue(session, "test.a", {"n": 2})
    job = await load_job(sessions, job_id)
    assert (job.kind, job.payload, job.status, job.attempts) == (
        "test.a",
        {"n": 2},
        JobStatus.QUEUED,
        0,
    )


async def test_claim_leases_due_jobs_by_priority_and_complete_finishes_them(
    sessions: Sessions,
) -> None:
    now = utc_now()
    async with sessions.begin() as session:
        backfill = await enqueue(session, "test.a", {}, priority=Priority.BACKFILL, now=now)
        notification = await enqueue(session, "test.a", {}, priority=Priority.NOTIFICATION, now=now)
        await enqueue(session, "test.a", {}, run_at=now + timedelta(hours=1), now=now)
        await enqueue(session, "test.other", {}, now=now)

    async with sessions.begin() as session:
        claimed = await claim(session, owner="w1", kinds=["test.a"], limit=10, lease_s=30)
    assert [job.id for job in claimed] == [notification, backfill]
    assert all(job.status is JobStatus.RUNNING and job.lease_owner == "w1" for job in claimed)
    lease = claimed[0].lease_expires_at
    assert lease is not None
    assert timedelta(seconds=25) < lease - now < timedelta(seconds=35)

    async with sessions.begin() as session:
        assert await claim(session, owner="w2", kinds=["test.a"], limit=10, lease_s=30) == []
        # Only the holder of the lease can finish the job.
        assert not await complete(session, notification, owner="w2")
        assert await complete(session, notification, owner="w1")
    done = await load_job(sessions, notification)
    assert done.status is JobStatus.DONE
    assert done.finished_at is not None
    assert done.lease_owner is None


async def test_a_queued_dedupe_key_coalesces_and_merges_windows(sessions: Sessions) -> None:
    merge = merge_window("start", "end")
    later = utc_now() + timedelta(seconds=30)
    async with sessions.begin() as session:
        first = await enqueue(
            session,
            "test.fetch",
            {"start": 100, "end": 200, "appli": 1},
            dedupe_key="user-1",
            run_at=later,
            priority=Priority.BACKFILL,
            coalesce=merge,
        )
    async with sessions.begin() as session:
        second = await enqueue(
            session,
            "test.fetch",
            {"start": 150, "end": 400, "appli": 1},
            dedupe_key="user-1",
            priority=Priority.NOTIFICATION,
            coalesce=merge,
        )
        other_user = await enqueue(
            session, "test.fetch", {"start": 0, "end": 1}, dedupe_key="user-2"
        )
    assert second == first
    assert other_user != first
    job = await load_job(sessions, first)
    assert job.payload == {"start": 100, "end": 400, "appli": 1}
    assert job.priority == Priority.NOTIFICATION
    assert job.run_at < later  # the earlier of the two

    # A running job does not absorb new work: the new window waits behind it.
    async with sessions.begin() as session:
        await claim(session, owner="w1", kinds=["test.fetch"], limit=2, lease_s=30)
    async with sessions.begin() as session:
        third = await enqueue(
            session, "test.fetch", {"start": 500, "end": 600}, dedupe_key="user-1", coalesce=merge
        )
    assert third not in (first, other_user)
    assert (await load_job(sessions, third)).payload == {"start": 500, "end": 600}


async def test_without_a_merge_the_queued_payload_is_kept(sessions: Sessions) -> None:
    async with sessions.begin() as session:
        first = await enqueue(session, "test.a", {"v": 1}, dedupe_key="k")
        again = await enqueue(session, "test.a", {"v": 2}, dedupe_key="k")
    assert again == first
    assert (await load_job(sessions, first)).payload == {"v": 1}
    assert await count_rows(sessions) == 1


@pytest.mark.parametrize("payload", [{"when": utc_now()}, {"x": float("nan")}, ["not", "a", "map"]])
async def test_a_payload_that_is_not_a_json_object_is_refused(
    sessions: Sessions, payload: object
) -> None:
    async with sessions.begin() as session:
        with pytest.raises(ValueError, match="JSON"):
            await enqueue(session, "test.a", payload)  # type: ignore[arg-type]


async def test_an_expired_lease_returns_the_job_and_counts_a_failure(sessions: Sessions) -> None:
    now = utc_now()
    async with sessions.begin() as session:
        job_id = await enqueue(session, "test.a", {}, max_attempts=2, now=now)
        await claim(session, owner="dead", kinds=["test.a"], limit=1, lease_s=10, now=now)
    async with sessions.begin() as session:
        assert await recover_expired(session, now=now + timedelta(seconds=5)) == 0
        assert await renew(session, [job_id], owner="dead", lease_s=10, now=now) == {job_id}
        assert await recover_expired(session, now=now + timedelta(seconds=11)) == 1
    job = await load_job(sessions, job_id)
    assert (job.status, job.attempts, job.last_error, job.lease_owner) == (
        JobStatus.QUEUED,
        1,
        LEASE_EXPIRED_ERROR,
        None,
    )
    # The dead worker's late answer changes nothing.
    async with sessions.begin() as session:
        assert not await complete(session, job_id, owner="dead")
        assert await renew(session, [job_id], owner="dead", lease_s=10) == set()

    # A job that keeps killing its worker is parked at its last attempt, not looped forever.
    later = now + timedelta(seconds=20)
    async with sessions.begin() as session:
        await claim(session, owner="dead-2", kinds=["test.a"], limit=1, lease_s=1, now=later)
    async with sessions.begin() as session:
        await recover_expired(session, now=later + timedelta(seconds=2))
    parked = await load_job(sessions, job_id)
    assert (parked.status, parked.attempts) == (JobStatus.PARKED, 2)
    assert parked.finished_at is not None


async def test_failures_retry_later_then_park_visibly_and_requeue_restarts(
    sessions: Sessions,
) -> None:
    async with sessions.begin() as session:
        job_id = await enqueue(session, "test.a", {}, max_attempts=2)
    for attempt in (1, 2):
        now = utc_now() + timedelta(minutes=attempt)
        async with sessions.begin() as session:
            (job,) = await claim(session, owner="w", kinds=["test.a"], limit=1, lease_s=30, now=now)
            status = await fail(
                session, job, owner="w", error="ValueError: boom", retry_after_s=30, now=now
            )
        assert status is (JobStatus.QUEUED if attempt == 1 else JobStatus.PARKED)
        if attempt == 1:
            assert (await load_job(sessions, job_id)).run_at == now + timedelta(seconds=30)

    async with sessions() as session:
        (parked,) = await list_jobs(session, status=JobStatus.PARKED)
        counts = await count_jobs(session)
    assert (parked.id, parked.attempts, parked.last_error) == (job_id, 2, "ValueError: boom")
    assert counts == {("test.a", JobStatus.PARKED): 1}

    async with sessions.begin() as session:
        assert await requeue(session, job_id)
        assert not await requeue(session, job_id)
    requeued = await load_job(sessions, job_id)
    assert (requeued.status, requeued.attempts) == (JobStatus.QUEUED, 0)


async def test_prune_deletes_old_done_jobs_only(sessions: Sessions) -> None:
    async with sessions.begin() as session:
        ids = [await enqueue(session, "test.a", {}) for _ in range(3)]
        await claim(session, owner="w", kinds=["test.a"], limit=2, lease_s=30)
        await complete(session, ids[0], owner="w")
    async with sessions.begin() as session:
        assert await prune_finished(session, older_than=utc_now() - timedelta(days=1)) == 0
        assert await prune_finished(session, older_than=utc_now() + timedelta(seconds=1)) == 1
    assert await count_rows(sessions, Job.id.in_(ids)) == 2
