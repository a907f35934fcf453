"""The pipeline under faults, end to end over real HTTP on loopback: a 601 storm, a client
endpoint down then up, a worker killed mid-job; and the replay of what a live run archived."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from rookery.config import Settings
from rookery.delivery.queue import redeliver
from rookery.jobs.kinds import JobKind
from rookery.pipeline.rebuild import replay_connection
from rookery.sandbox.calls import busiest_minute
from rookery.sandbox.synth import generate_population
from rookery.store.archive import archived_connections
from rookery.store.engine import create_engine, session_factory
from rookery.store.enums import JobStatus
from rookery.store.tables import Delivery, DeliveryStatus, Document, Job
from tests.pipeline.harness import (
    DATA_PATH,
    delivered_weights,
    deployment,
    new_user_id,
    now_utc,
    sandbox_weights,
    start_worker,
    stop_worker,
)

pytestmark = pytest.mark.timeout(300)

BACKFILL_DAYS = 3
WITHINGS_LIMIT_PER_MINUTE = 120


def _replayed_versions(settings: Settings) -> int:
    """Replay every archived connection without delivering; the new versions it stored."""

    async def run() -> int:
        engine = create_engine(settings.database_url)
        try:
            sessions = session_factory(engine)
            async with sessions() as session:
                connections = await archived_connections(session)
            assert connections, "the live run archived its exchanges"
            total = 0
            for connection in connections:
                counts = await replay_connection(sessions, connection, deliver=False)
                total += counts.new_versions
            return total
        finally:
            await engine.dispose()

    return asyncio.run(run())


async def _document_versions(session: AsyncSession) -> dict[tuple[str, str], tuple[int, str]]:
    rows = await session.scalars(select(Document))
    return {
        (str(row.data_structure), row.source_key): (row.document_version, row.fingerprint)
        for row in rows
    }


async def _jobs_not_done(session: AsyncSession) -> list[tuple[str, JobStatus]]:
    rows = await session.execute(
        select(Job.kind, Job.status).where(
            Job.kind.in_([JobKind.PIPELINE_FETCH, JobKind.PIPELINE_BACKFILL]),
            Job.status != JobStatus.DONE,
        )
    )
    return [(kind, status) for kind, status in rows]


def test_a_601_storm_loses_nothing_and_replay_rebuilds_the_same_documents(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    population = generate_population(1, 21, now_utc=now_utc(), history_days=BACKFILL_DAYS + 2)
    account = population.accounts[0]
    with deployment(make_settings, database_url, population, backfill_days=BACKFILL_DAYS) as stack:
        # The storm: the next data calls are refused with 601, asking for a short wait.
        for path in ("/measure", "/v2/measure"):
            stack.control("POST", "faults", kind="rate_limit", count=3, wait_seconds=1, path=path)
        user_id = new_user_id()
        stack.link(user_id, account.userid)
        stack.wait_backfill(user_id)
        start_s = population.now_utc.timestamp() - BACKFILL_DAYS * 86_400
        expected = sandbox_weights(population, account.userid, start_s)
        assert expected
        stack.wait_for(lambda: delivered_weights(stack.data()) == expected, what="the weigh-ins")
        stack.settle()

        calls = stack.calls()
        storm = [call for call in calls if call["fault"] is not None]
        assert len(storm) == 6, "every refused call was one of the storm's"
        # Nothing over Withings' own limit: it never refused a call by itself.
        assert not [c for c in calls if c["status"] == 601 and c["fault"] is None]
        assert busiest_minute(calls) <= WITHINGS_LIMIT_PER_MINUTE
        # No data lost: every fetch finished, and each refused call was made again later.
        assert stack.query(_jobs_not_done) == []
        for refused in storm:
            assert any(
                c["action"] == refused["action"]
                and c["path"] == refused["path"]
                and c["status"] == 0
                and c["at"] >= refused["at"]
                for c in calls
            ), refused
        structures = {document["data_structure"] for document in stack.data()}
        assert {"sleep_summary", "physical_summary", "body_metrics_event"} <= structures

        # The retried jobs' archive rows interleave with other jobs': replay still agrees.
        before = stack.query(_document_versions)
        assert _replayed_versions(stack.settings) == 0
        assert stack.query(_document_versions) == before


async def _open_deliveries(session: AsyncSession) -> list[Delivery]:
    rows = await session.scalars(
        select(Delivery).where(Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.FAILED]))
    )
    return list(rows)


async def _redeliver_open(session: AsyncSession) -> int:
    opened = await _open_deliveries(session)
    for delivery in opened:
        await redeliver(session, delivery.client_id, delivery.id)
    return len(opened)


async def _statuses(session: AsyncSession) -> dict[DeliveryStatus, int]:
    rows = await session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
    return {status: int(count) for status, count in rows}


def test_a_client_endpoint_down_then_up_gets_everything(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    population = generate_population(1, 22, now_utc=now_utc(), history_days=BACKFILL_DAYS + 2)
    account = population.accounts[0]
    with deployment(make_settings, database_url, population, backfill_days=BACKFILL_DAYS) as stack:
        stack.receiver.status[DATA_PATH] = 503
        user_id = new_user_id()
        stack.link(user_id, account.userid)
        stack.wait_backfill(user_id)

        def all_refused() -> bool:
            statuses = stack.query(_statuses)
            return statuses.get(DeliveryStatus.FAILED, 0) > 0 and not statuses.get(
                DeliveryStatus.PENDING
            )

        stack.wait_for(all_refused, timeout_s=120, what="the deliveries refused")
        refused = len(stack.receiver.received(DATA_PATH))
        assert refused > 0
        # The endpoint is back: redeliver rather than wait for the retry schedule's minutes.
        stack.receiver.status[DATA_PATH] = 200
        assert stack.query(_redeliver_open) > 0
        stack.wait_for(lambda: not stack.query(_open_deliveries), what="every delivery sent")
        stack.settle()

        accepted = stack.data()[refused:]
        statuses = stack.query(_statuses)
        assert set(statuses) == {DeliveryStatus.DELIVERED}
        # Each delivery once, once the endpoint was up: as many documents as deliveries.
        assert len(accepted) == statuses[DeliveryStatus.DELIVERED] - len(stack.events())
        start_s = population.now_utc.timestamp() - BACKFILL_DAYS * 86_400
        assert delivered_weights(accepted) == sandbox_weights(population, account.userid, start_s)


def test_a_worker_killed_mid_job_loses_nothing(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    population = generate_population(1, 23, now_utc=now_utc(), history_days=BACKFILL_DAYS + 2)
    account = population.accounts[0]
    with deployment(
        make_settings, database_url, population, backfill_days=BACKFILL_DAYS, with_worker=False
    ) as stack:
        # The measures fetch's getmeas hangs: the worker is inside that job when it dies.
        stack.control("POST", "faults", kind="timeout", count=1, path="/measure", hang_s=60)
        first = start_worker(stack)
        try:
            user_id = new_user_id()
            stack.link(user_id, account.userid)
            stack.wait_for(
                lambda: not stack.control("GET", "faults")["faults"],
                timeout_s=120,
                what="the hanging call",
            )
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=20)
        finally:
            stop_worker(first)
        second = start_worker(stack)
        try:
            stack.wait_backfill(user_id)
            start_s = population.now_utc.timestamp() - BACKFILL_DAYS * 86_400
            expected = sandbox_weights(population, account.userid, start_s)
            assert expected
            stack.wait_for(
                lambda: delivered_weights(stack.data()) == expected, what="the weigh-ins"
            )
            stack.settle()
            assert stack.query(_jobs_not_done) == []
            statuses = stack.query(_statuses)
            assert set(statuses) == {DeliveryStatus.DELIVERED}
            # The killed run's hanging call was made again by the job's next run.
            calls = stack.calls()
            (hung,) = [c for c in calls if c["fault"] == "timeout"]
            assert any(
                c["path"] == "/measure" and c["status"] == 0 and c["at"] >= hung["at"]
                for c in calls
            )
        finally:
            stop_worker(second)
