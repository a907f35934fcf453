"""The verifying webhook receiver the demo runs: both signatures checked, each webhook queued."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import UTC, datetime

import httpx2

from rookery.delivery.receiver import Arrival, VerifyingReceiver
from rookery.delivery.signing import webhook_headers
from rookery.store.clients import new_webhook_secret

CLIENT_UUID = "3f1c2d4e-0000-4000-8000-000000000001"
HASH_KEY = "hash-key"
SENT_AT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SUMMARY = {
    "user_id": "u-1",
    "sleep_health": {
        "summary": {"sleep_summary": {"metadata": {"datetime_string": "2026-11-26T00:00:00Z"}}}
    },
}
EVENT = {"user_id": "u-1", "datetime": "2026-11-27T11:59:00Z", "action": "user_created"}


def _signed(
    secret: str, document: Mapping[str, object], datetime_string: str
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(document).encode()
    headers = webhook_headers(
        hash_key=HASH_KEY,
        webhook_secret=secret,
        client_uuid=CLIENT_UUID,
        user_id="u-1",
        datetime_string=datetime_string,
        webhook_id="msg_1",
        sent_at=SENT_AT,
        body=body,
    )
    return body, headers


def _post_all(
    secret: str, requests: list[tuple[str, str, bytes, dict[str, str]]]
) -> tuple[list[int], list[Arrival]]:
    async def run() -> tuple[list[int], list[Arrival]]:
        arrivals: asyncio.Queue[Arrival] = asyncio.Queue()
        receiver = VerifyingReceiver(
            client_uuid=CLIENT_UUID,
            hash_key=HASH_KEY,
            webhook_secret=secret,
            data_path="/data",
            events_path="/events",
            arrivals=arrivals,
        )
        transport = httpx2.ASGITransport(app=receiver)
        async with httpx2.AsyncClient(transport=transport, base_url="http://receiver") as client:
            statuses = [
                (await client.request(method, path, content=body, headers=headers)).status_code
                for method, path, body, headers in requests
            ]
        return statuses, [arrivals.get_nowait() for _ in range(arrivals.qsize())]

    return asyncio.run(run())


def test_signed_webhooks_are_accepted_and_queued_as_signed() -> None:
    secret = new_webhook_secret()
    data_body, data_headers = _signed(secret, SUMMARY, "2026-11-26T00:00:00Z")
    event_body, event_headers = _signed(secret, EVENT, EVENT["datetime"])

    statuses, arrivals = _post_all(
        secret,
        [
            ("POST", "/data", data_body, data_headers),
            ("POST", "/events", event_body, event_headers),
        ],
    )

    assert statuses == [204, 204]
    assert [(a.path, a.body, a.webhook_id, a.signatures_ok) for a in arrivals] == [
        ("/data", data_body, "msg_1", True),
        ("/events", event_body, "msg_1", True),
    ]


def test_a_wrong_signature_is_refused_but_still_queued() -> None:
    secret = new_webhook_secret()
    body, headers = _signed(secret, SUMMARY, "2026-11-26T00:00:00Z")
    wrong_secret_body, wrong_secret_headers = _signed(
        new_webhook_secret(), SUMMARY, "2026-11-26T00:00:00Z"
    )
    wrong_hash_headers = {**headers, "X-ROOK-HASH": "0" * 64}

    statuses, arrivals = _post_all(
        secret,
        [
            ("POST", "/data", body + b" ", headers),  # tampered body
            ("POST", "/data", wrong_secret_body, wrong_secret_headers),
            ("POST", "/data", body, wrong_hash_headers),
            ("POST", "/data", b"not json", headers),
        ],
    )

    assert statuses == [401, 401, 401, 401]
    assert [arrival.signatures_ok for arrival in arrivals] == [False] * 4


def test_anything_but_a_webhook_post_is_not_found_and_not_queued() -> None:
    secret = new_webhook_secret()
    body, headers = _signed(secret, SUMMARY, "2026-11-26T00:00:00Z")

    statuses, arrivals = _post_all(
        secret, [("GET", "/data", b"", {}), ("POST", "/elsewhere", body, headers)]
    )

    assert statuses == [404, 404]
    assert arrivals == []
