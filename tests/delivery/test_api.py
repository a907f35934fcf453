"""The deliveries API: listing by status with a cursor, one with its attempts, redelivery of
one and of a date range; a client sees only its own."""

from __future__ import annotations

from datetime import date

import httpx2
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rookery.store.tables import DeliveryStatus
from tests.delivery.conftest import SenderFactory
from tests.delivery.receiver import Receiver
from tests.delivery.seeds import ClientFactory, Seeded, document_body, enqueue, reload, seed

pytestmark = pytest.mark.anyio
Sessions = async_sessionmaker[AsyncSession]


def auth(seeded: Seeded) -> tuple[str, str]:
    return seeded.client_uuid, seeded.keys.secret_key


async def test_listing_by_status_pages_with_a_cursor(
    api: httpx2.AsyncClient,
    receiver: tuple[Receiver, str],
    new_client: ClientFactory,
    sessions: Sessions,
    make_sender: SenderFactory,
) -> None:
    _, url = receiver
    seeded = await seed(new_client, sessions, data_webhook_url=f"{url}/ok")
    delivered = [await enqueue(sessions, seeded, document_id=n) for n in range(5)]
    sender = make_sender()
    while await sender.send_due():  # a pass sends at most the per-client limit
        pass
    pending = await enqueue(sessions, seeded, document_id=99)

    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"status": "delivered", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await api.get("/api/v1/client/deliveries", params=params, auth=auth(seeded))).json()
        seen += [item["id"] for item in page["deliveries"]]
        assert all(item["status"] == "delivered" for item in page["deliveries"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [str(d.id) for d in reversed(delivered)]

    listing = await api.get("/api/v1/client/deliveries?status=pending", auth=auth(seeded))
    [only] = listing.json()["deliveries"]
    assert only["id"] == str(pending.id)
    assert only["webhook_id"] == pending.webhook_id
    assert (only["kind"], only["data_structure"], only["local_date"]) == (
        "data",
        "body_metrics_event",
        "2026-11-14",
    )

    bad = await api.get("/api/v1/client/deliveries?cursor=nonsense", auth=auth(seeded))
    assert bad.status_code == 422
    assert bad.json()["exception"] == "cursor is not one this API handed out"


async def test_one_delivery_with_its_attempts_and_only_for_its_client(
    api: httpx2.AsyncClient,
    receiver: tuple[Receiver, str],
    new_client: ClientFactory,
    sessions: Sessions,
    make_sender: SenderFactory,
) -> None:
    inbox, url = receiver
    inbox.status["/data"] = 503
    seeded = await seed(new_client, sessions, data_webhook_url=f"{url}/data")
    other = await seed(new_client, sessions, data_webhook_url=None)
    delivery = await enqueue(sessions, seeded)
    await make_sender().send_due()

    detail = await api.get(f"/api/v1/client/deliveries/{delivery.id}", auth=auth(seeded))
    body = detail.json()
    assert (body["status"], body["attempts"], body["last_status_code"]) == ("failed", 1, 503)
    [attempt] = body["history"]
    assert (attempt["attempt"], attempt["status_code"], attempt["url"]) == (
        1,
        503,
        f"{url}/data",
    )
    assert attempt["error"] == "HTTP 503: answer 503"

    for method, path in (
        ("GET", f"/api/v1/client/deliveries/{delivery.id}"),
        ("POST", f"/api/v1/client/deliveries/{delivery.id}/redeliver"),
    ):
        response = await api.request(method, path, auth=auth(other))
        assert response.status_code == 404, path
    assert (await api.get("/api/v1/client/deliveries", auth=auth(other))).json() == {
        "deliveries": [],
        "next_cursor": None,
    }


async def test_redelivering_a_dead_delivery_sends_a_new_message_with_the_same_body(
    api: httpx2.AsyncClient,
    receiver: tuple[Receiver, str],
    new_client: ClientFactory,
    sessions: Sessions,
    make_sender: SenderFactory,
) -> None:
    inbox, url = receiver
    inbox.status["/data"] = 410
    seeded = await seed(new_client, sessions, data_webhook_url=f"{url}/data")
    delivery = await enqueue(sessions, seeded)
    sender = make_sender()
    await sender.send_due()
    inbox.status["/data"] = 200

    response = await api.post(
        f"/api/v1/client/deliveries/{delivery.id}/redeliver", auth=auth(seeded)
    )
    assert response.status_code == 202
    repeat = response.json()
    assert repeat["redelivery_of"] == str(delivery.id)
    assert repeat["webhook_id"] != delivery.webhook_id
    assert repeat["status"] == "pending"
    await sender.send_due()

    first, second = inbox.received("/data")
    assert second.body == first.body == document_body("user-1", 1, 1)
    assert second.headers["webhook-id"] == repeat["webhook_id"]
    assert second.headers["x-rook-hash"] == first.headers["x-rook-hash"]
    assert (await reload(sessions, delivery.id)).status is DeliveryStatus.DEAD


async def test_redelivering_a_failed_delivery_tries_it_now(
    api: httpx2.AsyncClient,
    receiver: tuple[Receiver, str],
    new_client: ClientFactory,
    sessions: Sessions,
    make_sender: SenderFactory,
) -> None:
    inbox, url = receiver
    inbox.status["/data"] = 500
    seeded = await seed(new_client, sessions, data_webhook_url=f"{url}/data")
    delivery = await enqueue(sessions, seeded)
    sender = make_sender()
    await sender.send_due()
    inbox.status["/data"] = 200
    assert await sender.send_due() == 0  # its next try is minutes away

    response = await api.post(
        f"/api/v1/client/deliveries/{delivery.id}/redeliver", auth=auth(seeded)
    )
    assert response.json()["id"] == str(delivery.id)
    assert await sender.send_due() == 1
    stored = await reload(sessions, delivery.id)
    assert (stored.status, stored.attempts) == (DeliveryStatus.DELIVERED, 2)
    assert {post.headers["webhook-id"] for post in inbox.received("/data")} == {delivery.webhook_id}


async def test_range_redelivery_sends_the_latest_version_of_each_document_in_the_range(
    api: httpx2.AsyncClient,
    receiver: tuple[Receiver, str],
    new_client: ClientFactory,
    sessions: Sessions,
    make_sender: SenderFactory,
) -> None:
    inbox, url = receiver
    seeded = await seed(new_client, sessions, data_webhook_url=f"{url}/data")
    await enqueue(sessions, seeded, document_id=1, version=1, local_date=date(2026, 11, 10))
    await enqueue(sessions, seeded, document_id=1, version=2, local_date=date(2026, 11, 10))
    await enqueue(sessions, seeded, document_id=2, version=1, local_date=date(2026, 11, 12))
    await enqueue(sessions, seeded, document_id=3, version=1, local_date=date(2026, 11, 20))
    sender = make_sender()
    await sender.send_due()
    before = len(inbox.received("/data"))

    response = await api.post(
        "/api/v1/client/deliveries/redeliver",
        json={"user_id": "user-1", "from_date": "2026-11-10", "to_date": "2026-11-12"},
        auth=auth(seeded),
    )
    assert response.status_code == 202
    assert sorted(
        (d["document_version"], d["local_date"]) for d in response.json()["deliveries"]
    ) == [(1, "2026-11-12"), (2, "2026-11-10")]
    await sender.send_due()

    resent = [post.body for post in inbox.received("/data")[before:]]
    assert sorted(resent) == sorted([document_body("user-1", 1, 2), document_body("user-1", 2, 1)])


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (
            {"user_id": "user-1", "from_date": "2026-11-12", "to_date": "2026-11-10"},
            422,
            "from_date must not be after to_date",
        ),
        (
            {"user_id": "user-1", "from_date": "2025-01-01", "to_date": "2026-11-10"},
            422,
            "a redelivery range spans at most 366 days",
        ),
        (
            {"user_id": "nobody", "from_date": "2026-11-10", "to_date": "2026-11-10"},
            404,
            "no user nobody",
        ),
    ],
)
async def test_a_bad_range_is_refused(
    api: httpx2.AsyncClient,
    new_client: ClientFactory,
    sessions: Sessions,
    body: dict[str, str],
    status: int,
    message: str,
) -> None:
    seeded = await seed(new_client, sessions, data_webhook_url=None)
    response = await api.post("/api/v1/client/deliveries/redeliver", json=body, auth=auth(seeded))
    assert response.status_code == status
    assert response.json()["exception"] == message
