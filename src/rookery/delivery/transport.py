"""The HTTP client webhooks go out through: no redirects, a short timeout, and connections only
to the addresses the SSRF guard checked for this send.

The sender checks a URL with `rookery.delivery.ssrf.check_webhook_url` and sends within
`pinned(checked)`; the transport's network layer then connects to those addresses only (the URL
keeps its host name, so TLS verifies the certificate for it and keep-alive connections are
never shared between host names), and refuses to open a connection for anything not pinned.
A DNS answer that changes between the check and the connection therefore cannot redirect a
webhook into a private network.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Final

import httpcore2
import httpx2

from rookery.delivery.ssrf import CheckedUrl, IpAddress

# Standard Webhooks: a receiver answers within 15 to 30 seconds or the try has failed.
WEBHOOK_TIMEOUT_S: Final = 15.0
_KEEPALIVE_EXPIRY_S: Final = 5.0


@dataclass(frozen=True, slots=True)
class _Pin:
    host: str
    port: int
    addresses: tuple[IpAddress, ...]


_pin: ContextVar[_Pin | None] = ContextVar("rookery_webhook_pin", default=None)


@contextlib.contextmanager
def pinned(checked: CheckedUrl) -> Iterator[None]:
    """Within the context (this task), connections to `checked`'s host go to its checked
    addresses, and no other connection may be opened."""
    url = httpx2.URL(checked.url)
    port = url.port or (443 if url.scheme == "https" else 80)
    token = _pin.set(_Pin(url.raw_host.decode("ascii"), port, checked.addresses))
    try:
        yield
    finally:
        _pin.reset(token)


class _PinnedNetwork(httpcore2.AsyncNetworkBackend):
    """Opens TCP connections to the pinned addresses of the pinned host only."""

    def __init__(self) -> None:
        self._network = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        pin = _pin.get()
        if pin is None or (pin.host, pin.port) != (host, port):
            raise httpcore2.ConnectError(f"{host}:{port} was not checked for webhooks")
        refused: httpcore2.ConnectError | None = None
        for address in pin.addresses:
            try:
                return await self._network.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except httpcore2.ConnectError as error:
                refused = error
        raise refused or httpcore2.ConnectError(f"{host} has no checked address")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        raise httpcore2.ConnectError("webhooks never go to a unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._network.sleep(seconds)


class PinnedTransport(httpx2.AsyncHTTPTransport):
    """httpx2's transport with a network layer that connects only where `pinned` allows."""

    def __init__(self, *, max_connections: int) -> None:
        super().__init__(trust_env=False)
        # httpx2 has no public way to choose the pool's network backend, so its pool is
        # replaced by an equal one that has ours (tests/delivery prove that pinning holds).
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=httpx2.create_ssl_context(trust_env=False),
            max_connections=max_connections,
            keepalive_expiry=_KEEPALIVE_EXPIRY_S,
            network_backend=_PinnedNetwork(),
        )


def webhook_client(
    *, max_connections: int, transport: httpx2.AsyncBaseTransport | None = None
) -> httpx2.AsyncClient:
    """The client for webhooks: `PinnedTransport` (or `transport`, for tests), the webhook
    timeout, redirects never followed, no proxy or settings from the environment."""
    return httpx2.AsyncClient(
        transport=transport or PinnedTransport(max_connections=max_connections),
        timeout=httpx2.Timeout(WEBHOOK_TIMEOUT_S),
        follow_redirects=False,
        trust_env=False,
    )
