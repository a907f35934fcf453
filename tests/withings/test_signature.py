"""Withings request signatures against the published test vectors (research §2.4)."""

from __future__ import annotations

from rookery.withings.signature import sign, signature_matches

SECRET = "my-client-secret"


def test_getnonce_vector() -> None:
    values = {"action": "getnonce", "client_id": "my-client-id", "timestamp": "1700000000"}
    assert sign(SECRET, values) == (
        "9e39001b55385a74659709a410b02b01eaf59631da91da750138b5645ca3b5ee"
    )


def test_revoke_vector_regardless_of_insertion_order() -> None:
    values = {
        "nonce": "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d",
        "client_id": "my-client-id",
        "action": "revoke",
    }
    assert sign(SECRET, values) == (
        "2f64543899023944f52272b39b5e34be359003a108972ff9302017d1e1ac67d1"
    )


def test_signature_matches_only_the_right_secret_and_values() -> None:
    values = {"action": "getnonce", "client_id": "my-client-id", "timestamp": "1700000000"}
    good = sign(SECRET, values)
    assert signature_matches(SECRET, values, good)
    assert not signature_matches("other-secret", values, good)
    assert not signature_matches(SECRET, {**values, "timestamp": "1700000001"}, good)
