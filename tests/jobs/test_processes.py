"""Real processes: a SIGKILLed worker loses nothing, several worker processes share the queue
with no job run twice, and `rookery worker` starts, works and stops on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from rookery.app import Resources
from rookery.config import Settings
from rookery.jobs import JobKind, enqueue
from rookery.store.enums import JobStatus
from rookery.store.tables import AuditEvent, Job
from tests.jobs.conftest import count_rows, eventually, load_job, process_environ
from tests.jobs.processes import COUNT, HANG_FIRST

pytestmark = pytest.mark.anyio

REPOSITORY = Path(__file__).resolve().parents[2]


async def _start_worker(
    settings: Settings, log: Path, lease_s: float
) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.jobs.processes",
        "worker",
        str(log),
        str(lease_s),
        cwd=REPOSITORY,
        env=process_environ(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdout is not None
    async with asyncio.timeout(30):
        assert await process.stdout.readline() == b"ready\n"
    return process


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            await process.wait()


def _lines(log: Path, word: str) -> list[str]:
    if not log.exists():
        return []
    return [line for line in log.read_text().splitlines() if line.startswith(word)]


async def test_a_sigkilled_worker_loses_nothing(
    resources: Resources, settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    async with resources.sessions.begin() as session:
        job_id = await enqueue(session, HANG_FIRST, {})
    first = await _start_worker(settings, log, lease_s=1.0)
    try:
        await eventually(lambda: _has(log, "start", 1), timeout_s=30)
        first.kill()  # SIGKILL, mid-job
        await first.wait()
    finally:
        if first.returncode is None:
            first.kill()
    assert (await load_job(resources.sessions, job_id)).status is JobStatus.RUNNING

    second = await _start_worker(settings, log, lease_s=1.0)
    try:
        await eventually(lambda: _done(resources, job_id), timeout_s=30)
    finally:
        await _stop(second)

    job = await load_job(resources.sessions, job_id)
    starts = _lines(log, "start")
    async with resources.sessions() as session:
        effects = await session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "effect")
        )
    # At least once: the handler ran twice (killed, then again once the lease expired)...
    assert len(starts) == 2
    assert starts[0].split()[2] != starts[1].split()[2]
    # ...and its database effect, committed with the completion, happened exactly once.
    assert effects == 1
    assert job.attempts == 1  # the lost lease counts as a failure


async def _has(log: Path, word: str, count: int) -> bool:
    return len(_lines(log, word)) >= count


async def _done(resources: Resources, job_id: int) -> bool:
    return (await load_job(resources.sessions, job_id)).status is JobStatus.DONE


async def test_several_worker_processes_never_run_a_job_twice(
    resources: Resources, settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    async with resources.sessions.begin() as session:
        ids = [await enqueue(session, COUNT, {"n": n}) for n in range(150)]
    workers = [await _start_worker(settings, log, lease_s=30) for _ in range(3)]
    try:
        await eventually(
            lambda: _count_is(resources, Job.status == JobStatus.DONE, len(ids)), timeout_s=60
        )
    finally:
        for worker in workers:
            await _stop(worker)
    runs = Counter(int(line.split()[1]) for line in _lines(log, "run"))
    assert runs == dict.fromkeys(ids, 1)
    assert all(worker.returncode == 0 for worker in workers)


async def _count_is(resources: Resources, where: object, expected: int) -> bool:
    return await count_rows(resources.sessions, where) == expected


async def test_rookery_worker_runs_jobs_and_stops_on_sigterm(
    resources: Resources, settings: Settings
) -> None:
    async with resources.sessions.begin() as session:
        job_id = await enqueue(session, JobKind.PRUNE_JOBS, {})
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from rookery.cli import main; main()",
        "worker",
        "--concurrency",
        "2",
        env=process_environ(settings),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await eventually(lambda: _done(resources, job_id), timeout_s=30)
    finally:
        await _stop(process)
    assert process.returncode == 0


async def test_rookery_worker_refuses_an_unmigrated_database(
    settings: Settings, tmp_path: Path
) -> None:
    environ = {
        **process_environ(settings),
        "ROOKERY_DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from rookery.cli import main; main()",
        "worker",
        env=environ,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(30):
        out, err = await process.communicate()
    assert process.returncode == 2
    assert out == b""
    assert err.decode().startswith("rookery: ROOKERY_DATABASE_URL: the database is not migrated")
    assert err.count(b"\n") == 1
