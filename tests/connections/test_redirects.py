"""The redirect-URL rule: https anywhere; http only on loopback, only for a loopback deployment;
and within one of the URL prefixes the client allows."""

from __future__ import annotations

import pytest

from rookery.config import Settings
from rookery.connections.redirects import (
    check_allowed_redirect_prefix,
    check_client_redirect_url,
    check_redirect_url,
)
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


ALLOWED = ["https://app.example.com/linked", "https://other.example/", "http://127.0.0.1:3000"]


@pytest.mark.parametrize(
    "url",
    [
        "https://app.example.com/linked",
        "https://app.example.com/linked/",
        "https://app.example.com/linked?step=3#top",
        "https://app.example.com/linked/withings/done",
        "https://APP.example.com:443/linked",
        "https://other.example/anything",
        "http://127.0.0.1:3000/done",
    ],
)
def test_a_url_within_an_allowed_prefix_is_accepted(url: str, local: Settings) -> None:
    assert check_client_redirect_url(url, local, ALLOWED) == url


@pytest.mark.parametrize(
    "url",
    [
        "https://app.example.com/linkedin",
        "https://app.example.com/",
        "https://app.example.com:8443/linked",
        "https://app.example.com.evil.example/linked",
        "https://evil.example/https://app.example.com/linked",
        "http://other.example/",
        "https://sub.other.example/",
        "http://127.0.0.1:3001/done",
        "https://app.example.com/linked/../admin",
        "https://app.example.com/linked/%2e%2e/admin",
        "https://app.example.com/linked\\..\\admin",
    ],
)
def test_a_url_outside_every_allowed_prefix_is_refused(url: str, local: Settings) -> None:
    with pytest.raises(InvalidInputError, match="redirect_url"):
        check_client_redirect_url(url, local, ALLOWED)


def test_a_client_that_allows_nothing_accepts_no_redirect(local: Settings) -> None:
    with pytest.raises(InvalidInputError, match="allowed redirect URLs"):
        check_client_redirect_url("https://app.example.com/linked", local, [])


@pytest.mark.parametrize(
    "prefix",
    ["https://app.example.com/linked?x=1", "https://app.example.com/#top", "ftp://app.example/"],
)
def test_an_allowed_prefix_follows_the_rule_and_holds_no_query_or_fragment(
    prefix: str, local: Settings
) -> None:
    with pytest.raises(InvalidInputError):
        check_allowed_redirect_prefix(prefix, local)
