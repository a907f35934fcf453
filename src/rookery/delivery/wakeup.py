"""Waking the senders when a delivery is committed, so it goes out within milliseconds.

A transaction that adds or re-arms deliveries calls `ring_after_commit(session)`; a sender holds
`listening(engine, doorbell)` open and waits on its `Doorbell`. Nothing rings for a transaction
that rolls back. Polling stays the fallback (a missed ring costs one poll interval):

* PostgreSQL: `pg_notify` in the transaction, which PostgreSQL delivers on commit only, to every
  process of the deployment; the sender LISTENs on a connection of its own.
* SQLite (one process): a flag on the connection, turned into a ring by the engine's commit
  event. That event fires just before the commit completes; a sender woken by it still sees the
  new rows, because its claim opens with BEGIN IMMEDIATE, which waits for the committing
  transaction's write lock (`rookery.store.engine`).

`rookery.jobs` had no wake-up primitive to reuse when this was written.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Final

import psycopg
import structlog
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

logger = structlog.get_logger(__name__)

WAKE_CHANNEL: Final = "rookery_deliveries"
_WAKE_FLAG: Final = "rookery.delivery.wake"
# Seconds between attempts to re-open a lost LISTEN connection.
_RELISTEN_DELAY_S: Final = 5.0
_LISTEN_READY_TIMEOUT_S: Final = 5.0


class Doorbell:
    """A wake-up signal for one waiting loop; rings before the wait are not lost, and several
    rings coalesce into one wake-up."""

    def __init__(self) -> None:
        self._rung = asyncio.Event()

    def ring(self) -> None:
        """Wake the waiter (now, or at its next wait)."""
        self._rung.set()

    async def wait(self, timeout_s: float) -> bool:
        """Wait for a ring for at most `timeout_s`; whether one came."""
        try:
            await asyncio.wait_for(self._rung.wait(), timeout_s)
        except TimeoutError:
            return False
        self._rung.clear()
        return True


async def ring_after_commit(session: AsyncSession) -> None:
    """Have the senders look for due deliveries once the session's transaction commits."""
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        await connection.execute(text("SELECT pg_notify(:channel, '')"), {"channel": WAKE_CHANNEL})
    else:
        connection.info[_WAKE_FLAG] = True


@contextlib.asynccontextmanager
async def listening(engine: AsyncEngine, doorbell: Doorbell) -> AsyncIterator[None]:
    """Ring `doorbell` whenever a transaction that called `ring_after_commit` commits, while
    the context is open."""
    if engine.dialect.name == "postgresql":
        url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        ready = asyncio.Event()
        task = asyncio.create_task(_listen_postgres(url, doorbell, ready), name="delivery-listen")
        # Listening before the caller goes on, so that no commit from then on is missed; if
        # the connection will not come up, polling covers until it does.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ready.wait(), _LISTEN_READY_TIMEOUT_S)
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return

    def on_commit(connection: Connection) -> None:
        if connection.info.pop(_WAKE_FLAG, False):
            doorbell.ring()

    def on_rollback(connection: Connection) -> None:
        connection.info.pop(_WAKE_FLAG, None)

    event.listen(engine.sync_engine, "commit", on_commit)
    event.listen(engine.sync_engine, "rollback", on_rollback)
    try:
        yield
    finally:
        event.remove(engine.sync_engine, "commit", on_commit)
        event.remove(engine.sync_engine, "rollback", on_rollback)


async def _listen_postgres(url: str, doorbell: Doorbell, ready: asyncio.Event) -> None:
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
                await connection.execute(f"LISTEN {WAKE_CHANNEL}")
                ready.set()
                # Whatever was committed while nobody listened.
                doorbell.ring()
                async for _ in connection.notifies():
                    doorbell.ring()
        except psycopg.Error as error:
            logger.warning("delivery_listen_lost", error=str(error))
        await asyncio.sleep(_RELISTEN_DELAY_S)
