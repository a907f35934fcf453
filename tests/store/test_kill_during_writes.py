"""SQLite survives a writing process killed with SIGKILL at random moments (seeded): after each
kill the file is intact, every transaction the writer reported committed is there, and no
transaction is there in part.

The writer (`tests.store.writer_process`) writes through Rookery's own engine, so it runs with
the engine's settings (WAL, synchronous=NORMAL): a killed process loses nothing committed, since
a commit is in the WAL file once it returns (NORMAL only leaves the last transactions exposed
to a power loss, which no test here can cause).
"""

from __future__ import annotations

import asyncio
import random
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Final

from sqlalchemy.engine import make_url

from rookery.store.engine import create_engine, session_factory
from rookery.store.migrate import upgrade
from rookery.store.tables import ScheduledTask, utc_now
from tests.store.writer_process import AUDIT_ACTION, JOB_KIND, JOBS_PER_BATCH, WRITER_TASK

REPOSITORY: Final = Path(__file__).resolve().parents[2]
KILLS: Final = 10
SEED: Final = 8
# The longest a writer writes before it is killed, once its first batch is committed.
LONGEST_RUN_S: Final = 0.4


async def _prepare(database_url: str) -> None:
    await upgrade(database_url)
    engine = create_engine(database_url)
    try:
        async with session_factory(engine).begin() as session:
            session.add(ScheduledTask(name=WRITER_TASK, next_run_at=utc_now()))
    finally:
        await engine.dispose()


def _kill_a_writer(database_url: str, first_batch: int, run_s: float) -> set[int]:
    """Start a writer, kill it `run_s` after its first commit: the batches it reported."""
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.store.writer_process", database_url, str(first_batch)],
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert writer.stdout is not None
        first = writer.stdout.readline()
        assert first.endswith(b"\n"), "the writer committed nothing"
        time.sleep(run_s)
        writer.send_signal(signal.SIGKILL)
        rest = writer.stdout.read()
        writer.wait(timeout=20)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait(timeout=20)
        if writer.stdout is not None:
            writer.stdout.close()
    assert writer.returncode == -signal.SIGKILL
    # Each report is one small write to the pipe: whole lines only (a kill cannot split one).
    return {int(line) for line in (first + rest).splitlines()}


def _stored_batches(database: Path) -> tuple[set[int], int]:
    """Check the file after a kill; the batches it holds, and how many rows were checked."""
    with closing(sqlite3.connect(database)) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        parts: dict[int, list[int]] = {}
        for batch, part in db.execute(
            "SELECT json_extract(payload, '$.batch'), json_extract(payload, '$.part') "
            "FROM jobs WHERE kind = ?",
            (JOB_KIND,),
        ):
            parts.setdefault(batch, []).append(part)
        audited = [
            int(subject)
            for (subject,) in db.execute(
                "SELECT subject FROM audit_events WHERE action = ?", (AUDIT_ACTION,)
            )
        ]
        (last_owner,) = db.execute(
            "SELECT last_owner FROM scheduled_tasks WHERE name = ?", (WRITER_TASK,)
        ).fetchone()
    batches = set(parts)
    # Whole transactions only: every job of a batch, its one audit event, the row it updated.
    assert all(sorted(found) == list(range(JOBS_PER_BATCH)) for found in parts.values())
    assert sorted(audited) == sorted(batches)
    assert last_owner == str(max(batches))
    return batches, len(audited) * (JOBS_PER_BATCH + 1)


def test_a_writer_killed_at_random_moments_loses_no_committed_transaction(
    sqlite_url: str,
) -> None:
    asyncio.run(_prepare(sqlite_url))
    database = Path(str(make_url(sqlite_url).database))
    wal = database.with_name(database.name + "-wal")
    moments = random.Random(SEED)
    known: set[int] = set()  # reported committed, or found stored after an earlier kill
    next_batch = 0
    rows_checked = 0

    for _ in range(KILLS):
        reported = _kill_a_writer(sqlite_url, next_batch, moments.uniform(0, LONGEST_RUN_S))
        assert wal.exists()  # the writer wrote through the WAL, left for recovery

        batches, rows = _stored_batches(database)

        assert known | reported <= batches  # nothing committed was lost
        assert batches == set(range(max(batches) + 1))  # nor anything before it
        # Stored but not reported: only a last batch, killed between its commit and its report.
        assert batches - known - reported <= {max(batches)}
        known |= batches  # from now on, every one of them must stay
        next_batch = max(batches) + 1
        rows_checked += rows

    assert next_batch > KILLS  # the writers did write between kills
    print(f"{KILLS} kills, {next_batch} batches, {rows_checked} rows checked")
