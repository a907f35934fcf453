"""ROOK's data-source authorization endpoints, as `rook-openapi.yaml` has them.

`authorizers` and `authorizer` hand out Withings consent URLs (each with a fresh single-use
state bound to client, user and `redirect_url`); `authorized` (v1 and v2) report the link;
`revoke_auth` unlinks. A user comes into existence the first time a client asks for an
authorizer for it (the client gets `user_created`). Every route acts on the authenticated
client's own users only.
"""

from __future__ import annotations

import uuid
from http import HTTPStatus
from typing import Annotated, Final

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict
from sqlalchemy.ext.asyncio import AsyncSession

from rookery.api.deps import ClientDep, SessionDep, SettingsDep
from rookery.api.errors import error_responses
from rookery.config import Settings
from rookery.connections.links import connection_of, ensure_user, is_linked, unlink_user
from rookery.connections.oauth import authorization_url_for
from rookery.connections.redirects import check_client_redirect_url
from rookery.errors import InvalidInputError, NotFoundError, UnauthenticatedError
from rookery.store.audit import client_actor
from rookery.store.clients import (
    UNAUTHENTICATED_MESSAGE,
    is_data_source_enabled,
    redirect_urls,
)
from rookery.store.enums import DataSource
from rookery.store.tables import Client, utc_now
from rookery.store.users import check_user_id

router = APIRouter(
    tags=["data sources"],
    responses=error_responses(HTTPStatus.UNAUTHORIZED, HTTPStatus.TOO_MANY_REQUESTS),
)

WITHINGS_DESCRIPTION: Final = (
    "Withings makes connected scales, blood-pressure monitors, watches and sleep analyzers. "
    "Share your body measures, heart data, activity and sleep."
)
WITHINGS_IMAGE_PATH: Final = "/static/connections/withings.svg"
# The connections page follows the browser's light or dark preference.
THEME: Final = "Auto"
# ROOK's v1 `authorized` answer lists these sources; Rookery only ever links Withings.
ROOK_V1_SOURCES: Final = (
    "oura",
    "polar",
    "whoop",
    "fitbit",
    "garmin",
    "withings",
    "google_fit",
    "apple_health",
)
REVOKED_MESSAGE: Final = (
    "Authorization for the specified user data source has been successfully revoked"
)

# For the OpenAPI examples: what a deployment at https://rookery.example.com answers.
_IMAGE_EXAMPLE: Final = "https://rookery.example.com" + WITHINGS_IMAGE_PATH
_AUTHORIZATION_URL_EXAMPLE: Final = (
    "https://account.withings.com/oauth2_user/authorize2?response_type=code"
    "&client_id=5f0b7d6c2e9a4b18c3d1e0f27a6b9c8d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b"
    "&scope=user.info%2Cuser.metrics%2Cuser.activity"
    "&redirect_uri=https%3A%2F%2Frookery.example.com%2Fwithings%2Foauth%2Fcallback"
    "&state=q8Vn1xQ0b9kZ3fJ7mW2pR5tY4uE6iO8aS1dF3gH5jK7"
)
_AUTHORIZER_EXAMPLE: Final[JsonDict] = {
    "name": "Withings",
    "description": WITHINGS_DESCRIPTION,
    "image": _IMAGE_EXAMPLE,
    "connected": False,
    "authorization_url": _AUTHORIZATION_URL_EXAMPLE,
}

UserIdPath = Annotated[str, Field(description="The client's own id of the user.")]
RedirectQuery = Annotated[
    str | None,
    Query(
        description="Where the user is sent after consent: within one of the client's allowed "
        "redirect URLs (PUT /api/v1/client/redirect_urls). `data_source=Withings&result="
        "connected|denied|failed` is added to its query.",
        max_length=2000,
    ),
]


class DataSourceAuthorizer(BaseModel):
    """One data source the client enabled, and how this user connects it."""

    model_config = ConfigDict(json_schema_extra={"examples": [_AUTHORIZER_EXAMPLE]})

    name: str = Field(examples=["Withings"])
    description: str
    image: str
    connected: bool
    authorization_url: str = Field(description="Withings' consent page, with a fresh state.")


class DataSourcesAuthorizers(BaseModel):
    """ROOK's `schema_data_sources_authorizers`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "client_name": "Acme Health",
                    "theme": THEME,
                    "data_sources": [_AUTHORIZER_EXAMPLE],
                }
            ]
        }
    )

    client_name: str
    theme: str = Field(examples=[THEME])
    data_sources: list[DataSourceAuthorizer]


class OneAuthorizer(BaseModel):
    """One data source's authorizer; `authorization_url` only while not authorized."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "data_source": "Withings",
                    "authorized": False,
                    "authorization_url": _AUTHORIZATION_URL_EXAMPLE,
                }
            ]
        }
    )

    data_source: str = Field(examples=["Withings"])
    authorized: bool
    authorization_url: str | None


class AuthorizedV1(BaseModel):
    """ROOK's `UserGetAuthorizedDataSourcesResponse`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": "user-1",
                    "sources": {name: name == "withings" for name in ROOK_V1_SOURCES},
                }
            ]
        }
    )

    user_id: str
    sources: dict[str, bool]


class AuthorizedSource(BaseModel):
    """One data source in the v2 answer. ROOK's changelog names the flag `status`, its SDKs
    read `authorized`: both are given, with the same value."""

    data_source: str
    authorized: bool
    status: bool
    image: str


class AuthorizedV2(BaseModel):
    """The data sources of a user and whether each is authorized."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "data_sources": [
                        {
                            "data_source": "Withings",
                            "authorized": True,
                            "status": True,
                            "image": _IMAGE_EXAMPLE,
                        }
                    ]
                }
            ]
        }
    )

    data_sources: list[AuthorizedSource]


class RevokeRequest(BaseModel):
    """ROOK's `BodyRevokePermission`."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"data_source": "Withings"}]})

    data_source: str


class RevokeAnswer(BaseModel):
    """ROOK's `RevokePermission`."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"message": REVOKED_MESSAGE}]})

    message: str


async def _redirect(
    redirect_url: str | None, settings: Settings, session: AsyncSession, client: Client
) -> str | None:
    if redirect_url is None:
        return None
    allowed = await redirect_urls(session, client.id)
    return check_client_redirect_url(redirect_url, settings, allowed)


def _image(settings: Settings) -> str:
    return settings.public_url_for(WITHINGS_IMAGE_PATH)


@router.get(
    "/api/v1/client_uuid/{client_uuid}/user_id/{user_id}/data_sources/authorizers",
    summary="[User][Data Sources][Authorizers]",
    responses=error_responses(HTTPStatus.UNPROCESSABLE_ENTITY),
)
async def authorizers(
    client_uuid: str,
    user_id: UserIdPath,
    client: ClientDep,
    session: SessionDep,
    settings: SettingsDep,
    redirect_url: RedirectQuery = None,
) -> DataSourcesAuthorizers:
    """The data sources the client enabled, each with this user's state and a consent URL.

    `client_uuid` must be the authenticated client's own (else 401).
    """
    _check_same_client(client_uuid, client)
    redirect = await _redirect(redirect_url, settings, session, client)
    user = await ensure_user(session, client, user_id)
    sources: list[DataSourceAuthorizer] = []
    if await is_data_source_enabled(session, client.id, DataSource.WITHINGS):
        connection = await connection_of(session, client.id, user.user_id)
        url = await authorization_url_for(
            session,
            settings,
            client_id=client.id,
            user_id=user.user_id,
            redirect_url=redirect,
            now=utc_now(),
        )
        sources.append(
            DataSourceAuthorizer(
                name=DataSource.WITHINGS.value,
                description=WITHINGS_DESCRIPTION,
                image=_image(settings),
                connected=is_linked(connection),
                authorization_url=url,
            )
        )
    await session.commit()
    return DataSourcesAuthorizers(client_name=client.name, theme=THEME, data_sources=sources)


@router.get(
    "/api/v1/user_id/{user_id}/data_source/{data_source}/authorizer",
    summary="[User][Data Source][Authorizer]",
    responses=error_responses(HTTPStatus.NOT_FOUND, HTTPStatus.UNPROCESSABLE_ENTITY),
)
async def authorizer(
    user_id: UserIdPath,
    data_source: DataSource,
    client: ClientDep,
    session: SessionDep,
    settings: SettingsDep,
    redirect_url: RedirectQuery = None,
) -> OneAuthorizer:
    """Whether the user has linked Withings, and if not, the consent URL to do it.

    404 when the client has not enabled Withings (a disabled source offers no authorizer).
    """
    redirect = await _redirect(redirect_url, settings, session, client)
    check_user_id(user_id)
    if not await is_data_source_enabled(session, client.id, data_source):
        raise NotFoundError(
            f"{data_source.value} is not enabled for this client "
            f"(PUT /api/v1/client/data_sources/{data_source.value})"
        )
    user = await ensure_user(session, client, user_id)
    connection = await connection_of(session, client.id, user.user_id)
    url: str | None = None
    if not is_linked(connection):
        url = await authorization_url_for(
            session,
            settings,
            client_id=client.id,
            user_id=user.user_id,
            redirect_url=redirect,
            now=utc_now(),
        )
    await session.commit()
    return OneAuthorizer(
        data_source=data_source.value, authorized=is_linked(connection), authorization_url=url
    )


@router.get(
    "/api/v1/user_id/{user_id}/data_sources/authorized",
    summary="[User][Data Sources][Authorized]",
    responses=error_responses(HTTPStatus.UNPROCESSABLE_ENTITY),
)
async def authorized_v1(
    user_id: UserIdPath, client: ClientDep, session: SessionDep
) -> AuthorizedV1:
    """Every ROOK source name with whether the user has it linked (only `withings` can be)."""
    linked = is_linked(await connection_of(session, client.id, check_user_id(user_id)))
    return AuthorizedV1(
        user_id=user_id,
        sources={name: name == "withings" and linked for name in ROOK_V1_SOURCES},
    )


@router.get(
    "/api/v2/user_id/{user_id}/data_sources/authorized",
    summary="[User][Data Sources][Authorized] v2",
    responses=error_responses(HTTPStatus.UNPROCESSABLE_ENTITY),
)
async def authorized_v2(
    user_id: UserIdPath, client: ClientDep, session: SessionDep, settings: SettingsDep
) -> AuthorizedV2:
    """Rookery's data sources with whether the user has each linked."""
    linked = is_linked(await connection_of(session, client.id, check_user_id(user_id)))
    return AuthorizedV2(
        data_sources=[
            AuthorizedSource(
                data_source=DataSource.WITHINGS.value,
                authorized=linked,
                status=linked,
                image=_image(settings),
            )
        ]
    )


@router.post(
    "/api/v1/user_id/{user_id}/data_sources/revoke_auth",
    summary="[User][Data Sources][Revoke]",
    response_model=RevokeAnswer,
    responses={
        HTTPStatus.NO_CONTENT.value: {"description": "Nothing was linked: nothing to revoke."},
        **error_responses(
            HTTPStatus.BAD_REQUEST, HTTPStatus.NOT_FOUND, HTTPStatus.UNPROCESSABLE_ENTITY
        ),
    },
)
async def revoke_auth(
    user_id: UserIdPath, body: RevokeRequest, client: ClientDep, session: SessionDep
) -> RevokeAnswer | Response:
    """Unlink the user's Withings: tokens deleted at once, the grant revoked at Withings by a
    retried job, the client told (`data_source_unlinked`). 204 when nothing was linked."""
    check_user_id(user_id)
    if body.data_source != DataSource.WITHINGS.value:
        raise InvalidInputError(
            f"Must be one of {', '.join(source.value for source in DataSource)}."
        )
    unlinked = await unlink_user(
        session,
        client=client,
        user_id=user_id,
        reason="revoked by the client",
        now=utc_now(),
        actor=client_actor(client.id),
    )
    await session.commit()
    if not unlinked:
        return Response(status_code=HTTPStatus.NO_CONTENT)
    return RevokeAnswer(message=REVOKED_MESSAGE)


def _check_same_client(client_uuid: str, client: Client) -> None:
    try:
        named = uuid.UUID(client_uuid)
    except ValueError:
        named = None
    if named != client.id:
        # The credentials are not those of the client the path names.
        raise UnauthenticatedError(UNAUTHENTICATED_MESSAGE)
