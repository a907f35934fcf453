"""Which webhook URLs Rookery may call (server-side request forgery guard).

A client chooses its webhook URLs, so without a check a client could make Rookery call the
operator's private services. A URL is accepted when it is http(s) and every address its host
resolves to is public, or inside `ROOKERY_WEBHOOK_ALLOWED_NETWORKS`, or on loopback while
`ROOKERY_PUBLIC_URL` is itself on loopback (a local run, the demo, tests). Checked when a URL is
set and again before each send (DNS can change in between); the sender should connect to the
addresses the check returns.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from rookery.config import IpNetwork, Settings
from rookery.errors import InvalidInputError

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> every address the host resolves to; raises OSError when it does not resolve.
Resolver = Callable[[str, int], Awaitable[list[IpAddress]]]


@dataclass(frozen=True, slots=True)
class WebhookPolicy:
    """Where webhooks may go."""

    allowed_networks: tuple[IpNetwork, ...] = ()
    allow_loopback: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookPolicy:
        """The policy `settings` describe (product.md §2)."""
        return cls(
            allowed_networks=settings.webhook_allowed_networks,
            allow_loopback=settings.public_url_on_loopback,
        )

    def allows(self, address: IpAddress) -> bool:
        """Whether Rookery may send to `address`."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in self.allowed_networks):
            return True
        if address.is_loopback:
            return self.allow_loopback
        # is_global excludes private, link-local, shared (CGNAT), reserved and unspecified ranges;
        # some multicast ranges count as global, and webhooks are never multicast.
        return address.is_global and not address.is_multicast


@dataclass(frozen=True, slots=True)
class CheckedUrl:
    """A webhook URL that passed the check, and the addresses it was checked against."""

    url: str
    addresses: tuple[IpAddress, ...]


async def resolve_host(host: str, port: int) -> list[IpAddress]:
    """Every address `host` resolves to, through the system resolver."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


async def check_webhook_url(
    url: str, policy: WebhookPolicy, resolver: Resolver = resolve_host
) -> CheckedUrl:
    """`url` and its addresses if Rookery may send webhooks there; else `InvalidInputError`
    saying why."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise InvalidInputError(f"webhook URL {url!r} must start with http:// or https://")
    if not parts.hostname:
        raise InvalidInputError(f"webhook URL {url!r} has no host")
    if parts.username is not None or parts.password is not None:
        raise InvalidInputError(f"webhook URL {url!r} must not carry credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidInputError(f"webhook URL {url!r} has an invalid port") from None
    try:
        addresses = await resolver(parts.hostname, port)
    except OSError:
        raise InvalidInputError(f"webhook URL host {parts.hostname!r} does not resolve") from None
    if not addresses:
        raise InvalidInputError(f"webhook URL host {parts.hostname!r} does not resolve")
    refused = sorted({str(address) for address in addresses if not policy.allows(address)})
    if refused:
        raise InvalidInputError(
            f"webhook URL host {parts.hostname!r} resolves to {', '.join(refused)}, which is not "
            "a public address (allow private networks with ROOKERY_WEBHOOK_ALLOWED_NETWORKS)"
        )
    return CheckedUrl(url=url, addresses=tuple(addresses))
