"""Form tokens of the connections page: CSRF protection for its Connect and Disconnect posts.

The page sets a random browser cookie (HttpOnly, SameSite=Lax) and puts in each form a token
binding that cookie, the client, the user and the time the page was shown, signed with the
deployment's form key. A post is accepted only with the same cookie, a token made for the same
client and user, and younger than `FORM_TOKEN_LIFETIME`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Final

COOKIE_NAME: Final = "rookery_page"
COOKIE_BYTES: Final = 24
FORM_TOKEN_LIFETIME: Final = timedelta(hours=2)


def new_browser_cookie() -> str:
    """A fresh random value for the page's browser cookie."""
    return secrets.token_urlsafe(COOKIE_BYTES)


def _mac(key: bytes, cookie: str, client_id: uuid.UUID, user_id: str, issued_s: int) -> str:
    message = f"{cookie}\n{client_id}\n{user_id}\n{issued_s}".encode()
    return base64.urlsafe_b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


def form_token(
    key: bytes, *, cookie: str, client_id: uuid.UUID, user_id: str, now: datetime
) -> str:
    """The token of a page view: `<issued epoch>.<signature>`."""
    issued_s = int(now.timestamp())
    return f"{issued_s}.{_mac(key, cookie, client_id, user_id, issued_s)}"


def form_token_valid(
    key: bytes,
    token: str,
    *,
    cookie: str | None,
    client_id: uuid.UUID,
    user_id: str,
    now: datetime,
) -> bool:
    """Whether `token` was made for this browser cookie, client and user, and is still fresh."""
    if not cookie or len(token) > 200:
        return False
    issued, _, signature = token.partition(".")
    # isdigit() alone admits digits int() refuses, such as "²".
    if not (issued.isascii() and issued.isdigit()):
        return False
    issued_s = int(issued)
    age_s = now.timestamp() - issued_s
    if not 0 <= age_s <= FORM_TOKEN_LIFETIME.total_seconds():
        return False
    expected = _mac(key, cookie, client_id, user_id, issued_s)
    return hmac.compare_digest(signature.encode(), expected.encode())
