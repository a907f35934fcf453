"""A webhook receiver on loopback for the delivery tests: records every request with its exact
body and headers, and answers per path as told (a status, extra headers, or hanging)."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

from rookery.delivery.receiver import WebhookAnswer, WebhookReceiver, WebhookRequest


@dataclass(frozen=True, slots=True)
class Received:
    """One request as it arrived."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at_monotonic: float


@dataclass
class Receiver(WebhookReceiver):
    """ASGI app. `status[path]` (default 200), `headers[path]`, and paths in `hanging` never
    answer until `release()`."""

    status: dict[str, int] = field(default_factory=dict)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    hanging: set[str] = field(default_factory=set)
    _received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _released: threading.Event = field(default_factory=threading.Event)

    def received(self, path: str | None = None) -> list[Received]:
        """The requests so far (to `path` only, if given)."""
        with self._lock:
            return [r for r in self._received if path is None or r.path == path]

    def release(self) -> None:
        """Let hanging requests end."""
        self._released.set()

    async def answer(self, request: WebhookRequest) -> WebhookAnswer:
        """Record the request, hang if told, then answer as told for its path."""
        path = request.path
        with self._lock:
            self._received.append(
                Received(request.method, path, request.headers, request.body, time.monotonic())
            )
        if path in self.hanging:
            # Released from the test's thread, not this server's loop.
            await asyncio.to_thread(self._released.wait)
        status = self.status.get(path, 200)
        return WebhookAnswer(status, self.headers.get(path, {}), f"answer {status}".encode())
