"""Withings request signatures (research §2.4): the client signs with them, the sandbox checks."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping


def sign(secret: str, values: Mapping[str, str]) -> str:
    """Lowercase hex HMAC-SHA256 keyed with the client secret over the signed values.

    The message is the values sorted by their key names, joined with commas: for getnonce that is
    `"getnonce,<client_id>,<timestamp>"` (action < client_id < timestamp).
    """
    message = ",".join(values[key] for key in sorted(values))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def signature_matches(secret: str, values: Mapping[str, str], signature: str) -> bool:
    """Whether `signature` signs `values`, compared in constant time."""
    return hmac.compare_digest(sign(secret, values), signature)
