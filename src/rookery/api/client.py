"""Rookery's own client endpoints (beyond ROOK): data-source settings, webhook URLs and the
redirect URLs users may be sent back to after consent.

Every route here acts on the authenticated client only; there is no way to name another.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from rookery.api.deps import ClientDep, SessionDep, SettingsDep, WebhookPolicyDep
from rookery.api.errors import error_responses
from rookery.connections.redirects import (
    MAX_ALLOWED_REDIRECT_URLS,
    REDIRECT_URL_MAX_LENGTH,
    check_allowed_redirect_prefix,
)
from rookery.delivery.ssrf import WebhookPolicy, check_webhook_url
from rookery.store import clients
from rookery.store.audit import client_actor
from rookery.store.enums import DataSource

router = APIRouter(
    prefix="/api/v1/client",
    tags=["client"],
    responses=error_responses(HTTPStatus.UNAUTHORIZED, HTTPStatus.TOO_MANY_REQUESTS),
)


class DataSourceSetting(BaseModel):
    """Whether one data source is enabled for the client."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"data_source": "Withings", "enabled": True}]}
    )

    data_source: DataSource
    enabled: bool


class DataSourceSettings(BaseModel):
    """Every data source Rookery offers, and whether the client has it enabled."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"data_sources": [{"data_source": "Withings", "enabled": True}]}]
        }
    )

    data_sources: list[DataSourceSetting]


class EnableRequest(BaseModel):
    """Enable or disable a data source."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"enabled": True}]})

    enabled: bool = Field(
        description="A disabled source offers no authorizer and pulls nothing.",
    )


class Webhooks(BaseModel):
    """The client's webhook URLs; null means none."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "data_webhook_url": "https://app.example.com/rook/data",
                    "notification_webhook_url": "https://app.example.com/rook/notifications",
                }
            ]
        },
    )

    data_webhook_url: str | None = Field(
        max_length=2000, description="Receives one POST per ROOK document."
    )
    notification_webhook_url: str | None = Field(
        max_length=2000, description="Receives client events (user_created, ...)."
    )


class RedirectUrls(BaseModel):
    """Where the client's users may be sent back after consent (`redirect_url`)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"redirect_urls": ["https://app.example.com/linked"]}]},
    )

    redirect_urls: list[Annotated[str, Field(max_length=REDIRECT_URL_MAX_LENGTH)]] = Field(
        max_length=MAX_ALLOWED_REDIRECT_URLS,
        description="URL prefixes: a `redirect_url` must have the scheme, host and port of one "
        "and a path at or below its path. Empty: no `redirect_url` is accepted.",
    )


@router.get("/data_sources", summary="The client's data sources")
async def list_data_sources(client: ClientDep, session: SessionDep) -> DataSourceSettings:
    """Every data source and whether it is enabled (Step 1 of the seed)."""
    settings = await clients.data_source_settings(session, client.id)
    return DataSourceSettings(
        data_sources=[
            DataSourceSetting(data_source=source, enabled=enabled)
            for source, enabled in settings.items()
        ]
    )


@router.put(
    "/data_sources/{data_source}",
    summary="Enable or disable a data source",
    responses=error_responses(HTTPStatus.BAD_REQUEST, HTTPStatus.UNPROCESSABLE_ENTITY),
)
async def set_data_source(
    data_source: DataSource, body: EnableRequest, client: ClientDep, session: SessionDep
) -> DataSourceSetting:
    """Step 1 of the seed: enable (or disable) Withings for this client."""
    await clients.set_data_source_enabled(
        session, client.id, data_source, body.enabled, actor=client_actor(client.id)
    )
    await session.commit()
    return DataSourceSetting(data_source=data_source, enabled=body.enabled)


@router.get("/webhooks", summary="The client's webhook URLs")
async def get_webhooks(client: ClientDep) -> Webhooks:
    """Where data and notifications are delivered."""
    return Webhooks(
        data_webhook_url=client.data_webhook_url,
        notification_webhook_url=client.notification_webhook_url,
    )


@router.put(
    "/webhooks",
    summary="Set the client's webhook URLs",
    responses=error_responses(HTTPStatus.BAD_REQUEST, HTTPStatus.UNPROCESSABLE_ENTITY),
)
async def put_webhooks(
    body: Webhooks, client: ClientDep, session: SessionDep, policy: WebhookPolicyDep
) -> Webhooks:
    """Replace both URLs (null clears one). Each must be http(s) and reach a public address, or
    one the operator allowed (ROOKERY_WEBHOOK_ALLOWED_NETWORKS); otherwise 422."""
    data_url = await _checked(body.data_webhook_url, policy)
    notification_url = await _checked(body.notification_webhook_url, policy)
    await clients.set_webhooks(
        session,
        client,
        data_webhook_url=data_url,
        notification_webhook_url=notification_url,
        actor=client_actor(client.id),
    )
    await session.commit()
    return Webhooks(data_webhook_url=data_url, notification_webhook_url=notification_url)


async def _checked(url: str | None, policy: WebhookPolicy) -> str | None:
    return None if url is None else (await check_webhook_url(url, policy)).url


@router.get("/redirect_urls", summary="The client's allowed redirect URLs")
async def get_redirect_urls(client: ClientDep, session: SessionDep) -> RedirectUrls:
    """The URL prefixes a `redirect_url` (authorizers, connections page) must lie within."""
    return RedirectUrls(redirect_urls=await clients.redirect_urls(session, client.id))


@router.put(
    "/redirect_urls",
    summary="Set the client's allowed redirect URLs",
    responses=error_responses(HTTPStatus.BAD_REQUEST, HTTPStatus.UNPROCESSABLE_ENTITY),
)
async def put_redirect_urls(
    body: RedirectUrls, client: ClientDep, session: SessionDep, settings: SettingsDep
) -> RedirectUrls:
    """Replace the list. Each entry must be an https URL (http on loopback while Rookery itself
    runs on loopback) without query or fragment; otherwise 422."""
    checked = list(
        dict.fromkeys(check_allowed_redirect_prefix(url, settings) for url in body.redirect_urls)
    )
    await clients.set_redirect_urls(session, client, checked, actor=client_actor(client.id))
    await session.commit()
    return RedirectUrls(redirect_urls=checked)
