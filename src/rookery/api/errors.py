"""The one place where errors become HTTP responses, in ROOK's error body.

`{"error": <HTTP reason phrase>, "exception": <what went wrong>, "path": ..., "method": ...}`
(ROOK's OpenAPI schemas Unauth, MissingBody, UrlNoExists, WrongData). Domain errors map to their
status here; services never speak HTTP. Unexpected exceptions become a 500 with the same body and
are logged; a stack trace never reaches a caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Final

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rookery.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    RateLimitedError,
    RookeryError,
    UnauthenticatedError,
)

logger = structlog.get_logger(__name__)

BASIC_CHALLENGE: Final = {"WWW-Authenticate": 'Basic realm="rookery"'}
NOT_FOUND_MESSAGE: Final = (
    "The requested URL was not found on the server. If you entered the URL manually please check "
    "your spelling and try again"
)
_METHODS: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
MISSING_BODY_MESSAGE: Final = "The request body is missing or is not a JSON object"

DOMAIN_ERROR_STATUS: Final[dict[type[RookeryError], HTTPStatus]] = {
    InvalidInputError: HTTPStatus.UNPROCESSABLE_ENTITY,
    UnauthenticatedError: HTTPStatus.UNAUTHORIZED,
    NotFoundError: HTTPStatus.NOT_FOUND,
    ConflictError: HTTPStatus.CONFLICT,
    RateLimitedError: HTTPStatus.TOO_MANY_REQUESTS,
}


class ErrorBody(BaseModel):
    """ROOK's error body."""

    error: str = Field(description="The HTTP reason phrase.", examples=["Unauthorized"])
    exception: str = Field(
        description="What went wrong.", examples=["The client_uuid or password are incorrect"]
    )
    path: str = Field(examples=["/api/v1/client/data_sources"])
    method: str = Field(examples=["GET"])


def error_response(
    request_path: str,
    method: str,
    status: HTTPStatus,
    message: str,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A response with ROOK's error body."""
    body = ErrorBody(error=status.phrase, exception=message, path=request_path, method=method)
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def error_responses(*statuses: HTTPStatus) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries documenting ROOK's error body for `statuses`."""
    return {status.value: {"model": ErrorBody, "description": status.phrase} for status in statuses}


def install_error_handlers(app: FastAPI) -> None:
    """Make every error of `app` answer with ROOK's error body."""
    app.add_exception_handler(RookeryError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_middleware(_UnexpectedErrorMiddleware)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RookeryError)
    status = next(
        (code for kind, code in DOMAIN_ERROR_STATUS.items() if isinstance(exc, kind)),
        HTTPStatus.INTERNAL_SERVER_ERROR,
    )
    headers: dict[str, str] = {}
    if isinstance(exc, UnauthenticatedError):
        headers.update(BASIC_CHALLENGE)
    if isinstance(exc, RateLimitedError):
        headers["Retry-After"] = str(exc.retry_after_s)
    return error_response(request.url.path, request.method, status, str(exc), headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(_is_missing_body(error) for error in errors):
        return error_response(
            request.url.path, request.method, HTTPStatus.BAD_REQUEST, MISSING_BODY_MESSAGE
        )
    return error_response(
        request.url.path,
        request.method,
        HTTPStatus.UNPROCESSABLE_ENTITY,
        "; ".join(_describe(error) for error in errors),
    )


def _is_missing_body(error: dict[str, Any]) -> bool:
    # An error about the body as a whole (absent, not JSON, not an object), not about a field.
    return error.get("type") == "json_invalid" or tuple(error.get("loc", ())) == ("body",)


def _describe(error: dict[str, Any]) -> str:
    # ("body", "enabled") -> "enabled"; ("path", "data_source") -> "data_source"
    where = ".".join(str(part) for part in error.get("loc", ())[1:])
    message = str(error.get("msg", "invalid"))
    return f"{where}: {message}" if where else message


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    status = HTTPStatus(exc.status_code)
    message = NOT_FOUND_MESSAGE if status is HTTPStatus.NOT_FOUND else str(exc.detail)
    headers = dict(exc.headers or {})
    if status is HTTPStatus.METHOD_NOT_ALLOWED:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return error_response(request.url.path, request.method, status, message, headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method the app serves at this path. Starlette's 405 names only the first matching
    route's, and each method of a path is its own route here (RFC 9110: `Allow` lists all)."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]


class _UnexpectedErrorMiddleware:
    """Answers an exception nothing else handled with a 500 in ROOK's body, and logs it.

    Starlette's own handler would re-raise after answering, so servers would log the trace a
    second time and in-process test clients would see the exception instead of the response.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            logger.exception("unexpected_error", path=scope["path"], method=scope["method"])
            if response_started:
                raise
            response = error_response(
                scope["path"],
                scope["method"],
                HTTPStatus.INTERNAL_SERVER_ERROR,
                "An unexpected error occurred; it has been logged",
            )
            await response(scope, receive, send)
