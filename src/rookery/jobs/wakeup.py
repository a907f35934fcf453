"""Waking idle loops as soon as a transaction that concerns them commits; polling stays the
fallback (a missed wake-up costs one poll interval). One mechanism, several channels: the job
workers listen on `JOBS`, the webhook senders on `DELIVERIES`.

A transaction calls `wake_after_commit(session, channel)`; a loop holds `listening(engine,
channel, wake)` open, and `wake()` is called (in the loop's own event loop) after each commit
that asked for the channel. Nothing wakes for a transaction that rolls back.

* PostgreSQL: `pg_notify(channel)` in the transaction, which PostgreSQL delivers on commit only,
  to every process of the deployment; each listener LISTENs on a connection of its own.
* SQLite (one machine, usually one process): an after-commit hook of the session wakes this
  process's listeners on the same database file (whichever engine they use). It runs once the
  commit is done, so a woken loop sees the new rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator, Callable
from typing import Final

import psycopg
import structlog
from sqlalchemy import event, func, select
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

logger = structlog.get_logger(__name__)

JOBS: Final = "rookery_jobs"
DELIVERIES: Final = "rookery_deliveries"

# A channel name goes into `LISTEN <channel>` as is: only plain identifiers are accepted.
_CHANNEL_NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_PENDING: Final = "rookery.wakeup.pending"
# Seconds between attempts to re-open a lost LISTEN connection, unless the caller says.
DEFAULT_RETRY_S: Final = 5.0
_LISTEN_READY_TIMEOUT_S: Final = 5.0

Wake = Callable[[], None]
# Listeners of this process, by (database file, channel): their loop and callback.
_local_listeners: dict[tuple[str, str], set[tuple[asyncio.AbstractEventLoop, Wake]]] = {}


class Doorbell:
    """A wake-up signal for one waiting loop; rings before the wait are not lost, and several
    rings coalesce into one wake-up. `ring` is a `Wake` for `listening`."""

    def __init__(self) -> None:
        self._rung = asyncio.Event()

    def ring(self) -> None:
        """Wake the waiter (now, or at its next wait)."""
        self._rung.set()

    async def wait(self, timeout_s: float) -> bool:
        """Wait for a ring for at most `timeout_s`; whether one came."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._rung.wait()
        except TimeoutError:
            return False
        self._rung.clear()
        return True


def database_key(url: URL) -> str:
    """Which database `url` names, for in-process wake-ups (the SQLite file's real path)."""
    return os.path.realpath(url.database or "")


def _checked(channel: str) -> str:
    if not _CHANNEL_NAME.fullmatch(channel):
        raise ValueError(f"not a channel name: {channel!r}")
    return channel


async def wake_after_commit(session: AsyncSession, channel: str) -> None:
    """Arrange for the listeners of `channel` to be woken when `session`'s transaction commits."""
    _checked(channel)
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        await session.execute(select(func.pg_notify(channel, "")))
        return
    sync_session = session.sync_session
    pending: set[str] | None = sync_session.info.get(_PENDING)
    if pending is not None:
        pending.add(channel)
        return
    sync_session.info[_PENDING] = {channel}
    key = database_key(bind.engine.url)

    def after_commit(committed: Session) -> None:
        for name in committed.info.pop(_PENDING, ()):
            wake_local(key, name)

    # Left in place by a rollback: the next commit then wakes the listeners for nothing,
    # harmlessly.
    event.listen(sync_session, "after_commit", after_commit, once=True)


def wake_local(key: str, channel: str) -> None:
    """Wake this process's listeners of `channel` on database `key` (any thread, any loop)."""
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    for loop, wake in list(_local_listeners.get((key, channel), ())):
        if running is loop:
            wake()
        else:
            with contextlib.suppress(RuntimeError):  # that loop has closed: its listener is gone
                loop.call_soon_threadsafe(wake)


@contextlib.asynccontextmanager
async def listening(
    engine: AsyncEngine, channel: str, wake: Wake, *, retry_s: float = DEFAULT_RETRY_S
) -> AsyncIterator[None]:
    """Call `wake` after every commit that asked to wake `channel`, while the context is open.

    On PostgreSQL the LISTEN is in place (or its connection failed and is being retried every
    `retry_s`, polling covering the gap) before the block starts, and `wake` is also called each
    time it (re)connects: what was committed while nobody listened is looked at then.
    """
    _checked(channel)
    if engine.dialect.name == "postgresql":
        ready = asyncio.Event()
        task = asyncio.create_task(
            _listen_postgres(engine.url, channel, wake, ready, retry_s), name=f"listen-{channel}"
        )
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_LISTEN_READY_TIMEOUT_S):
                await ready.wait()
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return
    entry = (asyncio.get_running_loop(), wake)
    key = (database_key(engine.url), channel)
    _local_listeners.setdefault(key, set()).add(entry)
    try:
        yield
    finally:
        listeners = _local_listeners.get(key, set())
        listeners.discard(entry)
        if not listeners:
            _local_listeners.pop(key, None)


async def _listen_postgres(
    url: URL, channel: str, wake: Wake, ready: asyncio.Event, retry_s: float
) -> None:
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                await conn.execute(f"LISTEN {channel}")
                ready.set()
                wake()
                async for _ in conn.notifies():
                    wake()
        except psycopg.Error as error:
            logger.warning("wakeup.listen_failed", channel=channel, error=type(error).__name__)
        await asyncio.sleep(retry_s)
