"""A webhook receiver on loopback for the delivery tests: records every request with its exact
body and headers, and answers per path as told (a status, extra headers, or hanging)."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Received:
    """One request as it arrived."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at_monotonic: float


@dataclass
class Receiver:
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

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": message["type"] + ".complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        headers = {key.decode().lower(): value.decode() for key, value in scope["headers"]}
        with self._lock:
            self._received.append(Received(scope["method"], path, headers, body, time.monotonic()))
        if path in self.hanging:
            # Released from the test's thread, not this server's loop.
            await asyncio.to_thread(self._released.wait)
        extra = [(k.encode(), v.encode()) for k, v in self.headers.get(path, {}).items()]
        status = self.status.get(path, 200)
        await send({"type": "http.response.start", "status": status, "headers": extra})
        await send({"type": "http.response.body", "body": f"answer {status}".encode()})
