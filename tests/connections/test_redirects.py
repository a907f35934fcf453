"""The redirect-URL rule: https anywhere; http only on loopback, only for a loopback deployment."""

from __future__ import annotations

import pytest

from rookery.config import Settings
from rookery.connections.redirects import check_redirect_url
from rookery.errors import InvalidInputError
from tests.conftest import SettingsFactory


@pytest.fixture
def public(make_settings: SettingsFactory, sqlite_url: str) -> Settings:
    return make_settings(sqlite_url, public_url="https://rookery.example.com")


@pytest.fixture
def local(make_settings: SettingsFactory, sqlite_url: str) -> Settings:
    return make_settings(sqlite_url)


@pytest.mark.parametrize(
    "url",
    ["https://app.example.com/done", "https://app.example.com:8443/x?y=1#z", "https://[::1]/"],
)
def test_https_is_always_accepted(url: str, public: Settings, local: Settings) -> None:
    assert check_redirect_url(url, public) == url
    assert check_redirect_url(url, local) == url


@pytest.mark.parametrize("url", ["http://127.0.0.1:3000/done", "http://localhost/x"])
def test_loopback_http_only_while_the_deployment_is_on_loopback(
    url: str, public: Settings, local: Settings
) -> None:
    assert check_redirect_url(url, local) == url
    with pytest.raises(InvalidInputError, match="https://"):
        check_redirect_url(url, public)


@pytest.mark.parametrize(
    "url",
    [
        "http://app.example.com/",
        "javascript:alert(1)",
        "data:text/html,hi",
        "//app.example.com/",
        "https:///nohost",
        "https://u:p@app.example.com/",
        "https://app.example.com:99999/",
        "https://app.example.com/\r\nX: y",
        "https://app.example.com/a b",
        "https://" + "a" * 2000 + ".com/",
    ],
)
def test_everything_else_is_refused(url: str, local: Settings) -> None:
    with pytest.raises(InvalidInputError, match="redirect_url"):
        check_redirect_url(url, local)
