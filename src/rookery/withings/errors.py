"""What can go wrong talking to Withings, and the one function that unwraps its envelope.

Withings answers HTTP 200 with `{"status": <int>, "body": {...}, "error": "<text>"}`; only
status 0 is success. `unwrap` is the single place that reads that envelope: everything above it
speaks these exceptions.

    WithingsError                     base: service, action, status, Withings' error text
    ├── WithingsAuthError             access token invalid or expired (401, auth-failed family):
    │                                 the caller refreshes once, then gives up
    ├── WithingsInvalidGrant          the token endpoint rejected the code or refresh token: the
    │                                 only error that means "the user must re-link"
    ├── WithingsInvalidParams         the request is wrong as it stands (invalid-params family,
    │                                 bad state): retrying the same call will not help
    ├── WithingsUnauthorized          the app or the token lacks the permission or scope
    ├── WithingsRateLimited           601: wait `wait_seconds`, then retry
    ├── WithingsUnavailable           transient: HTTP 5xx, timeouts, connection errors, 522 and
    │                                 the generic error family; retry with backoff
    ├── WithingsNotImplemented        2554: unknown service or action
    ├── WithingsMalformedResponse     not JSON, truncated, or not the documented shape
    └── WithingsUnknownStatus         a status code in no published family

No exception ever carries a token, secret, authorization code or signature: Withings' error text
is scrubbed of `name=value` pairs that could hold one before it is stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from rookery.withings.codes import StatusFamily, status_family

__all__ = [
    "DEFAULT_RATE_LIMIT_WAIT_S",
    "WithingsAuthError",
    "WithingsError",
    "WithingsInvalidGrant",
    "WithingsInvalidParams",
    "WithingsMalformedResponse",
    "WithingsNotImplemented",
    "WithingsRateLimited",
    "WithingsUnauthorized",
    "WithingsUnavailable",
    "WithingsUnknownStatus",
    "redact",
    "unwrap",
]

# Withings' limit is 120 requests a minute per application; a 601 without `wait_seconds` means
# waiting out the rest of that minute.
DEFAULT_RATE_LIMIT_WAIT_S: Final = 60

# Where authorization codes and refresh tokens are exchanged (service, action).
_GRANT_ENDPOINT: Final = ("/v2/oauth2", "requesttoken")

_SECRET_PAIR: Final = re.compile(
    r"(?i)\b(access_token|refresh_token|token|code|client_secret|signature|nonce)=[^&\s'\"]*"
)
# The token endpoint's "your grant is dead" answers. Withings reports them in the invalid-params
# family (503 "Invalid Params: invalid code"), the same family as our own malformed requests, so
# the text is what tells a dead grant apart from a bug on our side.
_INVALID_GRANT_TEXT: Final = re.compile(r"(?i)invalid[\s_]+(code|refresh[\s_]*token|grant)")


def redact(text: str) -> str:
    """`text` with the value of every `token=`, `code=`, `client_secret=`, ... pair removed."""
    return _SECRET_PAIR.sub(lambda match: f"{match.group(1)}=<redacted>", text)


class WithingsError(Exception):
    """A Withings call failed; `status` and `error_text` are Withings' own when it answered."""

    def __init__(
        self,
        message: str,
        *,
        service: str,
        action: str,
        status: int | None = None,
        error_text: str | None = None,
    ) -> None:
        super().__init__(redact(message))
        self.service = service
        self.action = action
        self.status = status
        self.error_text = None if error_text is None else redact(error_text)


class WithingsAuthError(WithingsError):
    """The access token is invalid or expired: refresh it once and retry."""


class WithingsInvalidGrant(WithingsError):  # noqa: N818 - the team's agreed names
    """The token endpoint rejected the authorization code or refresh token: re-link the user."""


class WithingsInvalidParams(WithingsError):  # noqa: N818 - the team's agreed names
    """Withings refused the request's parameters; the same request will fail again."""


class WithingsUnauthorized(WithingsError):  # noqa: N818 - the team's agreed names
    """The application or token is not allowed to do this (scope or permission)."""


class WithingsRateLimited(WithingsError):  # noqa: N818 - the team's agreed names
    """Too many requests (601); retry after `wait_seconds`."""

    def __init__(
        self,
        message: str,
        *,
        service: str,
        action: str,
        wait_seconds: int,
        status: int | None = None,
        error_text: str | None = None,
    ) -> None:
        super().__init__(
            message, service=service, action=action, status=status, error_text=error_text
        )
        self.wait_seconds = wait_seconds


class WithingsUnavailable(WithingsError):  # noqa: N818 - the team's agreed names
    """A transient failure (HTTP 5xx, timeout, connection error, Withings error family)."""


class WithingsNotImplemented(WithingsError):  # noqa: N818 - the team's agreed names
    """Withings does not know this service or action (2554)."""


class WithingsMalformedResponse(WithingsError):  # noqa: N818 - the team's agreed names
    """The response is not JSON, is truncated, or does not have the documented shape."""


class WithingsUnknownStatus(WithingsError):  # noqa: N818 - the team's agreed names
    """Withings answered with a status code outside every published family."""


_FAMILY_ERRORS: Final[dict[StatusFamily, type[WithingsError]]] = {
    StatusFamily.AUTH_FAILED: WithingsAuthError,
    StatusFamily.INVALID_PARAMS: WithingsInvalidParams,
    # 524 "bad state": the account or resource is not in a state that allows the call; retrying
    # the same request does not change that.
    StatusFamily.BAD_STATE: WithingsInvalidParams,
    StatusFamily.UNAUTHORIZED: WithingsUnauthorized,
    StatusFamily.ERROR: WithingsUnavailable,
    StatusFamily.TIMEOUT: WithingsUnavailable,
    StatusFamily.NOT_IMPLEMENTED: WithingsNotImplemented,
    StatusFamily.UNKNOWN: WithingsUnknownStatus,
}


def unwrap(payload: object, *, service: str, action: str) -> Mapping[str, Any]:
    """The `body` of a successful Withings envelope, or the exception its status stands for.

    `payload` is the decoded JSON of one response. A missing body, or the empty array Withings'
    PHP encoder writes for an empty object, is returned as an empty mapping. On the token endpoint
    (`/v2/oauth2` `requesttoken`), an invalid-params status whose text names the code, the refresh
    token or the grant raises `WithingsInvalidGrant`; other invalid-params answers there stay
    `WithingsInvalidParams`, so that a bug in our own request never marks a user for re-linking.
    """
    where = f"Withings {service} {action}"
    if not isinstance(payload, Mapping):
        raise WithingsMalformedResponse(
            f"{where}: response is a JSON {type(payload).__name__}, not an object",
            service=service,
            action=action,
        )
    status = payload.get("status")
    if type(status) is not int:
        raise WithingsMalformedResponse(
            f"{where}: response has no integer 'status'", service=service, action=action
        )
    body = payload.get("body")
    if status == 0:
        if body is None or body == []:
            return {}
        if not isinstance(body, Mapping):
            raise WithingsMalformedResponse(
                f"{where}: 'body' is a JSON {type(body).__name__}, not an object",
                service=service,
                action=action,
            )
        return body
    raise _status_error(status, payload.get("error"), body, service=service, action=action)


def _status_error(
    status: int, error: object, body: object, *, service: str, action: str
) -> WithingsError:
    error_text = error if isinstance(error, str) else None
    family = status_family(status)
    message = f"Withings {service} {action}: status {status} ({family})"
    if error_text:
        message = f"{message}: {error_text}"
    if family is StatusFamily.TOO_MANY_REQUESTS:
        return WithingsRateLimited(
            message,
            service=service,
            action=action,
            status=status,
            error_text=error_text,
            wait_seconds=_wait_seconds(body),
        )
    if (
        family is StatusFamily.INVALID_PARAMS
        and (service, action) == _GRANT_ENDPOINT
        and error_text is not None
        and _INVALID_GRANT_TEXT.search(error_text)
    ):
        return WithingsInvalidGrant(
            message, service=service, action=action, status=status, error_text=error_text
        )
    # StatusFamily.OK cannot reach here: status 0 returned the body above.
    error_type = _FAMILY_ERRORS.get(family, WithingsUnknownStatus)
    return error_type(message, service=service, action=action, status=status, error_text=error_text)


def _wait_seconds(body: object) -> int:
    if isinstance(body, Mapping):
        wait = body.get("wait_seconds")
        if type(wait) is int and wait >= 0:
            return wait
    return DEFAULT_RATE_LIMIT_WAIT_S
