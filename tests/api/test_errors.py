"""The one error handler: every domain error, and anything unexpected, gets ROOK's error body."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import pytest
from fastapi import FastAPI

from rookery.api.errors import DOMAIN_ERROR_STATUS, install_error_handlers
from rookery.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    RateLimitedError,
    RookeryError,
    UnauthenticatedError,
)

pytestmark = pytest.mark.anyio

RAISED: dict[str, Exception] = {
    "invalid": InvalidInputError("user_id must be 1 to 50 characters"),
    "unauthenticated": UnauthenticatedError("The client_uuid or password are incorrect"),
    "missing": NotFoundError("no user u-1"),
    "conflict": ConflictError("this authorization was already used"),
    "limited": RateLimitedError("slow down", retry_after_s=30),
    "bug": ZeroDivisionError("division by zero, with secret token abc123"),
}


@pytest.fixture
async def raising_api() -> AsyncIterator[httpx2.AsyncClient]:
    """A client of an app whose `/raise/{name}` raises `RAISED[name]`."""
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/raise/{name}")
    async def raise_it(name: str) -> None:
        raise RAISED[name]

    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.mark.parametrize(
    ("name", "status", "phrase"),
    [
        ("invalid", 422, "Unprocessable Entity"),
        ("unauthenticated", 401, "Unauthorized"),
        ("missing", 404, "Not Found"),
        ("conflict", 409, "Conflict"),
        ("limited", 429, "Too Many Requests"),
    ],
)
async def test_domain_errors_get_their_status_and_rooks_body(
    raising_api: httpx2.AsyncClient, name: str, status: int, phrase: str
) -> None:
    response = await raising_api.post(f"/raise/{name}")
    assert response.status_code == status
    assert response.json() == {
        "error": phrase,
        "exception": str(RAISED[name]),
        "path": f"/raise/{name}",
        "method": "POST",
    }


async def test_a_refusal_of_credentials_carries_a_basic_challenge(
    raising_api: httpx2.AsyncClient,
) -> None:
    response = await raising_api.post("/raise/unauthenticated")
    assert response.headers["WWW-Authenticate"] == 'Basic realm="rookery"'


async def test_rate_limiting_says_when_to_come_back(raising_api: httpx2.AsyncClient) -> None:
    response = await raising_api.post("/raise/limited")
    assert response.headers["Retry-After"] == "30"


async def test_an_unexpected_error_is_a_500_without_its_details(
    raising_api: httpx2.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    response = await raising_api.post("/raise/bug")
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "Internal Server Error"
    assert (body["path"], body["method"]) == ("/raise/bug", "POST")
    assert "abc123" not in response.text
    assert "Traceback" not in response.text
    assert "unexpected_error" in capsys.readouterr().out  # logged for the operator


def test_every_domain_error_has_a_status() -> None:
    assert set(DOMAIN_ERROR_STATUS) == set(RookeryError.__subclasses__())


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/api/v1/client/webhooks", "GET, PUT"),
        ("/withings/notify", "GET, HEAD, POST"),
        ("/healthz", "GET"),
    ],
)
async def test_a_405_lists_every_method_of_the_path(
    api: httpx2.AsyncClient, path: str, allow: str
) -> None:
    response = await api.request("DELETE", path)
    assert response.status_code == 405
    assert response.headers["Allow"] == allow
    assert response.json()["error"] == "Method Not Allowed"
