"""Webhook signatures: ROOK's `X-ROOK-HASH` and Standard Webhooks v1 (product.md §4).

Written by hand rather than with the `standardwebhooks` package: each is a few lines of `hmac`,
and signing needs no dependency at run time (the package stays a test and documentation tool,
where it verifies what this module signs).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from typing import Final

from rookery.store.clients import WEBHOOK_SECRET_PREFIX

ROOK_HASH_HEADER: Final = "X-ROOK-HASH"
WEBHOOK_ID_HEADER: Final = "webhook-id"
WEBHOOK_TIMESTAMP_HEADER: Final = "webhook-timestamp"
WEBHOOK_SIGNATURE_HEADER: Final = "webhook-signature"


def rook_hash(hash_key: str, client_uuid: str, user_id: str, datetime_string: str) -> str:
    """ROOK's `X-ROOK-HASH`: hex HMAC-SHA256 keyed with the hash key's UTF-8 bytes over
    `client_uuid + user_id + datetime_string`, concatenated without separators."""
    message = f"{client_uuid}{user_id}{datetime_string}".encode()
    return hmac.new(hash_key.encode(), message, hashlib.sha256).hexdigest()


def standard_signature(webhook_secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """A Standard Webhooks v1 `webhook-signature` value: `v1,` + base64 HMAC-SHA256 of
    `{webhook_id}.{timestamp}.{body}`, keyed with the decoded part of the `whsec_` secret.

    Raises ValueError for a secret that is not `whsec_` + base64, or an id containing `.`.
    """
    if not webhook_secret.startswith(WEBHOOK_SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {WEBHOOK_SECRET_PREFIX!r}")
    if "." in webhook_id:
        raise ValueError("a webhook id must not contain '.'")
    key = base64.b64decode(webhook_secret.removeprefix(WEBHOOK_SECRET_PREFIX), validate=True)
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_headers(
    *,
    hash_key: str,
    webhook_secret: str,
    client_uuid: str,
    user_id: str,
    datetime_string: str,
    webhook_id: str,
    sent_at: datetime,
    body: bytes,
) -> dict[str, str]:
    """Every signature header of one attempt; `sent_at` (aware) is this attempt's instant."""
    timestamp = int(sent_at.timestamp())
    return {
        "Content-Type": "application/json",
        ROOK_HASH_HEADER: rook_hash(hash_key, client_uuid, user_id, datetime_string),
        WEBHOOK_ID_HEADER: webhook_id,
        WEBHOOK_TIMESTAMP_HEADER: str(timestamp),
        WEBHOOK_SIGNATURE_HEADER: standard_signature(webhook_secret, webhook_id, timestamp, body),
    }
