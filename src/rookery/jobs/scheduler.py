"""Periodic work, run once per period for the whole deployment however many processes run it.

Each task has a row in `scheduled_tasks` holding the start of its next period. A scheduler whose
clock has reached it moves it one period on with a conditional UPDATE (`... WHERE next_run_at <=
now`): one transaction wins, the others update nothing (PostgreSQL re-checks the condition after
the winner commits; SQLite runs one writer at a time). The task runs in the winner's transaction,
so what it enqueues and the claim commit together, or neither does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Final

import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rookery.jobs.registry import PeriodicTask
from rookery.jobs.shield import to_completion
from rookery.store.dialect import insert_ignoring_conflict
from rookery.store.tables import ScheduledTask, utc_now

logger = structlog.get_logger(__name__)

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# Upper bound on a scheduler's sleep, so that a clock jump or a new row is noticed.
MAX_SLEEP_S: Final = 30.0


def period_start(at: datetime, interval: timedelta) -> datetime:
    """The start of the period (aligned on the Unix epoch) that contains `at`."""
    return _EPOCH + interval * ((at - _EPOCH) // interval)


class Scheduler:
    """Runs `tasks`, each once per period, competing fairly with other schedulers."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        tasks: Iterable[PeriodicTask],
        *,
        owner: str,
    ) -> None:
        self.sessions = sessions
        self.tasks = tuple(tasks)
        self.owner = owner

    async def run(self) -> None:
        """Run due tasks at each period start, until cancelled."""
        if not self.tasks:
            return
        while True:
            try:
                await self.run_due()
            except Exception:  # the database went away: try again at the next period
                logger.exception("scheduler.failed", owner=self.owner)
            now = utc_now()
            next_start = min(
                period_start(now, task.interval) + task.interval for task in self.tasks
            )
            await asyncio.sleep(min(MAX_SLEEP_S, max((next_start - now).total_seconds(), 0.0)))

    async def run_due(self, now: datetime | None = None) -> list[str]:
        """Run each task whose period has come and that no other scheduler ran; returns their
        names. A task that fails is logged and its period skipped (it runs again next period)."""
        now = now or utc_now()
        ran: list[str] = []
        for task in self.tasks:
            if await to_completion(self._run_if_due(task, now)):
                ran.append(task.name)
        return ran

    async def _run_if_due(self, task: PeriodicTask, now: datetime) -> bool:
        try:
            async with self.sessions.begin() as session:
                if not await self._claim(session, task, now):
                    return False
                await task.run(session, now)
                return True
        except Exception:
            logger.exception("scheduler.task_failed", task=task.name, owner=self.owner)
            async with self.sessions.begin() as session:
                await self._claim(session, task, now)
            return False

    async def _claim(self, session: AsyncSession, task: PeriodicTask, now: datetime) -> bool:
        current = period_start(now, task.interval)
        await session.execute(
            insert_ignoring_conflict(
                session,
                ScheduledTask,
                {"name": task.name, "next_run_at": current},
                index_elements=["name"],
            )
        )
        result = await session.execute(
            update(ScheduledTask)
            .where(ScheduledTask.name == task.name, ScheduledTask.next_run_at <= now)
            .values(next_run_at=current + task.interval, last_run_at=now, last_owner=self.owner)
        )
        return bool(getattr(result, "rowcount", 0) == 1)
