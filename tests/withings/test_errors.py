"""The envelope: every status family maps to its exception, and no secret leaks into one."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rookery.withings.codes import StatusFamily, status_family
from rookery.withings.errors import (
    DEFAULT_RATE_LIMIT_WAIT_S,
    WithingsAuthError,
    WithingsError,
    WithingsInvalidGrant,
    WithingsInvalidParams,
    WithingsMalformedResponse,
    WithingsNotImplemented,
    WithingsRateLimited,
    WithingsUnauthorized,
    WithingsUnavailable,
    WithingsUnknownStatus,
    redact,
    unwrap,
)

DATA = {"service": "/measure", "action": "getmeas"}
TOKEN = {"service": "/v2/oauth2", "action": "requesttoken"}


def test_success_returns_the_body() -> None:
    body: dict[str, Any] = {"measuregrps": []}
    assert unwrap({"status": 0, "body": body}, **DATA) is body


@pytest.mark.parametrize("payload", [{"status": 0}, {"status": 0, "body": []}])
def test_success_without_a_body_is_empty(payload: dict[str, Any]) -> None:
    assert unwrap(payload, **DATA) == {}


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (100, WithingsAuthError),
        (200, WithingsAuthError),
        (401, WithingsAuthError),
        (201, WithingsInvalidParams),
        (293, WithingsInvalidParams),
        (503, WithingsInvalidParams),
        (524, WithingsInvalidParams),
        (214, WithingsUnauthorized),
        (277, WithingsUnauthorized),
        (2553, WithingsUnauthorized),
        (215, WithingsUnavailable),
        (522, WithingsUnavailable),
        (2554, WithingsNotImplemented),
        (601, WithingsRateLimited),
        (239, WithingsUnknownStatus),
        (999, WithingsUnknownStatus),
        (-1, WithingsUnknownStatus),
    ],
)
def test_status_maps_to_its_exception(status: int, expected: type[WithingsError]) -> None:
    with pytest.raises(expected) as caught:
        unwrap({"status": status, "body": {}, "error": "something"}, **DATA)
    assert type(caught.value) is expected
    assert caught.value.status == status
    assert caught.value.error_text == "something"
    assert (caught.value.service, caught.value.action) == ("/measure", "getmeas")


EXPECTED_BY_FAMILY: dict[StatusFamily, type[WithingsError]] = {
    StatusFamily.AUTH_FAILED: WithingsAuthError,
    StatusFamily.INVALID_PARAMS: WithingsInvalidParams,
    StatusFamily.BAD_STATE: WithingsInvalidParams,
    StatusFamily.UNAUTHORIZED: WithingsUnauthorized,
    StatusFamily.ERROR: WithingsUnavailable,
    StatusFamily.TIMEOUT: WithingsUnavailable,
    StatusFamily.TOO_MANY_REQUESTS: WithingsRateLimited,
    StatusFamily.NOT_IMPLEMENTED: WithingsNotImplemented,
    StatusFamily.UNKNOWN: WithingsUnknownStatus,
}


@given(status=st.integers(min_value=-10, max_value=12_000).filter(lambda s: s != 0))
def test_every_status_raises_the_exception_of_its_family(status: int) -> None:
    expected = EXPECTED_BY_FAMILY[status_family(status)]
    with pytest.raises(WithingsError) as caught:
        unwrap({"status": status, "error": "x"}, **DATA)
    assert type(caught.value) is expected


def test_rate_limit_carries_wait_seconds() -> None:
    payload = {
        "status": 601,
        "body": {"wait_seconds": 188},
        "error": "Same arguments in less than 10 seconds",
    }
    with pytest.raises(WithingsRateLimited) as caught:
        unwrap(payload, **DATA)
    assert caught.value.wait_seconds == 188
    assert "Same arguments" in str(caught.value)


@pytest.mark.parametrize("body", [{}, [], None, {"wait_seconds": "soon"}, {"wait_seconds": -3}])
def test_rate_limit_without_a_usable_wait_waits_a_minute(body: object) -> None:
    with pytest.raises(WithingsRateLimited) as caught:
        unwrap({"status": 601, "body": body}, **DATA)
    assert caught.value.wait_seconds == DEFAULT_RATE_LIMIT_WAIT_S == 60


@pytest.mark.parametrize(
    "text",
    [
        "Invalid Params: invalid code",
        "Invalid Params: invalid refresh_token",
        "Invalid Params: Invalid refresh token",
        "invalid_grant",
    ],
)
def test_token_endpoint_rejecting_the_grant_means_relink(text: str) -> None:
    with pytest.raises(WithingsInvalidGrant) as caught:
        unwrap({"status": 503, "error": text}, **TOKEN)
    assert caught.value.status == 503


def test_token_endpoint_generic_invalid_params_is_not_a_dead_grant() -> None:
    # A bug in our own request (a missing client_id, say) must not mark users for re-linking.
    with pytest.raises(WithingsInvalidParams) as caught:
        unwrap({"status": 503, "error": "Invalid Params"}, **TOKEN)
    assert type(caught.value) is WithingsInvalidParams


def test_invalid_code_text_outside_the_token_endpoint_is_plain_invalid_params() -> None:
    with pytest.raises(WithingsInvalidParams) as caught:
        unwrap({"status": 503, "error": "Invalid Params: invalid code"}, **DATA)
    assert type(caught.value) is WithingsInvalidParams


def test_transient_failures_on_the_token_endpoint_stay_transient() -> None:
    with pytest.raises(WithingsUnavailable):
        unwrap({"status": 522, "error": "invalid code? timeout"}, **TOKEN)


@pytest.mark.parametrize(
    "payload",
    [[], "ok", 3, None, {"body": {}}, {"status": "0", "body": {}}, {"status": True}],
)
def test_envelope_that_is_not_an_envelope_is_malformed(payload: Any) -> None:
    with pytest.raises(WithingsMalformedResponse, match="Withings /measure getmeas"):
        unwrap(payload, **DATA)


def test_success_with_a_non_object_body_is_malformed() -> None:
    with pytest.raises(WithingsMalformedResponse, match="'body' is a JSON str"):
        unwrap({"status": 0, "body": "nope"}, **DATA)


def test_error_text_is_scrubbed_of_secrets() -> None:
    text = "The callback URL 'https://hub.example/withings/notify?token=s3cr3t&x=1' is invalid"
    with pytest.raises(WithingsInvalidParams) as caught:
        unwrap({"status": 293, "error": text}, service="/notify", action="subscribe")
    assert "s3cr3t" not in str(caught.value)
    assert caught.value.error_text is not None
    assert "s3cr3t" not in caught.value.error_text
    assert "token=<redacted>&x=1" in caught.value.error_text


def test_redact_covers_every_secret_name() -> None:
    text = "access_token=a refresh_token=b code=c client_secret=d signature=e nonce=f other=g"
    assert redact(text) == (
        "access_token=<redacted> refresh_token=<redacted> code=<redacted> "
        "client_secret=<redacted> signature=<redacted> nonce=<redacted> other=g"
    )


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["status", "body", "error", "wait_seconds"]), children)
    ),
    max_leaves=10,
)


@given(payload=JSON)
def test_unwrap_returns_a_body_or_raises_a_withings_error(payload: Any) -> None:
    try:
        body = unwrap(payload, **DATA)
    except WithingsError:
        return
    assert payload["status"] == 0
    assert isinstance(body, dict)
