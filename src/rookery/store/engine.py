"""Engines and sessions for the two supported databases.

Callers give the user-facing URL (`sqlite:///PATH`, `postgresql://…`); the async driver is chosen
here: aiosqlite for SQLite, psycopg 3 for PostgreSQL.
"""

from __future__ import annotations

import asyncio
import functools
import queue
import sqlite3
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry

from rookery.errors import InvalidInputError

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}
# Milliseconds a SQLite statement waits for another connection's write lock before failing.
SQLITE_BUSY_TIMEOUT_MS = 5000
# Pauses between two tries to take it: doubling from the first to the longest.
_BUSY_FIRST_PAUSE_S = 0.001
_BUSY_LONGEST_PAUSE_S = 0.02
# Seconds a transaction waits for the process's one SQLite connection before failing.
SQLITE_POOL_TIMEOUT_S = 30.0

_T = TypeVar("_T")


def async_url(url: str | URL) -> URL:
    """The SQLAlchemy async URL for a user-facing database URL."""
    parsed = make_url(url)
    driver = _ASYNC_DRIVERS.get(parsed.drivername, parsed.drivername)
    if driver not in _ASYNC_DRIVERS.values():
        raise InvalidInputError(f"unsupported database URL scheme {parsed.drivername!r}")
    return parsed.set(drivername=driver)


def create_engine(url: str | URL) -> AsyncEngine:
    """An async engine for `sqlite:///PATH` or `postgresql://…` (async forms accepted too).

    SQLite: creates the file's folder; one connection per engine (the process's transactions
    queue for it in order); it uses WAL, a busy timeout, foreign keys and synchronous=NORMAL, and
    every transaction starts with BEGIN IMMEDIATE.
    """
    target = async_url(url)
    # hide_parameters: bound values (encrypted tokens, hashes, health values) stay out of
    # exception messages and logs.
    if target.get_backend_name() == "postgresql":
        return _create_async_engine(target, pool_pre_ping=True, hide_parameters=True)
    if target.database and target.database != ":memory:":
        Path(target.database).parent.mkdir(parents=True, exist_ok=True)
    # One connection per engine: every transaction takes the write lock (BEGIN IMMEDIATE), so
    # a process's transactions run one at a time anyway. Queued on the pool they wait in
    # asyncio, first come first served; on several connections they would wait in SQLite's
    # busy handler, which sleeps in growing steps (up to 100 ms) and starves the unlucky
    # past the busy timeout. The busy timeout still arbitrates between processes.
    database = target.database or ":memory:"
    engine = _create_async_engine(
        target,
        hide_parameters=True,
        async_creator=lambda: _InlineSQLite(database),
        poolclass=AsyncAdaptedQueuePool,
        pool_size=1,
        max_overflow=0,
        pool_timeout=SQLITE_POOL_TIMEOUT_S,
    )
    event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
    event.listen(engine.sync_engine, "begin", _begin_immediate)
    return engine


class _RunAtOnce(queue.SimpleQueue[tuple[asyncio.Future[Any] | None, Callable[[], Any]]]):
    """In place of aiosqlite's queue to its thread: runs what is put at once."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except Exception as error:  # handed to whoever awaits the future, as the thread does
            if future is not None and not future.done():
                future.set_exception(error)
            return
        if future is not None and not future.done():
            future.set_result(result)


class _InlineSQLite(aiosqlite.Connection):
    """aiosqlite's connection, with each call run on the caller's thread instead of handed to
    a thread of its own and back.

    A SQLite statement here takes tens of microseconds (WAL, synchronous=NORMAL: a commit does
    not wait for the disk), while each hand-over costs two thread wake-ups, which on a busy
    machine take milliseconds each, and the one connection (see `create_engine`) is held
    throughout. Waiting for another connection's write lock happens in asyncio (see `_execute`).
    """

    def __init__(self, database: str) -> None:
        super().__init__(
            functools.partial(sqlite3.connect, database, check_same_thread=False),
            iter_chunk_size=64,
        )
        # SQLAlchemy hands some calls (setting isolation_level) to the thread's queue directly.
        self._tx = _RunAtOnce()

    async def _execute(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        if not self._running or self._connection is None:
            raise ValueError("Connection closed")
        # Another connection holds the write lock: wait for it here, in asyncio, rather than
        # in SQLite's busy handler, which would block the event loop (and so any other engine
        # of this loop that holds the lock and needs the loop to finish). A statement that
        # failed with SQLITE_BUSY did nothing, so it is run again.
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
        pause_s = _BUSY_FIRST_PAUSE_S
        while True:
            try:
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as error:
                if error.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(pause_s)
            pause_s = min(pause_s * 2, _BUSY_LONGEST_PAUSE_S)

    async def _connect(self) -> _InlineSQLite:
        if self._connection is None:
            self._connection = self._connector()
        return self

    def __await__(self) -> Generator[Any, None, _InlineSQLite]:
        return self._connect().__await__()

    def stop(self) -> None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions on `engine`; objects stay readable after commit (no implicit reload)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def _configure_sqlite_connection(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # The driver's own transaction handling is switched off (isolation_level None) so that
    # SQLAlchemy's BEGIN below is the only one: this makes SAVEPOINTs and transactional DDL work
    # (the SQLAlchemy pysqlite/aiosqlite recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        # No waiting inside SQLite: `_InlineSQLite` waits for the lock in asyncio.
        "busy_timeout=0",
        "foreign_keys=ON",
        "synchronous=NORMAL",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _begin_immediate(connection: Connection) -> None:
    # Taking the write lock at BEGIN rather than at the first write means a transaction never
    # has to upgrade a read lock, which SQLite refuses (SQLITE_BUSY) without waiting.
    connection.exec_driver_sql("BEGIN IMMEDIATE")
