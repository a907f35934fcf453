"""Real servers on loopback for the sandbox tests: uvicorn in a background thread.

Starting and stopping uvicorn costs more than most tests, so `ServerPool` keeps servers running
for the whole session and lends them out one test at a time: each app a test serves is fresh (its
own lifespan, run in the server's loop) and is gone when the test ends, so no state is shared.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rookery.delivery.receiver import WebhookAnswer, WebhookReceiver, WebhookRequest

_LIFESPAN_TIMEOUT_S = 10.0


_START_TIMEOUT_S = 15.0


def loopback_listener() -> tuple[socket.socket, str]:
    """A socket bound to a free loopback port and its base URL, for an app that must know its
    own URL before it is built; hand both to `serve_on`."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextmanager
def serve_on(app: Any, sock: socket.socket, **config: Any) -> Iterator[None]:
    """Serve `app` (lifespan on) on the bound `sock` for the duration, then close `sock`."""
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="error",
            ws="none",
            lifespan="on",
            timeout_graceful_shutdown=1,
            **config,
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            sock.close()
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def serve(app: Any, **config: Any) -> Iterator[str]:
    """Serve `app` on a free loopback port for the duration; yields the base URL."""
    sock, url = loopback_listener()
    if "ssl_certfile" in config:
        url = url.replace("http://", "https://", 1)
    with serve_on(app, sock, **config):
        yield url


class _Lifespan:
    """Runs an app's ASGI lifespan by hand, inside a loop that is already serving."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._inbox: asyncio.Queue[Message] | None = None
        self._outbox: asyncio.Queue[Message] | None = None
        self._task: asyncio.Future[None] | None = None

    async def startup(self) -> None:
        self._inbox, self._outbox = asyncio.Queue(), asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self._task = asyncio.ensure_future(self._app(scope, self._inbox.get, self._outbox.put))
        await self._inbox.put({"type": "lifespan.startup"})
        message = await self._outbox.get()
        if message["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"the app did not start: {message}")

    async def shutdown(self) -> None:
        assert self._inbox is not None
        assert self._outbox is not None
        assert self._task is not None
        await self._inbox.put({"type": "lifespan.shutdown"})
        await self._outbox.get()
        await self._task


class _Slot:
    """One running server whose app can be swapped; answers 503 while it has none."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            self.loop = asyncio.get_running_loop()
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": message["type"] + ".complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if self.app is None:
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, send)

    def run(self, coroutine: Any) -> None:
        assert self.loop is not None
        asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(_LIFESPAN_TIMEOUT_S)


class ServerPool:
    """Loopback servers kept for a whole session; `serving(app)` lends one to an app."""

    def __init__(self) -> None:
        self._stack = ExitStack()
        self._free: list[tuple[_Slot, str]] = []

    def __enter__(self) -> ServerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    @contextmanager
    def serving(self, app: ASGIApp) -> Iterator[str]:
        """Serve `app` (lifespan included) until the block ends; yields the base URL."""
        if self._free:
            slot, url = self._free.pop()
        else:
            slot = _Slot()
            url = self._stack.enter_context(serve(slot))
        lifespan = _Lifespan(app)
        slot.run(lifespan.startup())
        slot.app = app
        try:
            yield url
        finally:
            slot.app = None
            slot.run(lifespan.shutdown())
            self._free.append((slot, url))


class Receiver(WebhookReceiver):
    """A webhook receiver: records every request; answers `status` (or hangs `delay_s` first)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.status = 200
        self.head_status = 200
        self.delay_s = 0.0
        self._lock = threading.Lock()

    def posts(self) -> list[dict[str, str]]:
        """The form bodies of the POSTs so far."""
        with self._lock:
            return [form for method, form in self.requests if method == "POST"]

    async def answer(self, request: WebhookRequest) -> WebhookAnswer:
        """Record the request's form, wait `delay_s` if set, answer `status` (`head_status`)."""
        with self._lock:
            self.requests.append((request.method, dict(parse_qsl(request.body.decode()))))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return WebhookAnswer(self.head_status if request.method == "HEAD" else self.status)
