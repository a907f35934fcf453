"""Engines and sessions for the two supported databases.

Callers give the user-facing URL (`sqlite:///PATH`, `postgresql://…`); the async driver is chosen
here: aiosqlite for SQLite, psycopg 3 for PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from rookery.errors import InvalidInputError

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}
# Milliseconds a SQLite connection waits for the write lock before failing.
SQLITE_BUSY_TIMEOUT_MS = 5000


def async_url(url: str | URL) -> URL:
    """The SQLAlchemy async URL for a user-facing database URL."""
    parsed = make_url(url)
    driver = _ASYNC_DRIVERS.get(parsed.drivername, parsed.drivername)
    if driver not in _ASYNC_DRIVERS.values():
        raise InvalidInputError(f"unsupported database URL scheme {parsed.drivername!r}")
    return parsed.set(drivername=driver)


def create_engine(url: str | URL) -> AsyncEngine:
    """An async engine for `sqlite:///PATH` or `postgresql://…` (async forms accepted too).

    SQLite: creates the file's folder; every connection uses WAL, a busy timeout, foreign keys
    and synchronous=NORMAL, and every transaction starts with BEGIN IMMEDIATE.
    """
    target = async_url(url)
    # hide_parameters: bound values (encrypted tokens, hashes, health values) stay out of
    # exception messages and logs.
    if target.get_backend_name() == "postgresql":
        return _create_async_engine(target, pool_pre_ping=True, hide_parameters=True)
    if target.database and target.database != ":memory:":
        Path(target.database).parent.mkdir(parents=True, exist_ok=True)
    engine = _create_async_engine(target, hide_parameters=True)
    event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
    event.listen(engine.sync_engine, "begin", _begin_immediate)
    return engine


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
        f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
        "foreign_keys=ON",
        "synchronous=NORMAL",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _begin_immediate(connection: Connection) -> None:
    # Taking the write lock at BEGIN rather than at the first write means a transaction never
    # has to upgrade a read lock, which SQLite refuses (SQLITE_BUSY) without waiting.
    connection.exec_driver_sql("BEGIN IMMEDIATE")
