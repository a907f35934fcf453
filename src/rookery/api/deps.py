"""Request dependencies: the app's resources, a database session, the authenticated client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from rookery.api.throttle import FailureThrottle, client_credential
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


# Dependencies are coroutines even when they do not await: FastAPI runs a plain function in a
# worker thread, whose hand-over costs more than the whole lookup.
def _resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


async def get_settings(request: Request) -> Settings:
    """The settings the app runs with."""
    return _resources(request).settings


async def get_cipher(request: Request) -> TokenCipher:
    """The cipher for stored secrets."""
    return _resources(request).cipher


async def get_metrics(request: Request) -> Metrics:
    """What this process counts."""
    return _resources(request).metrics


async def get_webhook_policy(request: Request) -> WebhookPolicy:
    """Where client webhooks may go."""
    return _resources(request).webhook_policy


def throttle_of(request: HTTPConnection) -> FailureThrottle:
    """The app's count of failed attempts to prove a secret."""
    throttle: FailureThrottle = request.app.state.throttle
    return throttle


async def get_throttle(request: Request) -> FailureThrottle:
    """The app's count of failed attempts to prove a secret (as a dependency)."""
    return throttle_of(request)


def peer_address(request: HTTPConnection) -> str:
    """The address failures are counted against: the peer's IP (the proxy's forwarded one when
    uvicorn trusts the proxy)."""
    return request.client.host if request.client is not None else "unknown"


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A database session for this request; routes commit what they change."""
    async with _resources(request).sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CipherDep = Annotated[TokenCipher, Depends(get_cipher)]
WebhookPolicyDep = Annotated[WebhookPolicy, Depends(get_webhook_policy)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
ThrottleDep = Annotated[FailureThrottle, Depends(get_throttle)]


async def get_client(
    request: Request,
    session: SessionDep,
    throttle: ThrottleDep,
    credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
) -> Client:
    """The client whose Basic-auth credentials came with the request; else 401, or 429 while
    the peer or the client uuid is locked out after repeated failures."""
    if credentials is None:
        raise UnauthenticatedError(UNAUTHENTICATED_MESSAGE)
    source, credential = peer_address(request), client_credential(credentials.username)
    if (refusal := throttle.refusal(source, credential)) is not None:
        raise refusal
    try:
        return await authenticate_client(session, credentials.username, credentials.password)
    except UnauthenticatedError:
        throttle.record_failure(source, credential)
        raise


ClientDep = Annotated[Client, Depends(get_client)]
