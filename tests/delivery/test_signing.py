"""Signatures: ROOK's published vector, and Standard Webhooks as the reference package checks."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook

from rookery.delivery.signing import rook_hash, standard_signature, webhook_headers
from rookery.store.clients import new_webhook_secret


def test_rook_hash_matches_rooks_published_vector() -> None:
    # HMAC-SHA256(key "ROOK_Secret_Key", message "ROOK"), split over the three parts.
    expected = "382da6381717a0fdfeba9ef922041df3ea8db97bbd2d20af21e216bdd1e6096b"
    assert rook_hash("ROOK_Secret_Key", "RO", "O", "K") == expected
    assert rook_hash("ROOK_Secret_Key", "ROOK", "", "") == expected


def test_rook_hash_concatenates_without_separators() -> None:
    key, client, user, moment = "k€y", "c-uuid", "user-1", "2026-11-14T07:31:00.000000+01:00"
    message = f"{client}{user}{moment}".encode()
    assert rook_hash(key, client, user, moment) == (
        hmac.new(key.encode(), message, hashlib.sha256).hexdigest()
    )


@given(
    body=st.binary(max_size=2000).map(lambda raw: raw.hex().encode()),
    webhook_id=st.from_regex(r"msg_[0-9a-f]{1,32}", fullmatch=True),
)
def test_standard_webhooks_package_verifies_every_signature(body: bytes, webhook_id: str) -> None:
    secret = new_webhook_secret()
    sent_at = datetime.now(UTC)
    headers = webhook_headers(
        hash_key="h",
        webhook_secret=secret,
        client_uuid="c",
        user_id="u",
        datetime_string="d",
        webhook_id=webhook_id,
        sent_at=sent_at,
        body=body,
    )
    assert Webhook(secret).verify(body, headers, json_parse=False) is None
    assert headers["webhook-timestamp"] == str(int(sent_at.timestamp()))


def test_a_changed_body_or_another_secret_fails_verification() -> None:
    secret = new_webhook_secret()
    now = datetime.now(UTC)
    timestamp = int(now.timestamp())
    signature = standard_signature(secret, "msg_1", timestamp, b'{"a":1}')
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }
    with pytest.raises(Exception, match="No matching signature found"):
        Webhook(secret).verify(b'{"a": 1}', headers)
    with pytest.raises(Exception, match="No matching signature found"):
        Webhook(new_webhook_secret()).verify(b'{"a":1}', headers)


def test_standard_signature_refuses_bad_secrets_and_ids() -> None:
    with pytest.raises(ValueError, match="whsec_"):
        standard_signature("not-a-secret", "msg_1", 1, b"")
    with pytest.raises(ValueError, match="must not contain"):
        standard_signature(new_webhook_secret(), "msg.1", 1, b"")
