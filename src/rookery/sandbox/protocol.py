"""Withings' wire conventions shared by every sandbox service.

HTTP 200 with `{status, body, error?}`, form-encoded parameters (query parameters accepted too),
bearer tokens, and the handful of status codes the sandbox answers with (research §1, §6).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from datetime import date
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

OK: Final = 0
INVALID_PARAMS: Final = 503
AUTH_FAILED: Final = 401
TOO_MANY_REQUESTS: Final = 601
NOT_IMPLEMENTED: Final = 2554
CALLBACK_INVALID: Final = 293
NO_SUCH_SUBSCRIPTION: Final = 286

INVALID_BEARER_ERROR: Final = (
    "XRequestID: Not provided invalid_token: The access token provided is invalid"
)


class WithingsStatusError(Exception):
    """A call that Withings answers with a non-zero `status` (still HTTP 200)."""

    def __init__(self, status: int, error: str, body: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{status}: {error}")
        self.status = status
        self.error = error
        self.body: dict[str, Any] = dict(body or {})


def invalid_params(detail: str) -> WithingsStatusError:
    """The common `503 Invalid Params` answer."""
    return WithingsStatusError(INVALID_PARAMS, f"Invalid Params: {detail}")


# Encoding the body is most of a data call's cost (cProfile, bench/sandbox.py); records are plain
# acyclic JSON data, so the encoder's cycle check is skipped.
_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), check_circular=False)


def envelope(body: Mapping[str, Any]) -> bytes:
    """A success envelope, serialised."""
    return _ENCODER.encode({"status": OK, "body": body}).encode()


def error_envelope(error: WithingsStatusError) -> bytes:
    """An error envelope, serialised."""
    document = {"status": error.status, "body": error.body, "error": error.error}
    return _ENCODER.encode(document).encode()


def parse_params(query: bytes, body: bytes) -> dict[str, str]:
    """Request parameters: the query string, overridden by the form body (Withings' own place)."""
    params = dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True))
    if body:
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def bearer_token(authorization: str | None, params: Mapping[str, str]) -> str | None:
    """The access token from `Authorization: Bearer …`, else the legacy `access_token` param."""
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return params.get("access_token") or None


def int_param(params: Mapping[str, str], name: str) -> int | None:
    """An optional integer parameter; a present but non-integer value is a 503."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise invalid_params(f"{name} must be an integer, got {raw!r}") from None


def required_int(params: Mapping[str, str], name: str) -> int:
    """A required integer parameter."""
    value = int_param(params, name)
    if value is None:
        raise invalid_params(f"missing {name}")
    return value


def ymd_param(params: Mapping[str, str], name: str) -> str | None:
    """An optional YYYY-MM-DD parameter, returned in canonical form."""
    raw = params.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        raise invalid_params(f"{name} must be YYYY-MM-DD, got {raw!r}") from None


def csv_param(params: Mapping[str, str], name: str) -> list[str] | None:
    """An optional comma-separated list parameter."""
    raw = params.get(name)
    if raw is None or raw.strip() == "":
        return None
    return [item.strip() for item in raw.split(",") if item.strip()]


def is_loopback_url(url: str) -> bool:
    """Whether `url` is http(s) on a loopback host: the only callbacks the sandbox accepts."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # a malformed port raises here
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
