"""The SQLite engine: one connection per engine, statements run on the event loop's thread, and
the write lock of another connection awaited in asyncio, never by blocking the loop."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import text

from rookery.store.engine import SQLITE_BUSY_TIMEOUT_MS, create_engine

pytestmark = pytest.mark.anyio


async def test_a_second_engine_waits_for_the_first_engines_transaction(sqlite_url: str) -> None:
    # Two engines on one file in one event loop: the second's BEGIN IMMEDIATE must wait without
    # blocking the loop, or the first could never commit and the second would fail.
    first, second = create_engine(sqlite_url), create_engine(sqlite_url)
    try:
        async with first.begin() as connection:
            await connection.execute(text("CREATE TABLE t (n INTEGER)"))
        holding = asyncio.Event()

        async def hold_the_lock() -> None:
            async with first.begin() as connection:
                await connection.execute(text("INSERT INTO t VALUES (1)"))
                holding.set()
                await asyncio.sleep(0.2)

        async def write_after() -> float:
            await holding.wait()
            started = time.monotonic()
            async with second.begin() as connection:
                await connection.execute(text("INSERT INTO t VALUES (2)"))
            return time.monotonic() - started

        _, waited_s = await asyncio.gather(hold_the_lock(), write_after())
        async with second.connect() as connection:
            rows = (await connection.execute(text("SELECT n FROM t ORDER BY n"))).scalars().all()
        assert rows == [1, 2]
        assert 0.1 < waited_s < SQLITE_BUSY_TIMEOUT_MS / 1000
    finally:
        await first.dispose()
        await second.dispose()


async def test_an_engine_runs_one_transaction_at_a_time(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (n INTEGER)"))

        inside: list[int] = []
        most = 0

        async def add(n: int) -> None:
            nonlocal most
            async with engine.begin() as connection:
                inside.append(n)
                most = max(most, len(inside))
                await connection.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
                await asyncio.sleep(0.01)  # a transaction that yields to the loop midway
                inside.remove(n)

        await asyncio.gather(*(add(n) for n in range(20)))
        async with engine.connect() as connection:
            count = await connection.scalar(text("SELECT count(*) FROM t"))
        assert count == 20
        assert most == 1
    finally:
        await engine.dispose()
