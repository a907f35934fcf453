"""The sender against a real receiver on loopback, on both engines: signatures and exact bodies,
the schedule (on a clock moved by hand), dead deliveries and `delivery_rejected`, isolation
between clients, wake-up on commit, several senders, and the SSRF guard at send time."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks import Webhook

from rookery.delivery.schedule import DEFAULT_RETRY_DELAYS
from rookery.delivery.sender import SenderLimits
from rookery.delivery.ssrf import IpAddress, Resolver
from rookery.store.clients import set_webhooks
from rookery.store.engine import create_engine
from rookery.store.tables import Client, Delivery, DeliveryKind, DeliveryStatus
from tests.delivery.conftest import Clock, SenderFactory
from tests.delivery.receiver import Receiver
from tests.delivery.seeds import (
    DATETIME_STRING,
    ClientFactory,
    all_deliveries,
    attempts,
    document_body,
    enqueue,
    enqueue_in,
    reload,
    seed,
)

pytestmark = pytest.mark.anyio
Sessions = async_sessionmaker[AsyncSession]


async def test_one_post_per_document_signed_with_the_exact_body(
    receiver: tuple[Receiver, str],
    new_client: ClientFactory,
    sessions: Sessions,
    make_sender: SenderFactory,
) -> None:
    inbox, url = receiver
    seeded = await seed(new_client, sessions, data_webhook_url=f"{url}/data")
    first = await enqueue(sessions, seeded, document_id=1)
    second = await enqueue(sessions, seeded, document_id=2)

    assert await make_sender().send_due() == 2

    posts = inbox.received("/data")
    assert [post.method for post in posts] == ["POST", "POST"]
    by_id = {post.headers["webhook-id"]: post for post in posts}
    assert set(by_id) == {first.webhook_id, second.webhook_id}
    for delivery, document_id in ((first, 1), (second, 2)):
        post = by_id[delivery.webhook_id]
        assert post.body == document_body("user-1", document_id, 1)
        assert post.headers["content-type"] == "application/json"
        Webhook(seeded.keys.webhook_secret).verify(post.body, post.headers, json_parse=False)
        expected_hash = hmac.new(
            seeded.keys.hash_key.encode(),
            f"{seeded.client_uuid}user-1{DATETIME_STRING}".encode(),
            hashlib.sha256,
        ).hexdigest()
        assert post.headers["x-rook-hash"] == expected_hash
        stored = await reload(sessions, delivery.id)
        assert (stored.status, stored.attempts, stored.last_status_code) == (
            DeliveryStatus.DELIVERED,
            1,
            200,
        )
        assert stored.delivered_at is not None
        [attempt] = await attempts(sessions, delivery.id)
        assert (attempt.status_code, attempt.error) == (200, None)
        assert attempt.latency_ms is not None
    # Nothing is sent twice.
    assert await make_sender().send_due() == 0


async def test_500_retries_on_the_schedule_then_dead_and_the_client_is_told_once(
    receiver: tuple[Receiver, str],
    new_client: ClientFactory,
    sessions: Sessions,
    make_sender: SenderFactory,
    clock: Clock,
) -> None:
    inbox, url = receiver
    inbox.status["/data"] = 500
    seeded = await seed(
        new_client, sessions, data_webhook_url=f"{url}/data", notification_webhook_url=f"{url}/ev"
    )
    delivery = await enqueue(sessions, seeded)
    sender = make_sender()

    for attempt, slot in enumerate(DEFAULT_RETRY_DELAYS, start=1):
        assert await sender.send_due() == 1
        stored = await reload(sessions, delivery.id)
        assert (stored.status, stored.attempts, stored.last_status_code) == (
            DeliveryStatus.FAILED,
            attempt,
            500,
        )
        assert stored.next_attempt_at is not None
        wait = stored.next_attempt_at - clock.now
        assert slot * 0.9 <= wait <= slot * 1.1
        # Not before its time.
        clock.advance(wait - timedelta(seconds=1))
        assert await sender.send_due() == 0
        clock.advance_to(stored.next_attempt_at)

    assert await sender.send_due() == 1  # the last try
    assert await sender.send_due() == 1  # the notification it caused
    stored = await reload(sessions, delivery.id)
    assert (stored.status, stored.attempts, stored.next_attempt_at) == (
        DeliveryStatus.DEAD,
        9,
        None,
    )
    assert stored.last_error == "HTTP 500: answer 500"
    tries = inbox.received("/data")
    assert len(tries) == 9
    assert {post.headers["webhook-id"] for post in tries} == {delivery.webhook_id}
    assert len({post.headers["webhook-timestamp"] for post in tries}) == 9

    [notice] = inbox.received("/ev")
    message = json.loads(notice.body)
    assert set(message) == {
        "client_uuid",
        "user_id",
        "data_source",
        "action",
        "level",
        "message",
        "datetime",
    }
    assert (message["action"], message["user_id"], message["client_uuid"]) == (
        "delivery_rejected",
        "user-1",
        seeded.client_uuid,
    )
    assert (message["data_source"], message["level"]) == ("Withings", "error")
    assert delivery.webhook_id in message["message"]
    expected_hash = hmac.new(
        seeded.keys.hash_key.encode(),
        f"{seeded.client_uuid}user-1{message['datetime']}".encode(),
        hashlib.sha256,
    ).hexdigest()
    assert notice.headers["x-rook-hash"] == expected_hash
    # The clock is days ahead now, beyond verify()'s tolerance: check the signature itself.
    sent_at = datetime.fromtimestamp(int(notice.headers["webhook-timestamp"]), UTC)
    assert notice.headers["webhook-signature"] == Webhook(seeded.keys.webhook_secret).sign(
        notice.headers["webhook-id"], sent_at, notice.body.decode()
    )

    # Dead stays dead: nothing more is sent, days later.
    clock.advance(timedelta(days=10))
    assert await sender.send_due() == 0


async def test_a_dead_notification_raises_no_further_notification(
    receiver: tuple[Receiver, str],
    new_client: ClientFactory,
    sessions: Sessions,
    make_sender: SenderFactory,
) -> None:
    inbox, url = receiver
    inbox.status["/data"] = 410
    inbox.status["/ev"] = 410
    seeded = await seed(
        new_client, sessions, data_webhook_url=f"{url}/data", notification_webhook_url=f"{url}/ev"
    )
    delivery = await enqueue(sessions, seeded)
    sender = make_sender()

    assert await sender.send_due() == 1  # 410: dead at once
    assert (await reload(sessions, delivery.id)).status is DeliveryStatus.DEAD
    assert await sender.send_due() == 1  # the delivery_rejected notification, also 410
    assert await sender.send_due() == 0
    kinds = [(d.kind, d.status) for d in await all_deliveries(sessions)]
    assert kinds == [
        (DeliveryKind.DATA, DeliveryStatus.DEAD),
        (DeliveryKind.NOTIFICATION, DeliveryStatus.DEAD),
    ]


async def test_a_redirect_is_a_failure_and_is_not_followed(
    receiver: tuple[Receiver, str],
    new_client: ClientFactory,
    sessions: Sessions,
    make_sender: SenderFactory,
) -> None:
    inbox, url = receiver
    inbox.status["/data"] = 301
    inbox.headers["/data"] = {"Location": f"{url}/elsewhere"}
    seeded = await seed(new_client, sessions, data_webhook_url=f"{url}/data")
    delivery = await enqueue(sessions, seeded)

    assert await make_sender().send_due() == 1

    assert inbox.received("/elsewhere") == []
    stored = await reload(sessions, delivery.id)
    assert (stored.status, stored.last_status_code) == (DeliveryStatus.FAILED, 301)


async def test_retry_after_moves_the_next_try(
    receiver: tuple[Receiver, str],
    new_client: ClientFactory,
    sessions: Sessions,
    make_sender: SenderFactory,
    clock: Clock,
) -> None:
    inbox, url = receiver
    inbox.status["/data"] = 429
    inbox.headers["/data"] = {"Retry-After": "120"}
    seeded = await seed(new_client, sessions, data_webhook_url=f"{url}/data")
    delivery = await enqueue(sessions, seeded)

    await make_sender().send_due()

    stored = await reload(sessions, delivery.id)
    assert stored.next_attempt_at is not None
    # 120 s from the moment the answer was judged (the clock runs on meanwhile).
    assert timedelta(seconds=118) < stored.next_attempt_at - clock.now <= timedelta(seconds=120)


async def test_without_a_url_deliveries_fail_visibly_until_one_is_set(
    receiver: tuple[Receiver, str],
    new_client: ClientFactory,
    sessions: Sessions,
    make_sender: SenderFactory,
    clock: Clock,
) -> None:
    inbox, url = receiver
    seeded = await seed(new_client, sessions, data_webhook_url=None)
    delivery = await enqueue(sessions, seeded)
    sender = make_sender()

    await sender.send_due()
    stored = await reload(sessions, delivery.id)
    assert (stored.status, stored.last_error) == (
        DeliveryStatus.FAILED,
        "the client has no data webhook URL set",
    )
    async with sessions.begin() as session:
        client = await session.get_one(Client, seeded.keys.client_uuid)
        await set_webhooks(
            session,
            client,
            data_webhook_url=f"{url}/data",
            notification_webhook_url=None,
            actor="test",
        )
    assert stored.next_attempt_at is not None
    clock.advance_to(stored.next_attempt_at)
    await sender.send_due()

    assert (await reload(sessions, delivery.id)).status is DeliveryStatus.DELIVERED
    assert len(inbox.received("/data")) == 1


async def test_a_delivery_enqueued_in_a_rolled_back_transaction_is_never_sent(
    receiver: tuple[Receiver, str],
    new_client: ClientFactory,
    sessions: Sessions,
    make_sender: SenderFactory,
) -> None:
    inbox, url = receiver
    seeded = await seed(new_client, sessions, data_webhook_url=f"{url}/data")

    async def enqueue_then_fail() -> None:
        async with sessions.begin() as session:
            await enqueue_in(session, seeded)
            raise LookupError("the producer failed after enqueueing")

    with pytest.raises(LookupError):
        await enqueue_then_fail()
    sender = make_sender(poll_interval_s=0.05)

    async with sender:
        await asyncio.sleep(0.3)
    assert inbox.received() == []
    assert await all_deliveries(sessions) == []


async def test_the_ssrf_guard_runs_again_at_send_time(
    receiver: tuple[Receiver, str],
    new_client: ClientFactory,
    sessions: Sessions,
    make_sender: SenderFactory,
) -> None:
    inbox, url = receiver
    seeded = await seed(new_client, sessions, data_webhook_url=f"{url}/data")
    delivery = await enqueue(sessions, seeded)

    # The URL was fine when set; its host now resolves to a private address.
    await make_sender(resolver=resolving_to("10.0.0.5")).send_due()

    assert inbox.received() == []
    stored = await reload(sessions, delivery.id)
    assert stored.status is DeliveryStatus.FAILED
    assert stored.last_error is not None
    assert "not sent" in stored.last_error
    assert "10.0.0.5" in stored.last_error
    [attempt] = await attempts(sessions, delivery.id)
    assert attempt.status_code is None


async def test_the_connection_goes_to_the_checked_address(
    receiver: tuple[Receiver, str],
    new_client: ClientFactory,
    sessions: Sessions,
    make_sender: SenderFactory,
) -> None:
    inbox, url = receiver
    port = url.rsplit(":", 1)[1]
    # A name no DNS knows: only the address the check returned can have been used.
    seeded = await seed(
        new_client, sessions, data_webhook_url=f"http://hooks.rookery.test:{port}/data"
    )
    delivery = await enqueue(sessions, seeded)

    await make_sender(resolver=resolving_to("127.0.0.1")).send_due()

    assert (await reload(sessions, delivery.id)).status is DeliveryStatus.DELIVERED
    [post] = inbox.received("/data")
    assert post.headers["host"] == f"hooks.rookery.test:{port}"


async def test_a_hanging_client_does_not_delay_another(
    receiver: tuple[Receiver, str],
    new_client: ClientFactory,
    sessions: Sessions,
    make_sender: SenderFactory,
) -> None:
    inbox, url = receiver
    inbox.hanging.add("/slow")
    slow = await seed(new_client, sessions, data_webhook_url=f"{url}/slow")
    fast = await seed(new_client, sessions, data_webhook_url=f"{url}/fast")
    limits = SenderLimits(per_client=3, total=8)
    async with make_sender(limits=limits, poll_interval_s=30.0, clock=utc_clock):
        try:
            for document_id in range(20):
                await enqueue(sessions, slow, document_id=document_id)
            await wait_for(lambda: len(inbox.received("/slow")) >= limits.per_client)
            started = time.monotonic()
            for document_id in range(5):
                await enqueue(sessions, fast, document_id=document_id)
            await wait_for(lambda: len(inbox.received("/fast")) == 5)
            # Far below the 15 s a hanging send may take: the fast client never waited for it.
            assert time.monotonic() - started < 5.0
            # The hanging client never holds more than its share.
            assert len(inbox.received("/slow")) == limits.per_client
        finally:
            inbox.release()


async def test_a_commit_wakes_the_sender_at_once(
    receiver: tuple[Receiver, str],
    new_client: ClientFactory,
    sessions: Sessions,
    make_sender: SenderFactory,
) -> None:
    inbox, url = receiver
    seeded = await seed(new_client, sessions, data_webhook_url=f"{url}/data")
    # A poll interval far longer than the test: only the wake-up can explain a quick send.
    async with make_sender(poll_interval_s=60.0, clock=utc_clock):
        await asyncio.sleep(0.1)
        started = time.monotonic()
        await enqueue(sessions, seeded)
        await wait_for(lambda: len(inbox.received("/data")) == 1)
        assert time.monotonic() - started < 5.0  # a tenth of the poll interval


async def test_several_senders_never_send_the_same_attempt_twice(
    receiver: tuple[Receiver, str],
    new_client: ClientFactory,
    sessions: Sessions,
    make_sender: SenderFactory,
    settings: object,
) -> None:
    inbox, url = receiver
    seeded = await seed(new_client, sessions, data_webhook_url=f"{url}/data")
    count = 40
    async with sessions.begin() as session:
        for document_id in range(count):
            await enqueue_in(session, seeded, document_id=document_id)
    from rookery.config import Settings

    assert isinstance(settings, Settings)
    engines = [create_engine(settings.database_url) for _ in range(3)]
    try:
        senders = [
            make_sender(engine=engine, clock=utc_clock, poll_interval_s=0.02) for engine in engines
        ]
        await asyncio.gather(*(sender.start() for sender in senders))
        try:
            await wait_for(lambda: len(inbox.received("/data")) >= count)
            await asyncio.sleep(0.3)  # anything sent twice would arrive by now
        finally:
            await asyncio.gather(*(sender.stop() for sender in senders))
    finally:
        for engine in engines:
            await engine.dispose()

    ids = [post.headers["webhook-id"] for post in inbox.received("/data")]
    assert len(ids) == count
    assert len(set(ids)) == count
    async with sessions() as session:
        delivered = await session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.status == DeliveryStatus.DELIVERED, Delivery.attempts == 1)
        )
    assert delivered == count


async def test_dead_deliveries_are_purged_after_the_retention(
    receiver: tuple[Receiver, str],
    new_client: ClientFactory,
    sessions: Sessions,
    make_sender: SenderFactory,
    clock: Clock,
) -> None:
    inbox, url = receiver
    inbox.status["/data"] = 410
    seeded = await seed(new_client, sessions, data_webhook_url=f"{url}/data")
    old = await enqueue(sessions, seeded, document_id=1)
    sender = make_sender(dead_retention=timedelta(days=30))
    await sender.send_due()
    clock.advance(timedelta(days=20))
    recent = await enqueue(sessions, seeded, document_id=2)
    await sender.send_due()

    clock.advance(timedelta(days=11))
    assert await sender.purge() == 1

    remaining = {d.id for d in await all_deliveries(sessions)}
    assert old.id not in remaining
    assert recent.id in remaining
    assert await attempts(sessions, old.id) == []


def utc_clock() -> datetime:
    return datetime.now(UTC)


def resolving_to(*addresses: str) -> Resolver:
    async def resolve(host: str, port: int) -> list[IpAddress]:
        return [ipaddress.ip_address(address) for address in addresses]

    return resolve


async def wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.01)
