"""A small webhook receiver: the client's side of delivery, for the demo, the tests and the bench.

`WebhookReceiver` is a bare ASGI app that answers the lifespan protocol, reads each request whole
and hands it to `answer`; a subclass decides what to check, record and reply. No framework sits
in between, so what a subclass sees is exactly what the sender put on the wire.
`VerifyingReceiver` is the one the demo runs: it checks both signatures of every webhook.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.types import Receive, Scope, Send

from rookery.delivery.signing import rook_hash, standard_signature


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """One request as it arrived; header names lower-cased, the query string undecoded."""

    method: str
    path: str
    query_string: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class WebhookAnswer:
    """What the receiver replies."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


class WebhookReceiver(ABC):
    """An ASGI app receiving webhooks: every HTTP request goes to `answer`, read to its end."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection event."""
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": message["type"] + ".complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = await read_body(receive)
        if body is None:
            return  # the sender went away mid-request (it died): there is no request to answer
        request = WebhookRequest(
            method=scope["method"],
            path=scope["path"],
            query_string=scope["query_string"].decode(),
            headers={key.decode().lower(): value.decode() for key, value in scope["headers"]},
            body=body,
        )
        answer = await self.answer(request)
        headers = [(key.encode(), value.encode()) for key, value in answer.headers.items()]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})

    @abstractmethod
    async def answer(self, request: WebhookRequest) -> WebhookAnswer:
        """The reply to one request (after recording or checking it, as the subclass needs)."""


async def read_body(receive: Receive) -> bytes | None:
    """The whole body of an ASGI HTTP request, however many messages it came in; None when the
    client disconnected before sending all of it (what arrived is not the body it signed)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


@dataclass(frozen=True, slots=True)
class Arrival:
    """A webhook the verifying receiver got."""

    path: str
    body: bytes
    webhook_id: str
    signatures_ok: bool
    received_at: datetime


class VerifyingReceiver(WebhookReceiver):
    """A client's side: takes data webhooks at `data_path` and events at `events_path`, checks
    X-ROOK-HASH and the Standard Webhooks signature, queues an `Arrival` for each and answers
    204 (401 when a signature is wrong, 404 for anything else)."""

    def __init__(
        self,
        *,
        client_uuid: str,
        hash_key: str,
        webhook_secret: str,
        data_path: str,
        events_path: str,
        arrivals: asyncio.Queue[Arrival],
    ) -> None:
        self._client_uuid = client_uuid
        self._hash_key = hash_key
        self._webhook_secret = webhook_secret
        self._data_path = data_path
        self._events_path = events_path
        self._arrivals = arrivals

    async def answer(self, request: WebhookRequest) -> WebhookAnswer:
        """204 for a webhook whose signatures are right, 401 for one that is not, else 404."""
        path, headers, body = request.path, request.headers, request.body
        known = request.method == "POST" and path in (self._data_path, self._events_path)
        verified = known and self.verify(headers, body, is_event=path == self._events_path)
        if known:
            self._arrivals.put_nowait(
                Arrival(path, body, headers.get("webhook-id", ""), verified, datetime.now(UTC))
            )
        return WebhookAnswer(204 if verified else 401 if known else 404)

    def verify(self, headers: Mapping[str, str], body: bytes, *, is_event: bool) -> bool:
        """Whether both signatures of one webhook are right (header names lower-cased)."""
        try:
            document = json.loads(body)
            user_id = str(document["user_id"])
            signed_at = str(document["datetime"]) if is_event else signed_datetime_string(document)
            timestamp = int(headers["webhook-timestamp"])
            webhook_id = headers["webhook-id"]
            expected_standard = standard_signature(
                self._webhook_secret, webhook_id, timestamp, body
            )
        except (ValueError, KeyError, TypeError):
            return False
        expected_hash = rook_hash(self._hash_key, self._client_uuid, user_id, signed_at)
        offered = headers.get("webhook-signature", "").split()
        return hmac.compare_digest(headers.get("x-rook-hash", ""), expected_hash) and any(
            hmac.compare_digest(signature, expected_standard) for signature in offered
        )


def signed_datetime_string(document: dict[str, Any]) -> str:
    """What X-ROOK-HASH signs for a data webhook: the summary's `metadata.datetime_string`, or
    the first event's; `KeyError` when the document has no pillar."""
    for pillar in ("sleep_health", "physical_health", "body_health"):
        content = document.get(pillar)
        if not isinstance(content, dict):
            continue
        if "summary" in content:
            structure = next(iter(content["summary"].values()))
            return str(structure["metadata"]["datetime_string"])
        events = next(iter(content["events"].values()))
        return str(events[0]["metadata"]["datetime_string"])
    raise KeyError("no pillar in the document")
