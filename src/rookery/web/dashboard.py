"""The operator dashboard: users and their sync, the delivery log with redelivery, the Withings
rate-limit budget, and per-user charts of the delivered data.

Who may look: the operator (`ROOKERY_ADMIN_TOKEN`, every client) or a client (its
`client_uuid` and `secret_key`, its own users only), signed in through a form that sets a
session cookie (`rookery.web.sessions`); the token never travels in a URL. Every post carries a
form token bound to the session (`rookery.web.forms`, as the connections page does). Rendered on
the server from Jinja2 templates (autoescaped) with SVG charts from `rookery.web.charts`; the
stylesheet is served from `/static/dashboard/`; no script runs on the page.
"""

from __future__ import annotations

import hmac
import math
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlencode

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import func, select

from rookery.api.deps import SessionDep, SettingsDep, peer_address, throttle_of
from rookery.api.throttle import OPERATOR_CREDENTIAL, client_credential
from rookery.config import Settings
from rookery.connections.deployment import deployment_secret, form_key
from rookery.delivery.queue import list_deliveries, redeliver
from rookery.errors import (
    InvalidInputError,
    NotFoundError,
    RateLimitedError,
    UnauthenticatedError,
)
from rookery.jobs.kinds import Priority
from rookery.jobs.ratelimit import WITHINGS, ahead_in_window, reserve_for, used_in_window
from rookery.pipeline.status import SyncStatus, last_notified_at, sync_status
from rookery.store.clients import authenticate_client
from rookery.store.tables import (
    BackfillStatus,
    Client,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    RateLimit,
    SyncState,
    User,
    WithingsConnection,
    utc_now,
)
from rookery.store.users import USER_ID_PATTERN
from rookery.web import charts
from rookery.web.forms import FORM_TOKEN_LIFETIME, form_token, form_token_valid, new_browser_cookie
from rookery.web.series import UserSeries, user_series, zone_of
from rookery.web.sessions import (
    LOGIN_COOKIE,
    OPERATOR_SCOPE,
    SESSION_COOKIE,
    SESSION_LIFETIME,
    Role,
    Viewer,
    credential_fingerprint,
    new_session,
    read_claim,
    session_key,
    verify_claim,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from rookery.app import Resources

DASHBOARD_PATH: Final = "/dashboard"
LOGIN_PATH: Final = "/dashboard/login"
COOKIE_PATH: Final = "/dashboard"
# What the form tokens of the dashboard are bound to, besides the session.
_FORM_PURPOSE: Final = "dashboard"
_LOGIN_PURPOSE: Final = "dashboard-login"
DELIVERIES_PER_PAGE: Final = 25
DEFAULT_RANGE_DAYS: Final = 30
MAX_RANGE_DAYS: Final = 366
RANGE_PRESETS_DAYS: Final = (7, 30, 90)

router = APIRouter(include_in_schema=False)


@lru_cache(maxsize=1)
def _templates() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("rookery.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.filters["moment"] = _moment
    environment.filters["moment_text"] = _moment_text
    return environment


def _moment_text(value: datetime | None) -> str:
    """A stored instant as plain text, in UTC to the second (for attributes)."""
    return "—" if value is None else f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def _moment(value: datetime | None, *, compact: bool = False) -> Markup | str:
    """A stored instant as a `<time>` element: written in UTC, which `local-time.js` rewrites
    in the reader's own time zone (the server does not know it). `compact` leaves the zone out,
    for table columns whose heading names it (`data-local-zone`)."""
    if value is None:
        return "—"
    at_utc = value.astimezone(UTC)
    in_utc = _moment_text(at_utc)
    return Markup('<time datetime="{}" data-local="{}" title="{}">{}</time>').format(
        at_utc.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "compact" if compact else "full",
        in_utc,
        f"{at_utc:%Y-%m-%d %H:%M:%S}" if compact else in_utc,
    )


_SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def _html(
    template: str, http_status: HTTPStatus = HTTPStatus.OK, /, **context: Any
) -> HTMLResponse:
    body = _templates().get_template(f"dashboard/{template}").render(**context)
    return HTMLResponse(body, status_code=http_status, headers=_SECURITY_HEADERS)


def _message(status: HTTPStatus, title: str, text: str, viewer: Viewer | None) -> HTMLResponse:
    return _html("message.html", status, title=title, text=text, viewer=viewer)


def _resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=HTTPStatus.SEE_OTHER)


def _secure(settings: Settings) -> bool:
    return settings.public_url.scheme == "https"


# ---------------------------------------------------------------------------------------------
# Who is looking


async def _viewer(request: Request, session: AsyncSession, settings: Settings) -> Viewer | None:
    """The signed-in viewer, if the session cookie is valid for a credential still in force."""
    cookie = request.cookies.get(SESSION_COOKIE)
    claim = read_claim(cookie, now=utc_now())
    if claim is None or cookie is None:
        return None
    if claim.role is Role.OPERATOR:
        if settings.admin_token is None:
            return None
        fingerprint = credential_fingerprint(settings.admin_token.get_secret_value())
    else:
        client = await session.get(Client, claim.client_id)
        if client is None:
            return None
        fingerprint = credential_fingerprint(client.secret_key_sha256)
    key = session_key(await deployment_secret(session, _resources(request).cipher))
    if not verify_claim(key, claim, fingerprint):
        return None
    return Viewer(claim.role, claim.client_id, cookie)


async def _form_token(request: Request, session: AsyncSession, viewer: Viewer) -> str:
    key = await form_key(session, _resources(request).cipher)
    return form_token(
        key, cookie=viewer.cookie, client_id=viewer.scope, user_id=_FORM_PURPOSE, now=utc_now()
    )


async def _posted_token_valid(request: Request, session: AsyncSession, viewer: Viewer) -> bool:
    form = await request.form()
    token = form.get("token")
    key = await form_key(session, _resources(request).cipher)
    return isinstance(token, str) and form_token_valid(
        key,
        token,
        cookie=viewer.cookie,
        client_id=viewer.scope,
        user_id=_FORM_PURPOSE,
        now=utc_now(),
    )


def _expired(viewer: Viewer | None) -> HTMLResponse:
    return _message(
        HTTPStatus.FORBIDDEN,
        "This page has expired",
        "Nothing was changed. Go back, reload the page and try again.",
        viewer,
    )


def _not_found(viewer: Viewer | None) -> HTMLResponse:
    return _message(HTTPStatus.NOT_FOUND, "Not found", "There is nothing here.", viewer)


def _client_id(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# Signing in and out


@router.get(LOGIN_PATH, response_class=HTMLResponse)
async def login_page(
    request: Request, session: SessionDep, settings: SettingsDep, failed: bool = False
) -> Response:
    """The sign-in form: the operator's token, or a client's credentials."""
    return await _login_form(request, session, settings, failed=failed)


async def _login_form(
    request: Request,
    session: AsyncSession,
    settings: Settings,
    *,
    failed: bool,
    status: HTTPStatus = HTTPStatus.OK,
) -> Response:
    cookie = request.cookies.get(LOGIN_COOKIE) or new_browser_cookie()
    key = await form_key(session, _resources(request).cipher)
    await session.commit()  # the deployment secret, when this view created it
    token = form_token(
        key, cookie=cookie, client_id=OPERATOR_SCOPE, user_id=_LOGIN_PURPOSE, now=utc_now()
    )
    response = _html(
        "login.html",
        status,
        viewer=None,
        token=token,
        failed=failed,
        operator_enabled=settings.admin_token is not None,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        cookie,
        max_age=int(FORM_TOKEN_LIFETIME.total_seconds()),
        path=COOKIE_PATH,
        secure=_secure(settings),
        httponly=True,
        samesite="strict",
    )
    return response


@router.post(LOGIN_PATH)
async def login(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """Check the credentials; on success set the session cookie and open the dashboard."""
    form = await request.form()
    key = await form_key(session, _resources(request).cipher)
    token = form.get("token")
    if not isinstance(token, str) or not form_token_valid(
        key,
        token,
        cookie=request.cookies.get(LOGIN_COOKIE),
        client_id=OPERATOR_SCOPE,
        user_id=_LOGIN_PURPOSE,
        now=utc_now(),
    ):
        return _expired(None)
    throttle, source, credential = throttle_of(request), peer_address(request), _credential(form)
    if (refusal := throttle.refusal(source, credential)) is not None:
        return _too_many_attempts(refusal)
    role, client_id, fingerprint = await _check_credentials(session, settings, form)
    if fingerprint is None:
        throttle.record_failure(source, credential)
        return await _login_form(
            request, session, settings, failed=True, status=HTTPStatus.UNAUTHORIZED
        )
    secret = await deployment_secret(session, _resources(request).cipher)
    await session.commit()
    cookie = new_session(
        session_key(secret), role=role, client_id=client_id, fingerprint=fingerprint, now=utc_now()
    )
    target = DASHBOARD_PATH if client_id is None else _client_path(client_id)
    response = _see_other(target)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path=COOKIE_PATH,
        secure=_secure(settings),
        httponly=True,
        samesite="strict",
    )
    response.delete_cookie(LOGIN_COOKIE, path=COOKIE_PATH)
    return response


def _credential(form: Any) -> str | None:
    """Which credential a sign-in tries, for counting failures: the operator or a client uuid."""
    admin_token, client_uuid = form.get("admin_token"), form.get("client_uuid")
    if isinstance(admin_token, str) and admin_token:
        return OPERATOR_CREDENTIAL
    return client_credential(client_uuid) if isinstance(client_uuid, str) else None


def _too_many_attempts(refusal: RateLimitedError) -> HTMLResponse:
    response = _message(
        HTTPStatus.TOO_MANY_REQUESTS,
        "Too many attempts",
        f"Signing in failed too often. Try again in {math.ceil(refusal.retry_after_s / 60)} "
        "minutes.",
        None,
    )
    response.headers["Retry-After"] = str(refusal.retry_after_s)
    return response


async def _check_credentials(
    session: AsyncSession, settings: Settings, form: Any
) -> tuple[Role, uuid.UUID | None, str | None]:
    """Who the posted credentials prove to be, and the fingerprint to bind the session to
    (None: refused)."""
    admin_token = form.get("admin_token")
    if isinstance(admin_token, str) and admin_token:
        expected = settings.admin_token
        if expected is not None and hmac.compare_digest(
            admin_token.encode(), expected.get_secret_value().encode()
        ):
            return Role.OPERATOR, None, credential_fingerprint(expected.get_secret_value())
        return Role.OPERATOR, None, None
    client_uuid, secret_key = form.get("client_uuid"), form.get("secret_key")
    if not isinstance(client_uuid, str) or not isinstance(secret_key, str):
        return Role.CLIENT, None, None
    try:
        client = await authenticate_client(session, client_uuid.strip(), secret_key.strip())
    except UnauthenticatedError:
        return Role.CLIENT, None, None
    return Role.CLIENT, client.id, credential_fingerprint(client.secret_key_sha256)


@router.post(DASHBOARD_PATH + "/logout")
async def logout(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """End the session (the cookie is cleared) and go back to the sign-in form."""
    viewer = await _viewer(request, session, settings)
    if viewer is not None and not await _posted_token_valid(request, session, viewer):
        return _expired(viewer)
    response = _see_other(LOGIN_PATH)
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response


# ---------------------------------------------------------------------------------------------
# Reads


@dataclass(frozen=True, slots=True)
class ClientRow:
    """A client in the operator's overview."""

    id: uuid.UUID
    name: str
    users: int
    deliveries: dict[str, int]


@dataclass(frozen=True, slots=True)
class UserRow:
    """A user in a client's list, with its connection and sync state."""

    user_id: str
    state: str | None
    linked_at: datetime | None
    backfill_status: BackfillStatus | None
    backfill_done: int
    backfill_total: int
    last_notification_at: datetime | None
    last_fetch_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """A delivery in the log, with its attempts."""

    delivery: Delivery
    attempts: list[DeliveryAttempt]

    @property
    def what(self) -> str:
        """The document structure or the client event it carries."""
        if self.delivery.data_structure is not None:
            return str(self.delivery.data_structure)
        return f"event: {self.delivery.event}"

    @property
    def last_latency_ms(self) -> int | None:
        """The round trip of its latest attempt."""
        return self.attempts[-1].latency_ms if self.attempts else None


@dataclass(frozen=True, slots=True)
class Budget:
    """The deployment's Withings call budget over the current window."""

    used: int
    per_minute: int
    backfill_limit: int
    blocked_until: datetime | None

    @property
    def used_percent(self) -> float:
        """The share of the window used, 0 to 100."""
        return min(100.0, 100.0 * self.used / self.per_minute)


async def _client_rows(session: AsyncSession) -> list[ClientRow]:
    user_counts = await session.execute(
        select(User.client_id, func.count()).group_by(User.client_id)
    )
    users: dict[uuid.UUID, int] = dict(user_counts.all())
    counts: dict[uuid.UUID, dict[str, int]] = defaultdict(dict)
    for client_id, status, count in (
        await session.execute(
            select(Delivery.client_id, Delivery.status, func.count()).group_by(
                Delivery.client_id, Delivery.status
            )
        )
    ).all():
        counts[client_id][str(status)] = count
    clients = await session.scalars(select(Client).order_by(Client.name, Client.id))
    return [
        ClientRow(client.id, client.name, users.get(client.id, 0), counts.get(client.id, {}))
        for client in clients
    ]


async def _user_rows(session: AsyncSession, client_id: uuid.UUID) -> list[UserRow]:
    rows = await session.execute(
        select(
            User.user_id,
            WithingsConnection,
            SyncState,
            last_notified_at(WithingsConnection.withings_userid),
        )
        .outerjoin(WithingsConnection, WithingsConnection.user_pk == User.id)
        .outerjoin(SyncState, SyncState.connection_id == WithingsConnection.id)
        .where(User.client_id == client_id)
        .order_by(User.user_id)
    )
    result: list[UserRow] = []
    for user_id, connection, state, notified_at in rows.all():
        result.append(
            UserRow(
                user_id=user_id,
                state=None if connection is None else str(connection.state),
                linked_at=None if connection is None else connection.linked_at,
                backfill_status=None if state is None else state.backfill_status,
                backfill_done=0 if state is None else state.backfill_steps_done,
                backfill_total=0 if state is None else state.backfill_steps_total,
                last_notification_at=notified_at,
                last_fetch_at=None if state is None else state.last_fetch_at,
                last_error=None if state is None else state.last_error,
                last_error_at=None if state is None else state.last_error_at,
            )
        )
    return result


async def _delivery_rows(
    session: AsyncSession,
    client_id: uuid.UUID,
    *,
    status: DeliveryStatus | None,
    cursor: str | None,
) -> tuple[list[DeliveryRow], str | None]:
    page = await list_deliveries(
        session, client_id, status=status, limit=DELIVERIES_PER_PAGE, cursor=cursor
    )
    ids = [delivery.id for delivery in page.deliveries]
    attempts: dict[uuid.UUID, list[DeliveryAttempt]] = defaultdict(list)
    if ids:
        for attempt in await session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id.in_(ids))
            .order_by(DeliveryAttempt.attempt, DeliveryAttempt.id)
        ):
            attempts[attempt.delivery_id].append(attempt)
    rows = [DeliveryRow(delivery, attempts[delivery.id]) for delivery in page.deliveries]
    return rows, page.next_cursor


async def _budget(session: AsyncSession, settings: Settings, now: datetime) -> Budget:
    row = await session.get(RateLimit, WITHINGS)
    per_minute = settings.withings_rate_limit_per_minute
    now_s = now.timestamp()
    grants = [] if row is None else row.recent_grants_epoch_s
    blocked = None if row is None else row.blocked_until
    return Budget(
        used=used_in_window(grants, now_s),
        per_minute=per_minute,
        backfill_limit=per_minute
        - reserve_for(Priority.BACKFILL, per_minute, ahead_in_window(grants, now_s)),
        blocked_until=blocked if blocked is not None and blocked > now else None,
    )


# ---------------------------------------------------------------------------------------------
# Pages


def _client_path(client_id: uuid.UUID) -> str:
    return f"{DASHBOARD_PATH}/clients/{client_id}"


def _user_path(client_id: uuid.UUID, user_id: str, **query: str) -> str:
    path = f"{_client_path(client_id)}/users/{user_id}"
    return f"{path}?{urlencode(query)}" if query else path


@router.get(DASHBOARD_PATH, response_class=HTMLResponse)
async def overview(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """The operator's overview of every client; a client goes to its own page."""
    viewer = await _viewer(request, session, settings)
    if viewer is None:
        return _see_other(LOGIN_PATH)
    if viewer.client_id is not None:
        return _see_other(_client_path(viewer.client_id))
    budget = await _budget(session, settings, utc_now())
    response = _html(
        "overview.html",
        viewer=viewer,
        token=await _form_token(request, session, viewer),
        clients=await _client_rows(session),
        budget=budget,
        budget_bar=_meter(budget),
    )
    await session.commit()
    return response


@router.get(DASHBOARD_PATH + "/clients/{client_uuid}", response_class=HTMLResponse)
async def client_page(
    request: Request,
    client_uuid: str,
    session: SessionDep,
    settings: SettingsDep,
    status: str | None = None,
    cursor: str | None = None,
    notice: str | None = None,
) -> Response:
    """A client's users, their sync, the delivery log and the rate-limit budget."""
    viewer = await _viewer(request, session, settings)
    if viewer is None:
        return _see_other(LOGIN_PATH)
    client_id = _client_id(client_uuid)
    client = None if client_id is None else await session.get(Client, client_id)
    if client is None or not viewer.may_see(client.id):
        return _not_found(viewer)
    try:
        status_filter = DeliveryStatus(status) if status else None
        deliveries, next_cursor = await _delivery_rows(
            session, client.id, status=status_filter, cursor=cursor or None
        )
    except (ValueError, InvalidInputError):
        return _message(
            HTTPStatus.BAD_REQUEST,
            "Invalid filter",
            "That delivery filter or page does not exist.",
            viewer,
        )
    budget = await _budget(session, settings, utc_now())
    response = _html(
        "client.html",
        viewer=viewer,
        token=await _form_token(request, session, viewer),
        client=client,
        client_path=_client_path(client.id),
        users=await _user_rows(session, client.id),
        deliveries=deliveries,
        next_page=(
            f"{_client_path(client.id)}?"
            + urlencode({k: v for k, v in (("status", status), ("cursor", next_cursor)) if v})
            if next_cursor
            else None
        ),
        status=status or "",
        statuses=[s.value for s in DeliveryStatus],
        notice=notice == "redelivered",
        budget=budget,
        budget_bar=_meter(budget),
    )
    await session.commit()
    return response


@router.post(DASHBOARD_PATH + "/clients/{client_uuid}/deliveries/{delivery_id}/redeliver")
async def redeliver_delivery(
    request: Request,
    client_uuid: str,
    delivery_id: str,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """Send a delivery again (a delivered or dead one as a new message), then show the log."""
    viewer = await _viewer(request, session, settings)
    if viewer is None:
        return _see_other(LOGIN_PATH)
    client_id = _client_id(client_uuid)
    target = _client_id(delivery_id)
    if client_id is None or target is None or not viewer.may_see(client_id):
        return _not_found(viewer)
    if not await _posted_token_valid(request, session, viewer):
        return _expired(viewer)
    try:
        await redeliver(session, client_id, target)
    except NotFoundError:
        return _not_found(viewer)
    await session.commit()
    return _see_other(f"{_client_path(client_id)}?notice=redelivered")


@router.get(DASHBOARD_PATH + "/clients/{client_uuid}/users/{user_id}", response_class=HTMLResponse)
async def user_page(
    request: Request,
    client_uuid: str,
    user_id: str,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """A user's sync status and charts of its delivered data over a chosen range."""
    viewer = await _viewer(request, session, settings)
    if viewer is None:
        return _see_other(LOGIN_PATH)
    client_id = _client_id(client_uuid)
    client = None if client_id is None else await session.get(Client, client_id)
    if client is None or not viewer.may_see(client.id) or not USER_ID_PATTERN.fullmatch(user_id):
        return _not_found(viewer)
    try:
        status = await sync_status(session, client_id=client.id, user_id=user_id)
    except NotFoundError:
        return _not_found(viewer)
    # `from` is a Python keyword, so the range is read from the query directly.
    query = request.query_params
    today = utc_now().astimezone(zone_of(status.timezone) or UTC).date()
    try:
        first, last = parse_range(query.get("from"), query.get("to"), today=today)
    except InvalidInputError as refused:
        return _message(HTTPStatus.BAD_REQUEST, "Invalid range", str(refused), viewer)
    series = await user_series(
        session,
        client_id=client.id,
        user_id=user_id,
        from_date=first,
        to_date=last,
        timezone=status.timezone,
    )
    response = _html(
        "user.html",
        viewer=viewer,
        token=await _form_token(request, session, viewer),
        client=client,
        client_path=_client_path(client.id),
        user_id=user_id,
        status=status,
        backfill_bar=_progress(status),
        first=first,
        last=last,
        presets=[
            (
                f"{days} days",
                _user_path(
                    client.id,
                    user_id,
                    **{"from": (today - timedelta(days=days - 1)).isoformat()},
                    to=today.isoformat(),
                ),
            )
            for days in RANGE_PRESETS_DAYS
        ],
        user_path=_user_path(client.id, user_id),
        connections_path=f"/connections/client_uuid/{client.id}/user_id/{user_id}",
        charts=user_charts(series, charts.DayAxis(first, last)),
    )
    await session.commit()
    return response


def parse_range(from_text: str | None, to_text: str | None, *, today: date) -> tuple[date, date]:
    """The chart range from the query: ISO dates, by default the `DEFAULT_RANGE_DAYS` ending
    `today`. Raises `InvalidInputError` for a bad date, a reversed or an over-long range."""
    try:
        last = date.fromisoformat(to_text) if to_text else today
        first = (
            date.fromisoformat(from_text)
            if from_text
            else last - timedelta(days=DEFAULT_RANGE_DAYS - 1)
        )
    except ValueError:
        raise InvalidInputError("dates are written YYYY-MM-DD") from None
    if first > last:
        raise InvalidInputError("the range must not end before it starts")
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise InvalidInputError(f"a range spans at most {MAX_RANGE_DAYS} days")
    return first, last


# ---------------------------------------------------------------------------------------------
# Charts


def user_charts(series: UserSeries, axis: charts.DayAxis) -> list[Markup]:
    """The user page's charts, in reading order."""
    return [
        charts.stacked_bar_chart(
            chart_id="sleep-stages",
            title="Sleep stages per night",
            unit="hours",
            axis=axis,
            parts=(
                charts.Part("deep", "Deep"),
                charts.Part("light", "Light"),
                charts.Part("rem", "REM"),
                charts.Part("awake", "Awake"),
            ),
            values={
                night.day: tuple(
                    seconds / 3600
                    for seconds in (night.deep_s, night.light_s, night.rem_s, night.awake_s)
                )
                for night in series.nights
            },
            value_format=charts.hours_minutes,
            empty="No sleep summaries in this range.",
        ),
        charts.line_chart(
            chart_id="sleep-hr",
            title="Heart rate during sleep",
            unit="bpm",
            axis=axis,
            series=[
                (
                    charts.Part(key, label),
                    [
                        charts.Point(night.day, float(value))
                        for night in series.nights
                        if (value := getattr(night, attribute)) is not None
                    ],
                )
                for key, label, attribute in (
                    ("max", "Maximum", "hr_max_bpm"),
                    ("avg", "Average", "hr_avg_bpm"),
                    ("min", "Minimum", "hr_min_bpm"),
                )
            ],
            value_format=charts.plain("bpm"),
            empty="No sleep heart rate in this range.",
        ),
        charts.bar_chart(
            chart_id="steps",
            title="Daily steps",
            unit="steps",
            axis=axis,
            part=charts.Part("steps", "Steps"),
            values={day.day: day.steps for day in series.activity if day.steps is not None},
            value_format=charts.plain("steps"),
            empty="No daily activity in this range.",
        ),
        charts.bar_chart(
            chart_id="active-minutes",
            title="Active minutes",
            unit="min",
            axis=axis,
            part=charts.Part("active", "Active"),
            values={
                day.day: day.active_s / 60 for day in series.activity if day.active_s is not None
            },
            value_format=charts.plain("min"),
            empty="No daily activity in this range.",
        ),
        charts.line_chart(
            chart_id="weight",
            title="Weight",
            unit="kg",
            axis=axis,
            series=[
                (
                    charts.Part("weight", "Weight"),
                    [charts.Point(r.at, r.value) for r in series.weights_kg],
                )
            ],
            value_format=charts.plain("kg", 1),
            empty="No weigh-ins in this range.",
        ),
        charts.line_chart(
            chart_id="blood-pressure",
            title="Blood pressure",
            unit="mmHg",
            axis=axis,
            series=[
                (
                    charts.Part("systolic", "Systolic"),
                    [charts.Point(p.at, float(p.systolic_mmhg)) for p in series.pressures],
                ),
                (
                    charts.Part("diastolic", "Diastolic"),
                    [charts.Point(p.at, float(p.diastolic_mmhg)) for p in series.pressures],
                ),
            ],
            value_format=charts.plain("mmHg"),
            empty="No blood-pressure readings in this range.",
        ),
        charts.line_chart(
            chart_id="spo2",
            title="Blood oxygen (SpO2)",
            unit="%",
            axis=axis,
            series=[
                (
                    charts.Part("spo2", "SpO2"),
                    [charts.Point(r.at, r.value) for r in series.spo2_percent],
                )
            ],
            value_format=charts.plain("%"),
            empty="No SpO2 readings in this range.",
            ceiling=100.0,
        ),
    ]


def _meter(budget: Budget) -> Markup:
    """The budget as a small SVG bar (no inline style: the CSP forbids it)."""
    return _bar(budget.used_percent, f"{budget.used} of {budget.per_minute} calls this minute")


def _progress(status: SyncStatus) -> Markup | None:
    if status.backfill_steps_total <= 0:
        return None
    percent = 100.0 * status.backfill_steps_done / status.backfill_steps_total
    return _bar(percent, f"{status.backfill_steps_done} of {status.backfill_steps_total} steps")


def _bar(percent: float, label: str) -> Markup:
    width = max(0.0, min(100.0, percent))
    return Markup(
        '<svg class="meter" viewBox="0 0 100 8" preserveAspectRatio="none" role="img" '
        'aria-label="{label}"><rect class="meter-track" width="100" height="8" rx="4"/>'
        '<rect class="meter-fill" width="{width:.1f}" height="8" rx="4"/></svg>'
    ).format(label=label, width=width)
