"""Immediate wake-ups of idle workers when a job is committed; polling stays the fallback.

PostgreSQL: `enqueue` runs `pg_notify` in the caller's transaction, so the notification is sent
at commit (and never for a rollback); every worker LISTENs on a dedicated connection.
SQLite (one machine, usually one process): `enqueue` registers an after-commit hook that sets
the events of this process's workers on the same database file.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Final

import psycopg
import structlog
from sqlalchemy import event, func, select
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

logger = structlog.get_logger(__name__)

CHANNEL: Final = "rookery_jobs"
_PENDING: Final = "rookery.jobs.wake_pending"

# Workers of this process, by database file: (their loop, their event). Empty until a worker runs.
_local_waiters: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}


def database_key(url: URL) -> str:
    """Which database `url` names, for in-process wake-ups (the SQLite file's real path)."""
    return os.path.realpath(url.database or "")


async def wake_after_commit(session: AsyncSession) -> None:
    """Arrange for the workers to be woken when `session`'s transaction commits."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        await session.execute(select(func.pg_notify(CHANNEL, "")))
        return
    sync_session = session.sync_session
    if sync_session.info.get(_PENDING):
        return
    sync_session.info[_PENDING] = True
    key = database_key(bind.engine.url)

    def after_commit(committed: Session) -> None:
        committed.info.pop(_PENDING, None)
        notify_local(key)

    # Left in place by a rollback: the next commit then wakes the workers for nothing, harmlessly.
    event.listen(sync_session, "after_commit", after_commit, once=True)


def notify_local(key: str) -> None:
    """Wake this process's workers on database `key` (any thread, any loop)."""
    for loop, waiter in list(_local_waiters.get(key, ())):
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            waiter.set()
        else:
            with suppress(RuntimeError):  # that loop has closed: its worker is gone
                loop.call_soon_threadsafe(waiter.set)


@contextmanager
def local_wakeups(key: str, waiter: asyncio.Event) -> Iterator[None]:
    """Set `waiter` whenever this process commits a job to database `key`."""
    entry = (asyncio.get_running_loop(), waiter)
    _local_waiters.setdefault(key, set()).add(entry)
    try:
        yield
    finally:
        waiters = _local_waiters.get(key, set())
        waiters.discard(entry)
        if not waiters:
            _local_waiters.pop(key, None)


async def listen_postgres(url: URL, waiter: asyncio.Event, *, retry_s: float) -> None:
    """Set `waiter` on every job notification, until cancelled; reconnects after `retry_s`
    when the connection drops (polling covers the gap)."""
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                # Jobs committed while nobody listened: look now.
                waiter.set()
                async for _ in conn.notifies():
                    waiter.set()
        except psycopg.Error as error:
            logger.warning("jobs.listen_failed", error=type(error).__name__, retry_s=retry_s)
            await asyncio.sleep(retry_s)
