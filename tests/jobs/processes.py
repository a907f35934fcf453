"""Entry points for the tests that need separate processes (run with `python -m`).

    python -m tests.jobs.processes acquire PER_MINUTE TRIES
        asks the shared rate limit TRIES times at once-ish; prints how many calls were granted.
    python -m tests.jobs.processes worker LOG_FILE LEASE_S
        runs a Worker with the test handlers below until killed or SIGTERM.

Both read the database and the keys from the ROOKERY_ environment, as `rookery` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

from rookery.app import open_resources
from rookery.config import load_settings
from rookery.jobs import Job, JobContext, Registry
from rookery.jobs.ratelimit import acquire
from rookery.jobs.worker import Worker
from rookery.store.engine import create_engine
from rookery.store.tables import AuditEvent

# A job kind whose first run hangs (so that the test can kill its worker mid-job).
HANG_FIRST = "test.hang_first"
# A job kind that records each run.
COUNT = "test.count"


async def _acquire(per_minute: int, tries: int) -> None:
    engine = create_engine(load_settings().database_url)
    try:
        waits = [await acquire(engine, per_minute=per_minute) for _ in range(tries)]
    finally:
        await engine.dispose()
    print(sum(1 for wait_s in waits if wait_s == 0))


def _registry(log: Path) -> Registry:
    def record(line: str) -> None:
        # One short O_APPEND write per line: lines from several processes do not interleave.
        with log.open("a") as stream:
            stream.write(line + "\n")

    async def hang_first(ctx: JobContext, job: Job) -> None:
        record(f"start {job.id} {os.getpid()}")
        if job.attempts == 0:
            await asyncio.sleep(3600)
        async with ctx.sessions.begin() as session:
            session.add(AuditEvent(actor="test", action="effect", subject=str(job.id)))
            await ctx.complete_in(session)

    async def count(ctx: JobContext, job: Job) -> None:
        record(f"run {job.id} {os.getpid()}")

    registry = Registry()
    registry.register(HANG_FIRST, hang_first)
    registry.register(COUNT, count)
    return registry


async def _work(log: Path, lease_s: float) -> None:
    async with open_resources(load_settings()) as resources:
        worker = Worker(resources, _registry(log), concurrency=4, lease_s=lease_s, poll_s=0.2)
        task = asyncio.create_task(worker.run())
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        print("ready", flush=True)
        with contextlib.suppress(asyncio.CancelledError):
            await task


def main(argv: list[str]) -> None:
    """Run the entry point named by `argv[0]`."""
    if argv[0] == "acquire":
        asyncio.run(_acquire(int(argv[1]), int(argv[2])))
    elif argv[0] == "worker":
        asyncio.run(_work(Path(argv[1]), float(argv[2])))
    else:
        raise SystemExit(f"unknown entry point {argv[0]!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
