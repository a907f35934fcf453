"""Where a user may be sent back after consent (`redirect_url`).

The rule: an absolute `https://` URL with a host and no user-info; or, while `PUBLIC_URL` is
itself on loopback (a local run, the demo, tests), an `http://` URL on a loopback host. At most
2,000 characters, no whitespace or control characters. And it must lie within one of the URL
prefixes the client allows (`PUT /api/v1/client/redirect_urls`): same scheme, host and port, and
a path at or below the prefix's, so that nobody can turn the public connections page into a
redirect to a site of their choosing. Anything else is refused up front (422 on the API, an error
page on the connections page), never discovered after consent.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Final
from urllib.parse import SplitResult, unquote, urlsplit

from rookery.config import Settings
from rookery.errors import InvalidInputError

REDIRECT_URL_MAX_LENGTH: Final = 2000
MAX_ALLOWED_REDIRECT_URLS: Final = 20
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def check_redirect_url(url: str, settings: Settings) -> str:
    """`url` if it may be used as a redirect URL; raises `InvalidInputError` saying why not."""
    if len(url) > REDIRECT_URL_MAX_LENGTH:
        raise InvalidInputError(f"redirect_url is longer than {REDIRECT_URL_MAX_LENGTH} characters")
    if any(
        character.isspace() or ord(character) < 0x20 or ord(character) == 0x7F for character in url
    ):
        raise InvalidInputError("redirect_url must not contain whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidInputError("redirect_url is not a valid URL") from None
    del port  # read only to reject a malformed port
    host = parts.hostname or ""
    if not host:
        raise InvalidInputError("redirect_url must be an absolute URL with a host")
    if parts.username is not None or parts.password is not None:
        raise InvalidInputError("redirect_url must not carry a user name or password")
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and settings.public_url_on_loopback and _is_loopback(host):
        return url
    if settings.public_url_on_loopback:
        raise InvalidInputError("redirect_url must be https:// (or http:// on a loopback host)")
    raise InvalidInputError("redirect_url must be an https:// URL")


def check_allowed_redirect_prefix(prefix: str, settings: Settings) -> str:
    """`prefix` if a client may allow it: a redirect URL by the rule, without query or fragment
    (it is a prefix); raises `InvalidInputError` saying why not."""
    url = check_redirect_url(prefix, settings)
    parts = urlsplit(url)
    if parts.query or parts.fragment or "\\" in url:
        raise InvalidInputError(
            "an allowed redirect URL is a prefix: no query, fragment or backslash"
        )
    return url


def check_client_redirect_url(url: str, settings: Settings, allowed: Sequence[str]) -> str:
    """`url` if it follows the rule and lies within one of the client's `allowed` prefixes;
    raises `InvalidInputError` saying why not."""
    checked = check_redirect_url(url, settings)
    parts = urlsplit(checked)
    if "\\" in checked or any(unquote(segment) in {".", ".."} for segment in parts.path.split("/")):
        raise InvalidInputError("redirect_url must not hold dot segments or backslashes")
    if not any(_within(parts, urlsplit(prefix)) for prefix in allowed):
        raise InvalidInputError(
            "redirect_url is not among the client's allowed redirect URLs "
            "(PUT /api/v1/client/redirect_urls)"
        )
    return checked


def _within(candidate: SplitResult, prefix: SplitResult) -> bool:
    if _origin(candidate) != _origin(prefix):
        return False
    base = prefix.path.rstrip("/")
    return candidate.path == base or candidate.path.startswith(base + "/")


def _origin(parts: SplitResult) -> tuple[str, str, int | None]:
    scheme = parts.scheme.lower()
    return scheme, parts.hostname or "", parts.port or _DEFAULT_PORTS.get(scheme)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
