"""A client's webhook endpoint down for 48 simulated hours, then back: everything it missed is
delivered, each message once it is up and none dead, while another client's endpoint gets its
deliveries at once throughout. The real sender against a real loopback receiver and database,
on a clock moved by hand (the hours are simulated, the HTTP is not).

A hanging endpoint never blocking the others is tests/delivery/test_sender.py's
`test_a_hanging_client_does_not_delay_another`."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from standardwebhooks import Webhook

from rookery.delivery.sender import Sender
from rookery.delivery.ssrf import WebhookPolicy
from rookery.delivery.transport import webhook_client
from rookery.store.crypto import TokenCipher
from rookery.store.tables import Delivery, DeliveryStatus
from tests.delivery.conftest import Clock
from tests.delivery.receiver import Receiver
from tests.delivery.seeds import ClientFactory, Seeded, all_deliveries, document_body, enqueue, seed
from tests.sandbox.servers import serve
from tests.soak.common import sized, write_figures

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(sized(120, 900))]

DOWNTIME = timedelta(hours=48)
# Past the schedule's last try of a message first refused at the start of the downtime.
HORIZON = timedelta(days=5)
STEP = sized(timedelta(minutes=30), timedelta(minutes=2))
DOCUMENTS_AT_START = sized(10, 100)
# While the endpoint is down, a new document for each client this often.
NEW_DOCUMENT_EVERY = sized(timedelta(hours=4), timedelta(minutes=30))


async def _send_all_due(sender: Sender) -> int:
    """Send what is due until nothing is (a pass sends at most the sender's limits)."""
    sent = 0
    while passed := await sender.send_due():
        sent += passed
    return sent


def _signed(post_headers: dict[str, str], body: bytes, secret: str) -> bool:
    """Whether the Standard Webhooks signature signs `body` at the header's timestamp (the
    clock is days ahead, past `verify`'s tolerance, so the signature is checked by itself)."""
    sent_at = datetime.fromtimestamp(int(post_headers["webhook-timestamp"]), UTC)
    expected = Webhook(secret).sign(post_headers["webhook-id"], sent_at, body.decode())
    return post_headers["webhook-signature"] == expected


@pytest.fixture
async def inbox() -> AsyncIterator[tuple[Receiver, str]]:
    """A receiver on loopback and its base URL."""
    receiver = Receiver()
    with serve(receiver) as url:
        yield receiver, url


async def test_an_endpoint_down_for_48_hours_gets_everything_once_it_is_back(
    inbox: tuple[Receiver, str],
    new_client: ClientFactory,
    sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    cipher: TokenCipher,
) -> None:
    started = time.monotonic()
    receiver, url = inbox
    receiver.status["/down"] = 503
    down = await seed(new_client, sessions, data_webhook_url=f"{url}/down")
    up = await seed(new_client, sessions, data_webhook_url=f"{url}/up")
    clock = Clock()
    began = clock.now
    documents = {"/down": 0, "/up": 0}

    async def add_document(client: Seeded, path: str) -> Delivery:
        documents[path] += 1
        return await enqueue(sessions, client, document_id=documents[path])

    for _ in range(DOCUMENTS_AT_START):
        await add_document(down, "/down")
        await add_document(up, "/up")
    steps = 0
    refused = 0
    async with webhook_client(max_connections=32) as http:
        sender = Sender(
            engine=engine,
            cipher=cipher,
            http=http,
            policy=WebhookPolicy(allow_loopback=True),
            clock=clock,
            rng=random.Random(48),
        )
        next_document = began + NEW_DOCUMENT_EVERY
        while clock.now - began < HORIZON:
            if clock.now - began < DOWNTIME and clock.now >= next_document:
                await add_document(down, "/down")
                fresh = await add_document(up, "/up")
                next_document += NEW_DOCUMENT_EVERY
            else:
                fresh = None
            await _send_all_due(sender)
            if fresh is not None:
                # The other client's endpoint is up: its document went at once, in this step.
                assert [p.headers["webhook-id"] for p in receiver.received("/up")][-1] == (
                    fresh.webhook_id
                )
            if receiver.status["/down"] != 200 and clock.now - began >= DOWNTIME:
                refused = len(receiver.received("/down"))
                receiver.status["/down"] = 200
            clock.advance(STEP)
            steps += 1

    deliveries = await all_deliveries(sessions)
    assert {d.status for d in deliveries} == {DeliveryStatus.DELIVERED}
    # Each message once after the comeback (none before: the endpoint refused them all),
    # intact and signed.
    accepted = receiver.received("/down")[refused:]
    by_id = {d.webhook_id: d for d in deliveries if d.client_id == down.keys.client_uuid}
    assert len(by_id) == documents["/down"]
    assert sorted(p.headers["webhook-id"] for p in accepted) == sorted(by_id)
    for post in accepted:
        delivery = by_id[post.headers["webhook-id"]]
        assert delivery.document_id is not None
        assert post.body == document_body(down.user_id, delivery.document_id, 1)
        assert _signed(post.headers, post.body, down.keys.webhook_secret)
    # The other client got each of its messages at the first try.
    assert len(receiver.received("/up")) == documents["/up"]
    assert {d.attempts for d in deliveries if d.client_id == up.keys.client_uuid} == {1}
    write_figures(
        f"endpoint-down-{engine.dialect.name}",
        {
            "simulated_downtime_h": DOWNTIME / timedelta(hours=1),
            "simulated_span_h": HORIZON / timedelta(hours=1),
            "steps": steps,
            "messages_to_the_down_endpoint": documents["/down"],
            "refused_tries": refused,
            "most_tries_of_a_message": max(d.attempts for d in by_id.values()),
            "messages_to_the_other_endpoint": documents["/up"],
            "dead": sum(d.status is DeliveryStatus.DEAD for d in deliveries),
            "duration_s": round(time.monotonic() - started, 1),
        },
    )
