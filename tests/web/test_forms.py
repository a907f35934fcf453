"""Form tokens of the connections page: bound to cookie, client, user and time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import example, given
from hypothesis import strategies as st

from rookery.web.forms import FORM_TOKEN_LIFETIME, form_token, form_token_valid

KEY = b"k" * 32
CLIENT = uuid.UUID("00000000-0000-4000-8000-000000000001")
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _token(**overrides: object) -> str:
    values: dict[str, object] = {
        "cookie": "c00kie",
        "client_id": CLIENT,
        "user_id": "u-1",
        "now": NOW,
    }
    values.update(overrides)
    return form_token(KEY, **values)  # type: ignore[arg-type]


def _valid(token: str, **overrides: object) -> bool:
    values: dict[str, object] = {
        "cookie": "c00kie",
        "client_id": CLIENT,
        "user_id": "u-1",
        "now": NOW,
    }
    values.update(overrides)
    return form_token_valid(KEY, token, **values)  # type: ignore[arg-type]


def test_a_token_is_valid_for_its_own_view_within_its_lifetime() -> None:
    token = _token()
    assert _valid(token)
    assert _valid(token, now=NOW + FORM_TOKEN_LIFETIME)
    assert not _valid(token, now=NOW + FORM_TOKEN_LIFETIME + timedelta(seconds=1))
    assert not _valid(_token(now=NOW + timedelta(minutes=1)))  # issued in the future


def test_a_token_is_refused_for_another_cookie_client_user_or_key() -> None:
    token = _token()
    assert not _valid(token, cookie="other")
    assert not _valid(token, cookie=None)
    assert not _valid(token, client_id=uuid.uuid4())
    assert not _valid(token, user_id="u-2")
    assert not form_token_valid(
        b"x" * 32, token, cookie="c00kie", client_id=CLIENT, user_id="u-1", now=NOW
    )


@given(st.text(max_size=300))
@example("²")  # a Unicode digit that int() refuses: once a crash, now a refusal
def test_no_forged_token_is_accepted(forged: str) -> None:
    assert not _valid(forged)
