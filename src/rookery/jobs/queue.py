"""The durable job queue: rows of `jobs`, written in the caller's transaction.

Producers call `enqueue` inside the transaction that writes the data the job follows from; the
caller commits, and the workers are woken at commit. Workers `claim` jobs with a lease
(`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite's single writer serialises claims), then
`complete`, `defer`, `fail` or `park` them; every one of those only applies while the caller
still holds the lease, so a worker that lost its lease cannot overwrite another's result.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    delete,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from rookery.jobs.kinds import Priority
from rookery.jobs.retry import DEFAULT_MAX_ATTEMPTS
from rookery.jobs.wakeup import JOBS, wake_after_commit
from rookery.logs import redact_text
from rookery.store.dialect import insert_ignoring_conflict
from rookery.store.enums import JobStatus
from rookery.store.tables import Job, utc_now

# `coalesce(existing_payload, new_payload) -> merged_payload`, for two jobs with one dedupe key.
Coalesce = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]

# Stored errors are for people reading them; a traceback's worth is enough.
MAX_ERROR_LENGTH: Final = 2000
LEASE_EXPIRED_ERROR: Final = "lease expired: the worker stopped or stalled while running the job"
# A dedupe race lost this many times in a row means something else is wrong.
_DEDUPE_TRIES: Final = 5


async def enqueue(
    session: AsyncSession,
    kind: str,
    payload: Mapping[str, Any],
    *,
    run_at: datetime | None = None,
    priority: int = Priority.NORMAL,
    dedupe_key: str | None = None,
    connection_id: uuid.UUID | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    coalesce: Coalesce | None = None,
    now: datetime | None = None,
) -> int:
    """Queue a job of `kind` (a `JobKind`) in `session`'s transaction; returns its id.

    The caller commits; the workers are woken at commit. With a `dedupe_key` that a queued job
    already holds, no job is added: that job is kept (its id is returned), runs at the earlier
    `run_at` and the higher `priority`, and its payload becomes `coalesce(existing, new)` (the
    existing payload when `coalesce` is None). A running job does not coalesce: the new one
    waits behind it. Raises `ValueError` for a payload that is not a JSON object.
    """
    document = _json_object(payload)
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
    now = now or utc_now()
    values = {
        "kind": str(kind),
        "payload": document,
        "priority": int(priority),
        "status": JobStatus.QUEUED,
        "run_at": run_at or now,
        "attempts": 0,
        "max_attempts": max_attempts,
        "dedupe_key": dedupe_key,
        "connection_id": connection_id,
        "created_at": now,
        "updated_at": now,
    }
    for _ in range(_DEDUPE_TRIES):
        if dedupe_key is not None:
            job_id = await _coalesce_into_queued(session, values, coalesce)
            if job_id is not None:
                return job_id
        inserted = await session.scalar(
            insert_ignoring_conflict(
                session,
                Job,
                values,
                index_elements=["dedupe_key"],
                # A literal, not a bound parameter: PostgreSQL infers the partial index from
                # the predicate's text, which a prepared statement's parameter would hide.
                index_where=text(f"status = '{JobStatus.QUEUED.value}'"),
            ).returning(Job.id)
        )
        if inserted is not None:
            await _wake_if_due(session, values)
            return int(inserted)
        # A concurrent transaction queued the same key between our look and our insert.
    raise RuntimeError(f"could not enqueue {kind} with dedupe key {dedupe_key!r}")


async def _coalesce_into_queued(
    session: AsyncSession, values: dict[str, Any], coalesce: Coalesce | None
) -> int | None:
    existing = await session.scalar(
        select(Job)
        .where(Job.dedupe_key == values["dedupe_key"], Job.status == JobStatus.QUEUED)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if existing is None:
        return None
    payload = (
        existing.payload if coalesce is None else coalesce(existing.payload, values["payload"])
    )
    await session.execute(
        update(Job)
        .where(Job.id == existing.id)
        .values(
            payload=_json_object(payload),
            run_at=min(existing.run_at, values["run_at"]),
            priority=max(existing.priority, values["priority"]),
            updated_at=values["updated_at"],
        )
        .execution_options(synchronize_session=False)
    )
    await _wake_if_due(session, {**values, "run_at": min(existing.run_at, values["run_at"])})
    return existing.id


async def _wake_if_due(session: AsyncSession, values: Mapping[str, Any]) -> None:
    """Wake the workers at commit for a job due now. One due later is found by their next
    look at the queue (they wait at most their poll interval), so that queueing work for
    later (a day's close) does not send every worker to the queue for nothing."""
    if values["run_at"] <= values["updated_at"]:
        await wake_after_commit(session, JOBS)


def merge_window(start_key: str, end_key: str) -> Coalesce:
    """A `coalesce` for payloads that name a time window: the union of the two windows.

    Two notifications for one user (`{"start": 100, "end": 200}` and `{"start": 150, "end":
    400}`) become one fetch of `{"start": 100, "end": 400}`; other keys come from the newer.
    """

    def merge(existing: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        return {
            **existing,
            **new,
            start_key: min(existing[start_key], new[start_key]),
            end_key: max(existing[end_key], new[end_key]),
        }

    return merge


async def claim(
    session: AsyncSession,
    *,
    owner: str,
    kinds: Collection[str],
    limit: int,
    lease_s: float,
    now: datetime | None = None,
) -> list[Job]:
    """Lease up to `limit` due jobs of `kinds` to `owner` for `lease_s` seconds, highest
    priority first, then oldest `run_at`. The caller commits to make the claim stick."""
    if limit <= 0 or not kinds:
        return []
    now = now or utc_now()
    due = await session.scalars(
        select(Job.id)
        .where(Job.status == JobStatus.QUEUED, Job.run_at <= now, Job.kind.in_(list(kinds)))
        .order_by(Job.priority.desc(), Job.run_at, Job.id)
        .limit(limit)
        # Another worker's claim in progress is skipped, not waited for (PostgreSQL only;
        # SQLite has one writer at a time anyway).
        .with_for_update(skip_locked=True)
    )
    ids = list(due)
    if not ids:
        return []
    claimed = await session.scalars(
        update(Job)
        .where(Job.id.in_(ids))
        .values(
            status=JobStatus.RUNNING,
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=lease_s),
            updated_at=now,
        )
        .returning(Job)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return sorted(claimed, key=lambda job: (-job.priority, job.run_at, job.id))


def _leased_by(job_id: int, owner: str) -> ColumnElement[bool]:
    return _leased_by_in(Job, job_id, owner)


def _leased_by_in(jobs: type[Job], job_id: int, owner: str) -> ColumnElement[bool]:
    return and_(jobs.id == job_id, jobs.status == JobStatus.RUNNING, jobs.lease_owner == owner)


async def _give_up_taken_keys(
    session: AsyncSession, returning: Callable[[type[Job]], ColumnElement[bool]]
) -> None:
    """Before the jobs `returning` selects go back to the queue: each one whose dedupe key a
    queued job holds (queued while it ran: a running job does not coalesce), or an earlier job
    going back with it, drops its key. Both then run, rather than the partial unique index
    refusing the whole statement (and with it every worker's recovery, for good)."""
    twin = aliased(Job)
    taken = (
        select(twin.id)
        .where(
            twin.dedupe_key == Job.dedupe_key,
            twin.id != Job.id,
            or_(twin.status == JobStatus.QUEUED, and_(returning(twin), twin.id < Job.id)),
        )
        .exists()
    )
    await session.execute(
        update(Job)
        .where(returning(Job), Job.dedupe_key.is_not(None), taken)
        .values(dedupe_key=None)
        .execution_options(synchronize_session=False)
    )


async def _finish(session: AsyncSession, job_id: int, owner: str, **values: Any) -> bool:
    if values.get("status") is JobStatus.QUEUED:
        await _give_up_taken_keys(session, lambda jobs: _leased_by_in(jobs, job_id, owner))
    result = await session.execute(
        update(Job)
        .where(_leased_by(job_id, owner))
        .values(lease_owner=None, lease_expires_at=None, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


async def complete(
    session: AsyncSession, job_id: int, *, owner: str, now: datetime | None = None
) -> bool:
    """Mark a job done; False (and nothing changed) when `owner` no longer holds it."""
    now = now or utc_now()
    return await _finish(
        session, job_id, owner, status=JobStatus.DONE, finished_at=now, updated_at=now
    )


async def defer(
    session: AsyncSession,
    job_id: int,
    *,
    owner: str,
    after_s: float,
    reason: str,
    now: datetime | None = None,
) -> bool:
    """Put a job back to run in `after_s` seconds, without counting a failure."""
    now = now or utc_now()
    return await _finish(
        session,
        job_id,
        owner,
        status=JobStatus.QUEUED,
        run_at=now + timedelta(seconds=after_s),
        last_error=_clip(reason),
        updated_at=now,
    )


async def fail(
    session: AsyncSession,
    job: Job,
    *,
    owner: str,
    error: str,
    retry_after_s: float,
    now: datetime | None = None,
) -> JobStatus | None:
    """Count a failure of `job`: queued again in `retry_after_s`, or parked once it reaches
    its `max_attempts`. Returns the new status, None when `owner` no longer holds the job."""
    now = now or utc_now()
    parked = job.attempts + 1 >= job.max_attempts
    status = JobStatus.PARKED if parked else JobStatus.QUEUED
    applied = await _finish(
        session,
        job.id,
        owner,
        status=status,
        attempts=Job.attempts + 1,
        last_error=_clip(error),
        run_at=job.run_at if parked else now + timedelta(seconds=retry_after_s),
        finished_at=now if parked else None,
        updated_at=now,
    )
    return status if applied else None


async def park(
    session: AsyncSession, job_id: int, *, owner: str, reason: str, now: datetime | None = None
) -> bool:
    """Stop a job for good, keeping `reason`; an operator can `requeue` it."""
    now = now or utc_now()
    return await _finish(
        session,
        job_id,
        owner,
        status=JobStatus.PARKED,
        last_error=_clip(reason),
        finished_at=now,
        updated_at=now,
    )


async def release(
    session: AsyncSession, job_id: int, *, owner: str, now: datetime | None = None
) -> bool:
    """Give a job back untouched (a worker shutting down): due now, no failure counted."""
    now = now or utc_now()
    released = await _finish(
        session, job_id, owner, status=JobStatus.QUEUED, run_at=now, updated_at=now
    )
    if released:
        await wake_after_commit(session, JOBS)
    return released


async def renew(
    session: AsyncSession,
    job_ids: Collection[int],
    *,
    owner: str,
    lease_s: float,
    now: datetime | None = None,
) -> set[int]:
    """Extend `owner`'s leases on `job_ids` by `lease_s` from now; returns the ids still held."""
    if not job_ids:
        return set()
    now = now or utc_now()
    held = await session.scalars(
        update(Job)
        .where(
            Job.id.in_(list(job_ids)),
            Job.status == JobStatus.RUNNING,
            Job.lease_owner == owner,
        )
        .values(lease_expires_at=now + timedelta(seconds=lease_s), updated_at=now)
        .returning(Job.id)
        .execution_options(synchronize_session=False)
    )
    return set(held)


async def recover_expired(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Return every running job whose lease has expired to the queue, counting a failure
    (parking it at its `max_attempts`: a job that kills its worker must not loop forever).
    Returns how many jobs were recovered."""
    now = now or utc_now()
    parks = Job.attempts + 1 >= Job.max_attempts
    await _give_up_taken_keys(
        session,
        lambda jobs: and_(
            jobs.status == JobStatus.RUNNING,
            jobs.lease_expires_at < now,
            jobs.attempts + 1 < jobs.max_attempts,
        ),
    )
    result = await session.execute(
        update(Job)
        .where(Job.status == JobStatus.RUNNING, Job.lease_expires_at < now)
        .values(
            status=case((parks, JobStatus.PARKED.value), else_=JobStatus.QUEUED.value),
            finished_at=case((parks, literal(now, Job.finished_at.type)), else_=None),
            attempts=Job.attempts + 1,
            last_error=LEASE_EXPIRED_ERROR,
            lease_owner=None,
            lease_expires_at=None,
            run_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    recovered = int(getattr(result, "rowcount", 0))
    if recovered:
        await wake_after_commit(session, JOBS)
    return recovered


async def next_run_at(session: AsyncSession, *, kinds: Collection[str]) -> datetime | None:
    """When the earliest queued job of `kinds` is due (None: nothing queued)."""
    if not kinds:
        return None
    earliest: datetime | None = await session.scalar(
        select(func.min(Job.run_at)).where(
            Job.status == JobStatus.QUEUED, Job.kind.in_(list(kinds))
        )
    )
    return earliest


async def requeue(session: AsyncSession, job_id: int, *, now: datetime | None = None) -> bool:
    """Give a parked job a fresh start (attempts reset, due now); False if it is not parked."""
    now = now or utc_now()
    result = await session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.PARKED)
        .values(status=JobStatus.QUEUED, attempts=0, run_at=now, finished_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    requeued = getattr(result, "rowcount", 0) == 1
    if requeued:
        await wake_after_commit(session, JOBS)
    return bool(requeued)


async def list_jobs(
    session: AsyncSession, *, status: JobStatus, kind: str | None = None, limit: int = 100
) -> list[Job]:
    """Jobs in `status` (of `kind`), most recently updated first: e.g. the parked ones."""
    query = select(Job).where(Job.status == status)
    if kind is not None:
        query = query.where(Job.kind == kind)
    jobs = await session.scalars(query.order_by(Job.updated_at.desc(), Job.id.desc()).limit(limit))
    return list(jobs)


async def count_jobs(session: AsyncSession) -> dict[tuple[str, JobStatus], int]:
    """How many jobs there are per (kind, status): the queue's depth and its parked work."""
    rows = await session.execute(
        select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status)
    )
    return {(kind, status): int(count) for kind, status, count in rows}


async def prune_finished(session: AsyncSession, *, older_than: datetime) -> int:
    """Delete done jobs finished before `older_than` (parked ones stay); returns how many."""
    result = await session.execute(
        delete(Job).where(Job.status == JobStatus.DONE, Job.finished_at < older_than)
    )
    return int(getattr(result, "rowcount", 0))


def describe_error(error: BaseException) -> str:
    """How a handler's exception is stored: its type and message, secrets redacted."""
    return _clip(redact_text(f"{type(error).__name__}: {error}"))


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 1] + "…"


def _json_object(payload: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(payload, Mapping):
        raise ValueError(f"a job payload must be a JSON object, got {type(payload).__name__}")
    try:
        # A round trip: what the handler reads is exactly what the database will hold.
        document: dict[str, Any] = json.loads(json.dumps(dict(payload), allow_nan=False))
    except (TypeError, ValueError) as error:
        raise ValueError(f"a job payload must be JSON: {error}") from None
    return document
