"""The connections page, where a client's user links or unlinks Withings, and the OAuth callback.

The page is public (a user's browser holds no client credentials), so it shows nothing beyond the
client's name and this user's Withings state, escapes everything, and acts only through
single-use OAuth states (Connect) and form tokens bound to the page view (Connect, Disconnect).
It is rendered on the server from Jinja2 templates; its stylesheet and images are served from
`/static/connections/` (no build step, nothing loaded from elsewhere).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import lru_cache
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlencode, urlsplit

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from rookery.api.deps import SessionDep, SettingsDep
from rookery.config import Settings
from rookery.connections.context import ConnectionContext
from rookery.connections.deployment import form_key
from rookery.connections.links import connection_of, unlink_user
from rookery.connections.oauth import (
    CALLBACK_PATH,
    ConsentResult,
    authorization_url_for,
    complete_consent,
    with_result,
)
from rookery.connections.redirects import check_client_redirect_url
from rookery.errors import InvalidInputError
from rookery.store.clients import is_data_source_enabled, redirect_urls
from rookery.store.crypto import TokenCipher
from rookery.store.enums import ConnectionState, DataSource
from rookery.store.tables import Client, utc_now
from rookery.store.users import USER_ID_PATTERN
from rookery.web.forms import (
    COOKIE_NAME,
    FORM_TOKEN_LIFETIME,
    form_token,
    form_token_valid,
    new_browser_cookie,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from rookery.app import Resources

PAGE_PATH: Final = "/connections/client_uuid/{client_uuid}/user_id/{user_id}"
DISCONNECTED: Final = "disconnected"
# What each outcome tells the user on the page: (tone, message).
RESULT_MESSAGES: Final = {
    ConsentResult.CONNECTED.value: (
        "success",
        "Withings is connected. Your data will start arriving shortly.",
    ),
    ConsentResult.DENIED.value: ("notice", "You did not allow access, so nothing was connected."),
    ConsentResult.FAILED.value: ("error", "Withings could not be connected. Please try again."),
    DISCONNECTED: ("notice", "Withings is disconnected. No more data will be shared."),
}
SHARED_DATA: Final = (
    ("Body", "weight, body composition, blood pressure, temperature, SpO2 and ECG recordings"),
    ("Activity", "steps, distance, calories, heart rate and workouts"),
    ("Sleep", "time asleep, sleep stages, and heart rate and breathing at night"),
)

router = APIRouter(include_in_schema=False)


@lru_cache(maxsize=1)
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("rookery.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def _security_headers(settings: Settings) -> dict[str, str]:
    authorize = urlsplit(str(settings.withings_authorize_url))
    # Connect posts here and is redirected to Withings: form-action must allow both.
    form_targets = f"'self' {authorize.scheme}://{authorize.netloc}"
    return {
        "Content-Security-Policy": (
            "default-src 'none'; style-src 'self'; img-src 'self'; "
            f"form-action {form_targets}; frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }


def _html(
    settings: Settings, template: str, status: HTTPStatus = HTTPStatus.OK, **context: Any
) -> HTMLResponse:
    body = _templates().get_template(template).render(**context)
    return HTMLResponse(body, status_code=status, headers=_security_headers(settings))


def _message(settings: Settings, status: HTTPStatus, title: str, text: str) -> HTMLResponse:
    return _html(settings, "message.html", status, title=title, text=text)


def _not_found(settings: Settings) -> HTMLResponse:
    return _message(
        settings,
        HTTPStatus.NOT_FOUND,
        "Page not found",
        "This connections link is not valid. Open it again from the app.",
    )


def page_url(
    client_id: uuid.UUID, user_id: str, *, redirect_url: str | None, result: str | None
) -> str:
    """The connections page's path, with its query."""
    path = PAGE_PATH.format(client_uuid=client_id, user_id=user_id)
    query = {
        key: value
        for key, value in (("redirect_url", redirect_url), ("result", result))
        if value is not None
    }
    return f"{path}?{urlencode(query)}" if query else path


def _day(moment: datetime | None) -> str | None:
    return None if moment is None else f"{moment.day} {moment:%B %Y}"


def _resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


async def _page_client(session: AsyncSession, client_uuid: str, user_id: str) -> Client | None:
    """The client the page names, if both its uuid and the user id are well formed."""
    if USER_ID_PATTERN.fullmatch(user_id) is None:
        return None
    try:
        client_id = uuid.UUID(client_uuid)
    except ValueError:
        return None
    return await session.get(Client, client_id)


def _cookie_of(request: Request) -> str | None:
    return request.cookies.get(COOKIE_NAME)


@router.get(PAGE_PATH, response_class=HTMLResponse)
async def connections_page(
    request: Request,
    client_uuid: str,
    user_id: str,
    session: SessionDep,
    settings: SettingsDep,
    redirect_url: str | None = None,
    result: str | None = None,
) -> Response:
    """The page: the client's name, Withings with its state and a Connect or Disconnect button."""
    client = await _page_client(session, client_uuid, user_id)
    if client is None:
        return _not_found(settings)
    try:
        redirect = (
            None
            if redirect_url is None
            else check_client_redirect_url(
                redirect_url, settings, await redirect_urls(session, client.id)
            )
        )
    except InvalidInputError as refused:
        return _message(settings, HTTPStatus.BAD_REQUEST, "Invalid return address", str(refused))
    enabled = await is_data_source_enabled(session, client.id, DataSource.WITHINGS)
    connection = await connection_of(session, client.id, user_id) if enabled else None
    cookie = _cookie_of(request) or new_browser_cookie()
    key = await form_key(session, _resources(request).cipher)
    await session.commit()  # the deployment secret, when this view created it
    state = ConnectionState.UNLINKED if connection is None else connection.state
    response = _html(
        settings,
        "connections.html",
        client_name=client.name,
        enabled=enabled,
        state=state.value,
        linked_on=_day(connection.linked_at) if connection is not None else None,
        result=RESULT_MESSAGES.get(result or ""),
        shared_data=SHARED_DATA,
        action_base=PAGE_PATH.format(client_uuid=client.id, user_id=user_id),
        redirect_url=redirect,
        return_host=urlsplit(redirect).hostname if redirect else None,
        token=form_token(key, cookie=cookie, client_id=client.id, user_id=user_id, now=utc_now()),
    )
    response.set_cookie(
        COOKIE_NAME,
        cookie,
        max_age=int(FORM_TOKEN_LIFETIME.total_seconds()),
        path="/connections/",
        secure=settings.public_url.scheme == "https",
        httponly=True,
        samesite="lax",
    )
    return response


async def _checked_post(
    request: Request,
    session: AsyncSession,
    settings: Settings,
    cipher: TokenCipher,
    client_uuid: str,
    user_id: str,
) -> tuple[Client, str | None] | Response:
    """The client and redirect URL of a valid page post, or the error page to answer with."""
    client = await _page_client(session, client_uuid, user_id)
    if client is None:
        return _not_found(settings)
    form = await request.form()
    token = form.get("token")
    redirect_value = form.get("redirect_url")
    key = await form_key(session, cipher)
    if not isinstance(token, str) or not form_token_valid(
        key, token, cookie=_cookie_of(request), client_id=client.id, user_id=user_id, now=utc_now()
    ):
        return _message(
            settings,
            HTTPStatus.FORBIDDEN,
            "This page has expired",
            "Nothing was changed. Go back, reload the page and try again.",
        )
    redirect: str | None = None
    if isinstance(redirect_value, str) and redirect_value:
        try:
            allowed = await redirect_urls(session, client.id)
            redirect = check_client_redirect_url(redirect_value, settings, allowed)
        except InvalidInputError as refused:
            return _message(
                settings, HTTPStatus.BAD_REQUEST, "Invalid return address", str(refused)
            )
    return client, redirect


@router.post(PAGE_PATH + "/connect")
async def connect(
    request: Request, client_uuid: str, user_id: str, session: SessionDep, settings: SettingsDep
) -> Response:
    """Send the user to Withings' consent page with a fresh state."""
    checked = await _checked_post(
        request, session, settings, _resources(request).cipher, client_uuid, user_id
    )
    if isinstance(checked, Response):
        return checked
    client, redirect = checked
    if not await is_data_source_enabled(session, client.id, DataSource.WITHINGS):
        return _not_found(settings)
    url = await authorization_url_for(
        session,
        settings,
        client_id=client.id,
        user_id=user_id,
        redirect_url=redirect,
        now=utc_now(),
    )
    await session.commit()
    return RedirectResponse(url, status_code=HTTPStatus.SEE_OTHER)


@router.post(PAGE_PATH + "/disconnect")
async def disconnect(
    request: Request, client_uuid: str, user_id: str, session: SessionDep, settings: SettingsDep
) -> Response:
    """Unlink Withings (at once here; revoked at Withings by a retried job) and show the page."""
    checked = await _checked_post(
        request, session, settings, _resources(request).cipher, client_uuid, user_id
    )
    if isinstance(checked, Response):
        return checked
    client, redirect = checked
    await unlink_user(
        session,
        client=client,
        user_id=user_id,
        reason="disconnected on the connections page",
        now=utc_now(),
    )
    await session.commit()
    return RedirectResponse(
        page_url(client.id, user_id, redirect_url=redirect, result=DISCONNECTED),
        status_code=HTTPStatus.SEE_OTHER,
    )


@router.get(CALLBACK_PATH)
async def oauth_callback(
    request: Request,
    settings: SettingsDep,
    state: str = "",
    code: str | None = None,
    error: str | None = None,
) -> Response:
    """Withings' redirect after consent: exchange the code, store the link, send the user back
    to the page (or the redirect URL) with `result=connected|denied|failed`."""
    outcome = await complete_consent(
        ConnectionContext.from_resources(_resources(request)), state=state, code=code, error=error
    )
    if outcome is None:
        return _message(
            settings,
            HTTPStatus.BAD_REQUEST,
            "This link has expired",
            "It was already used, or it is too old. Go back to the app and connect again.",
        )
    pending = outcome.pending
    if pending.redirect_url is not None:
        target = with_result(pending.redirect_url, outcome.result.value)
    else:
        target = page_url(
            pending.client_id, pending.user_id, redirect_url=None, result=outcome.result.value
        )
    return RedirectResponse(target, status_code=HTTPStatus.SEE_OTHER)


STATIC_PATH: Final = "/static"


def static_files() -> StaticFiles:
    """The page's stylesheet and images, served from the package (mount at `STATIC_PATH`)."""
    return StaticFiles(packages=[("rookery.web", "static")])
