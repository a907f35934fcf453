"""Request dependencies: the app's resources, a database session, the authenticated client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from rookery.config import Settings
from rookery.delivery.ssrf import WebhookPolicy
from rookery.errors import UnauthenticatedError
from rookery.metrics import Metrics
from rookery.store.clients import UNAUTHENTICATED_MESSAGE, authenticate_client
from rookery.store.crypto import TokenCipher
from rookery.store.tables import Client

if TYPE_CHECKING:
    from rookery.app import Resources


class _ClientBasic(HTTPBasic):
    """HTTP Basic credentials, or None when absent or malformed (never FastAPI's own 401), so
    that every refusal goes through `UnauthenticatedError` and gets ROOK's body."""

    # FastAPI's HTTPBasic overrides its base's signature the same way (and ignores it too).
    async def __call__(self, request: HTTPConnection) -> HTTPBasicCredentials | None:  # type: ignore[override]
        try:
            return await super().__call__(request)
        except HTTPException:
            return None


_basic = _ClientBasic(
    scheme_name="clientBasicAuth",
    realm="rookery",
    description="Username: your client_uuid. Password: your secret_key.",
    auto_error=False,
)


def _resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


def get_settings(request: Request) -> Settings:
    """The settings the app runs with."""
    return _resources(request).settings


def get_cipher(request: Request) -> TokenCipher:
    """The cipher for stored secrets."""
    return _resources(request).cipher


def get_metrics(request: Request) -> Metrics:
    """What this process counts."""
    return _resources(request).metrics


def get_webhook_policy(request: Request) -> WebhookPolicy:
    """Where client webhooks may go."""
    return _resources(request).webhook_policy


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A database session for this request; routes commit what they change."""
    async with _resources(request).sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CipherDep = Annotated[TokenCipher, Depends(get_cipher)]
WebhookPolicyDep = Annotated[WebhookPolicy, Depends(get_webhook_policy)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]


async def get_client(
    session: SessionDep,
    credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
) -> Client:
    """The client whose Basic-auth credentials came with the request; else 401."""
    if credentials is None:
        raise UnauthenticatedError(UNAUTHENTICATED_MESSAGE)
    return await authenticate_client(session, credentials.username, credentials.password)


ClientDep = Annotated[Client, Depends(get_client)]
