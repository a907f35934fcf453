"""A pipeline worker in its own process, for the tests that kill one (run with `python -m`).

    python -m tests.pipeline.worker_process LEASE_S

runs a Worker with every handler the pipeline needs (`tests.pipeline.harness.registry`) and the
delivery sender, with a short lease so that a killed worker's job is taken over quickly, until
killed or SIGTERM. It reads the database and keys from the ROOKERY_ environment, as `rookery
worker` does, and prints "ready" once it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

from rookery.app import open_resources
from rookery.config import load_settings
from rookery.delivery.sender import open_sender
from rookery.jobs.worker import Worker
from rookery.logs import configure_logging
from tests.pipeline.harness import registry


async def _work(lease_s: float) -> None:
    async with open_resources(load_settings()) as resources, open_sender(resources):
        worker = Worker(resources, registry(), concurrency=4, lease_s=lease_s, poll_s=0.2)
        task = asyncio.create_task(worker.run())
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        print("ready", flush=True)
        with contextlib.suppress(asyncio.CancelledError):
            await task


if __name__ == "__main__":
    # As `rookery worker` does: logs on stderr, so that stdout (a pipe nobody reads after
    # "ready") never fills up and blocks the worker.
    configure_logging()
    asyncio.run(_work(float(sys.argv[1])))
