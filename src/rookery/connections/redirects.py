"""Where a user may be sent back after consent (`redirect_url`).

The rule: an absolute `https://` URL with a host and no user-info; or, while `PUBLIC_URL` is
itself on loopback (a local run, the demo, tests), an `http://` URL on a loopback host. At most
2,000 characters, no whitespace or control characters. Anything else is refused up front (422 on
the API, an error page on the connections page), never discovered after consent.
"""

from __future__ import annotations

import ipaddress
from typing import Final
from urllib.parse import urlsplit

from rookery.config import Settings
from rookery.errors import InvalidInputError

REDIRECT_URL_MAX_LENGTH: Final = 2000


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


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
