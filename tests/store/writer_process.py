"""A process that writes to the database through Rookery's engine until killed (run with
`python -m`).

    python -m tests.store.writer_process DATABASE_URL FIRST_BATCH

writes batch FIRST_BATCH, FIRST_BATCH + 1, ... each in one transaction: `JOBS_PER_BATCH` jobs
enqueued through the job queue, an audit event, and the `WRITER_TASK` row updated to the batch
number; it prints each batch's number once that transaction has committed. The database must be
migrated and hold the `WRITER_TASK` row.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Final

from rookery.jobs import queue
from rookery.store.engine import create_engine, session_factory
from rookery.store.tables import AuditEvent, ScheduledTask

JOB_KIND: Final = "test.written"
JOBS_PER_BATCH: Final = 5
WRITER_TASK: Final = "test.writer"
AUDIT_ACTION: Final = "test.batch"
# A payload of several kilobytes: a batch spans several database pages.
FILLER: Final = "x" * 2000


async def _write(database_url: str, first_batch: int) -> None:
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    batch = first_batch
    while True:
        async with sessions.begin() as session:
            for part in range(JOBS_PER_BATCH):
                await queue.enqueue(
                    session, JOB_KIND, {"batch": batch, "part": part, "filler": FILLER}
                )
            session.add(AuditEvent(actor="writer", action=AUDIT_ACTION, subject=str(batch)))
            task = await session.get(ScheduledTask, WRITER_TASK)
            assert task is not None
            task.last_owner = str(batch)
        print(batch, flush=True)
        batch += 1


if __name__ == "__main__":
    asyncio.run(_write(sys.argv[1], int(sys.argv[2])))
