"""Which webhook URLs Rookery accepts (product.md §2, ROOKERY_WEBHOOK_ALLOWED_NETWORKS)."""

from __future__ import annotations

import ipaddress

import pytest

from rookery.config import load_settings
from rookery.delivery.ssrf import (
    CheckedUrl,
    IpAddress,
    Resolver,
    WebhookPolicy,
    check_webhook_url,
)
from rookery.errors import InvalidInputError

pytestmark = pytest.mark.anyio

PUBLIC = WebhookPolicy()
LOCAL_RUN = WebhookPolicy(allow_loopback=True)


def resolving_to(*addresses: str) -> Resolver:
    """A resolver that answers `addresses` for any host (no network in tests)."""

    async def resolve(host: str, port: int) -> list[IpAddress]:
        return [ipaddress.ip_address(address) for address in addresses]

    return resolve


async def not_resolving(host: str, port: int) -> list[IpAddress]:
    raise OSError("no such host")


async def test_a_public_https_url_passes_with_its_addresses() -> None:
    checked = await check_webhook_url(
        "https://hooks.example.com/rook", PUBLIC, resolving_to("93.184.215.14", "2606:2800::1")
    )
    assert checked == CheckedUrl(
        url="https://hooks.example.com/rook",
        addresses=(ipaddress.ip_address("93.184.215.14"), ipaddress.ip_address("2606:2800::1")),
    )


@pytest.mark.parametrize(
    "url",
    ["ftp://hooks.example.com/x", "file:///etc/passwd", "hooks.example.com/x", "javascript:x"],
)
async def test_only_http_and_https_are_accepted(url: str) -> None:
    with pytest.raises(InvalidInputError, match="http:// or https://"):
        await check_webhook_url(url, PUBLIC, resolving_to("93.184.215.14"))


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.5",  # private
        "172.16.3.4",
        "192.168.1.1",
        "169.254.169.254",  # link-local: cloud metadata
        "100.64.0.1",  # shared (CGNAT)
        "0.0.0.0",  # noqa: S104 - the unspecified address is what is being refused
        "224.0.0.1",  # multicast
        "239.255.255.250",
        "fd00::1",  # unique local
        "fe80::1",  # link-local
        "ff02::1",  # multicast
        "::ffff:10.0.0.5",  # IPv4-mapped private
        "127.0.0.1",  # loopback, refused while the public URL is not on loopback
        "::1",
        "::ffff:127.0.0.1",
    ],
)
async def test_non_public_addresses_are_refused(address: str) -> None:
    with pytest.raises(InvalidInputError, match="not a public address"):
        await check_webhook_url("https://hooks.example.com/x", PUBLIC, resolving_to(address))


async def test_one_private_address_among_public_ones_is_enough_to_refuse() -> None:
    with pytest.raises(InvalidInputError, match=r"resolves to 10\.0\.0\.5, which"):
        await check_webhook_url(
            "https://hooks.example.com/x", PUBLIC, resolving_to("93.184.215.14", "10.0.0.5")
        )


@pytest.mark.parametrize("url", ["http://127.0.0.1:9000/hook", "http://[::1]:9000/hook"])
async def test_loopback_is_allowed_while_the_public_url_is_on_loopback(url: str) -> None:
    checked = await check_webhook_url(url, LOCAL_RUN)
    assert checked.url == url
    assert all(address.is_loopback for address in checked.addresses)


async def test_loopback_allowance_does_not_open_private_networks() -> None:
    with pytest.raises(InvalidInputError):
        await check_webhook_url("http://192.168.1.1/x", LOCAL_RUN)


async def test_allowed_networks_open_exactly_their_addresses() -> None:
    policy = WebhookPolicy(allowed_networks=(ipaddress.ip_network("10.1.0.0/16"),))
    await check_webhook_url("http://receiver.internal/x", policy, resolving_to("10.1.2.3"))
    with pytest.raises(InvalidInputError):
        await check_webhook_url("http://receiver.internal/x", policy, resolving_to("10.2.0.1"))


async def test_an_allowed_network_can_include_loopback() -> None:
    policy = WebhookPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),))
    await check_webhook_url("http://127.0.0.1:9/x", policy)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https:///path", "has no host"),
        ("https://user:pw@hooks.example.com/x", "must not carry credentials"),
        ("https://hooks.example.com:99999/x", "invalid port"),
    ],
)
async def test_malformed_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        await check_webhook_url(url, PUBLIC, resolving_to("93.184.215.14"))


async def test_a_host_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="does not resolve"):
        await check_webhook_url("https://nowhere.invalid/x", PUBLIC, not_resolving)
    with pytest.raises(InvalidInputError, match="does not resolve"):
        await check_webhook_url("https://nowhere.invalid/x", PUBLIC, resolving_to())


@pytest.mark.parametrize(
    ("public_url", "allow_loopback"),
    [
        ("http://127.0.0.1:8000", True),
        ("http://localhost:8000", True),
        ("http://[::1]:8000", True),
        ("https://rookery.example.com", False),
        ("http://192.168.1.10:8000", False),
    ],
)
def test_the_policy_follows_the_settings(public_url: str, allow_loopback: bool) -> None:
    settings = load_settings(
        {
            "ROOKERY_PUBLIC_URL": public_url,
            "ROOKERY_WEBHOOK_ALLOWED_NETWORKS": "10.0.0.0/8,fd00::/8",
        }
    )
    policy = WebhookPolicy.from_settings(settings)
    assert policy.allow_loopback is allow_loopback
    assert policy.allowed_networks == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("fd00::/8"),
    )
