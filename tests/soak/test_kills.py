"""The kill loop: under a steady load of Withings notifications, the worker process (jobs and
delivery sender) is killed with SIGKILL again and again, at random points drawn from a seeded RNG
(some while it is still starting), and restarted each time. Afterwards nothing is lost: every
record the sandbox holds was delivered, every version once (a repeat only as an at-least-once
retry under the same webhook-id), each body intact and signed."""

from __future__ import annotations

import random
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from itertools import count

import httpx2
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rookery.config import Settings
from rookery.jobs.queue import claim, defer, enqueue, fail, recover_expired
from rookery.sandbox.synth import generate_population
from rookery.store.enums import JobStatus
from rookery.store.tables import utc_now
from tests.delivery.receiver import Receiver
from tests.pipeline.harness import (
    DATA_PATH,
    Deployment,
    deployment,
    new_user_id,
    now_utc,
    start_worker,
    stop_worker,
)
from tests.sandbox.servers import serve
from tests.soak.common import (
    audit,
    data_deliveries,
    delivery_statuses,
    drain,
    expire_leases,
    parked_jobs,
    sized,
    stored_documents,
    undelivered,
    write_figures,
)

pytestmark = pytest.mark.timeout(sized(300, 1800))

KILLS = sized(5, 50)
SEED = 20261128
# A kill comes this long (at most) after the worker started or became ready.
MAX_KILL_DELAY_S = 2.5
# The share of kills made while the worker is still starting (before it reports ready).
KILLED_STARTING = 0.2
LOAD_INTERVAL_S = 0.25


class _Load(threading.Thread):
    """The steady load: a weigh-in for each user in turn every `LOAD_INTERVAL_S` (Withings
    notifies each), every fourth one changed a moment later (a second version)."""

    def __init__(self, stack: Deployment, userids: list[int]) -> None:
        super().__init__(daemon=True)
        self._stack = stack
        self._userids = userids
        self._halt = threading.Event()
        self.added = 0
        self.changed = 0
        self.error: BaseException | None = None

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=30)
        if self.error is not None:
            raise self.error

    def run(self) -> None:
        # Its own client: the test's thread uses the deployment's meanwhile.
        with httpx2.Client(base_url=f"{self._stack.sandbox_url}/_sandbox", timeout=30) as http:
            try:
                for index in count():
                    if self._halt.wait(LOAD_INTERVAL_S):
                        return
                    self._weigh_in(http, index)
            except BaseException as error:  # reported by stop()
                self.error = error

    def _weigh_in(self, http: httpx2.Client, index: int) -> None:
        userid = self._userids[index % len(self._userids)]
        taken_s = int(http.get("/clock").raise_for_status().json()["now"])
        measure = {"value": 60_000 + index, "type": 1, "unit": -3}
        http.post(
            f"/users/{userid}/records",
            json={"kind": "measuregrps", "record": {"date": taken_s, "measures": [measure]}},
        ).raise_for_status()
        self.added += 1
        if index % 4 == 0:
            group = self._stack.population.user(userid).measuregrps[-1]
            http.patch(
                f"/users/{userid}/records/measuregrps/{group['grpid']}",
                json={"changes": {"measures": [{**measure, "value": 59_000 + index}]}},
            ).raise_for_status()
            self.changed += 1


def test_a_worker_killed_again_and_again_under_load_loses_nothing(
    make_settings: Callable[..., Settings], soak_database_url: str
) -> None:
    started = time.monotonic()
    rng = random.Random(SEED)  # reproducible kill points
    population = generate_population(2, 91, now_utc=now_utc(), history_days=1)
    userids = [account.userid for account in population.accounts]
    user_ids = {userid: new_user_id() for userid in userids}
    killed_starting = 0
    with deployment(
        make_settings, soak_database_url, population, backfill_days=2, with_worker=False
    ) as stack:
        worker = start_worker(stack)
        for userid in userids:
            stack.link(user_ids[userid], userid)
        load = _Load(stack, userids)
        load.start()
        try:
            for _ in range(KILLS):
                time.sleep(rng.uniform(0.0, MAX_KILL_DELAY_S))
                worker.send_signal(signal.SIGKILL)
                worker.wait(timeout=20)
                stop_worker(worker)
                starting = rng.random() < KILLED_STARTING
                killed_starting += starting
                worker = start_worker(stack, wait_ready=not starting)
        finally:
            load.stop()
            stop_worker(worker)
        # The last worker's successor: the dead ones' leases are over (as time would make them).
        stack.query(expire_leases)
        worker = start_worker(stack)
        try:
            drain(stack, timeout_s=sized(180, 600))
            backfills = {stack.sync(user_id)["backfill"]["status"] for user_id in user_ids.values()}
            now_s = int(stack.control("GET", "clock")["now"])
            parked = stack.query(parked_jobs)
            statuses = stack.query(delivery_statuses)
            stored = stack.query(data_deliveries)
            result = audit(stack.receiver.received(DATA_PATH), stored, stack.client.webhook_secret)
            checked, wrong = undelivered(
                stack, user_ids, result, stack.query(stored_documents), now_s=now_s
            )
        finally:
            stop_worker(worker)

    assert result.problems == []
    assert result.webhook_ids == set(stored), "every data message received"
    assert wrong == []
    assert parked == []
    assert backfills == {"done"}
    assert set(statuses) == {"delivered"}
    write_figures(
        f"kills-{soak_database_url.split(':', 1)[0]}",
        {
            "kills": KILLS,
            "killed_while_starting": killed_starting,
            "weigh_ins_notified": load.added,
            "weigh_ins_changed": load.changed,
            "data_messages": len(stored),
            "client_events": sum(statuses.values()) - len(stored),
            "data_posts_received": result.receipts,
            "retried_receipts": result.retries,
            "record_documents_checked": checked,
            "duration_s": round(time.monotonic() - started, 1),
        },
    )


@pytest.mark.anyio
async def test_a_job_back_to_the_queue_beside_its_queued_twin_wedges_nothing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """What the kill loop found: a killed worker's job whose dedupe key a new notification
    queued again while it ran could not be recovered (the partial unique index refused it), and
    the failed recovery stopped every worker's claims for good. Recovered, failed and deferred
    jobs now run beside their twin; the twin keeps the key."""
    now = utc_now()
    key = "pipeline.fetch:connection:measures"
    async with sessions.begin() as session:
        first = await enqueue(session, "test.a", {"n": 1}, dedupe_key=key, now=now)
        second = await enqueue(session, "test.a", {"n": 2}, dedupe_key=f"{key}:2", now=now)
    async with sessions.begin() as session:
        claimed = await claim(session, owner="dead", kinds=["test.a"], limit=2, lease_s=1, now=now)
    assert {job.id for job in claimed} == {first, second}
    async with sessions.begin() as session:
        twin = await enqueue(session, "test.a", {"n": 3}, dedupe_key=key, now=now)
        await enqueue(session, "test.a", {"n": 4}, dedupe_key=f"{key}:2", now=now)

    later = now + timedelta(seconds=2)
    async with sessions.begin() as session:
        assert await recover_expired(session, now=later) == 2
    async with sessions.begin() as session:
        running = await claim(session, owner="w", kinds=["test.a"], limit=10, lease_s=30, now=later)
    assert len(running) == 4
    by_id = {job.id: job for job in running}
    assert (by_id[first].dedupe_key, by_id[twin].dedupe_key) == (None, key)

    # A failure or a deferral going back to the queue beside a new twin.
    async with sessions.begin() as session:
        again = await enqueue(session, "test.a", {"n": 5}, dedupe_key=key, now=now)
        assert again != twin
        assert await fail(session, by_id[twin], owner="w", error="boom", retry_after_s=0) is (
            JobStatus.QUEUED
        )
    async with sessions.begin() as session:
        await enqueue(session, "test.a", {"n": 6}, dedupe_key=f"{key}:2", now=now)
        second_running = next(job for job in running if job.dedupe_key == f"{key}:2")
        assert await defer(session, second_running.id, owner="w", after_s=0, reason="later")


def test_a_sender_killed_mid_body_delivers_nothing() -> None:
    """What the kill loop found: a sender killed halfway through a POST left the receiver a
    truncated body, which it took for a whole (and unverifiable) webhook."""
    receiver = Receiver()
    body = b'{"data_structure": "body_metrics_event"}' * 4
    with serve(receiver) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as connection:
            head = f"POST /data HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n\r\n"
            connection.sendall(head.encode() + body[: len(body) // 2])
            time.sleep(0.2)  # the first half is read before the sender dies
        # A whole request afterwards is received: the receiver did not stop.
        assert httpx2.post(f"{url}/data", content=body).status_code == 200
    assert [request.body for request in receiver.received()] == [body]
