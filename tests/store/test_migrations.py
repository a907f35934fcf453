"""Migrations on both engines: they build the schema on an empty database and match the models."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from rookery.store.engine import create_engine
from rookery.store.migrate import upgrade
from rookery.store.tables import AuditEvent, Base, User

pytestmark = pytest.mark.anyio


async def test_upgrade_builds_every_table_on_an_empty_database(database_url: str) -> None:
    await upgrade(database_url)
    await upgrade(database_url)  # a second run has nothing to do

    engine = create_engine(database_url)
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        version = await connection.scalar(text("SELECT version_num FROM alembic_version"))
    await engine.dispose()
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
    assert version is not None


async def test_models_and_migrations_agree(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        differences = await connection.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
            )
        )
    assert differences == []


async def test_sqlite_connections_use_wal_and_foreign_keys(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    async with engine.connect() as connection:
        journal_mode = await connection.scalar(text("PRAGMA journal_mode"))
        foreign_keys = await connection.scalar(text("PRAGMA foreign_keys"))
        synchronous = await connection.scalar(text("PRAGMA synchronous"))
        busy_timeout = await connection.scalar(text("PRAGMA busy_timeout"))
    await engine.dispose()
    # busy_timeout 0: the engine waits for the write lock in asyncio (tests/store/test_engine.py).
    assert (journal_mode, foreign_keys, synchronous, busy_timeout) == ("wal", 1, 1, 0)


async def test_foreign_keys_are_enforced(sessions: async_sessionmaker[AsyncSession]) -> None:
    with pytest.raises(IntegrityError):
        async with sessions.begin() as session:
            session.add(User(client_id=uuid.uuid4(), user_id="orphan"))


async def test_a_savepoint_rolls_back_alone(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        session.add(AuditEvent(actor="test", action="kept"))
        savepoint = await session.begin_nested()
        session.add(AuditEvent(actor="test", action="dropped"))
        await session.flush()
        await savepoint.rollback()
    async with sessions() as session:
        actions = (await session.scalars(select(AuditEvent.action))).all()
    assert actions == ["kept"]


async def test_instants_come_back_aware_in_utc(sessions: async_sessionmaker[AsyncSession]) -> None:
    paris_summer = timezone(timedelta(hours=2))
    written = datetime(2026, 7, 1, 23, 30, 15, 123456, tzinfo=paris_summer)
    async with sessions.begin() as session:
        session.add(AuditEvent(actor="test", action="timed", at_utc=written))
    async with sessions() as session:
        read = await session.scalar(select(AuditEvent.at_utc))
    assert read == written
    assert read is not None
    assert read.tzinfo is UTC
    assert read.hour == 21


async def test_a_naive_datetime_is_refused(sessions: async_sessionmaker[AsyncSession]) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        async with sessions.begin() as session:
            session.add(AuditEvent(actor="test", action="naive", at_utc=datetime(2026, 1, 1)))


async def test_database_errors_do_not_show_the_values_involved(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    with pytest.raises(IntegrityError) as caught:
        async with sessions.begin() as session:
            session.add(User(client_id=uuid.uuid4(), user_id="secret-looking-value"))
    assert "secret-looking-value" not in str(caught.value)
