"""The async Withings API client (I/O).

Every call is a POST with a form-encoded body to `<api_url><service>`; data calls carry the
user's access token as a bearer header. The client holds no tokens: the caller passes the access
token per call and owns storage and refresh (one lock per connection). It does not own the
`httpx2.AsyncClient` it is given and never closes it.

Each exchange is reported to the optional `recorder` (the pipeline archives every raw response);
then the envelope is unwrapped by `errors.unwrap` and the body parsed by `responses`. Paged
endpoints are followed to the end and merged into one page.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, ClassVar, Final, Protocol, TypeVar

import httpx2

from rookery.withings import responses
from rookery.withings.codes import Appli, MeasureCategory, MeasureType
from rookery.withings.errors import (
    DEFAULT_RATE_LIMIT_WAIT_S,
    WithingsMalformedResponse,
    WithingsRateLimited,
    WithingsUnavailable,
    redact,
    unwrap,
)
from rookery.withings.responses import (
    DATA_FIELDS,
    ActivityPage,
    Device,
    Endpoint,
    Goals,
    HeartPage,
    IntradayActivity,
    MeasureGroupsPage,
    NotifyProfile,
    SleepSeries,
    SleepSummaryPage,
    TokenSet,
    WorkoutsPage,
)
from rookery.withings.signature import sign

__all__ = ["DEFAULT_MAX_PAGES", "Exchange", "ExchangeRecorder", "WithingsClient"]

# 300 rows a page (the observed getsummary size) × 200 pages is far beyond any real history;
# a response still saying `more` after that is looping, not paging.
DEFAULT_MAX_PAGES: Final = 200

# Request parameters that are secrets, or that grant access on their own: never recorded.
_SECRET_PARAMS: Final = frozenset(
    {"client_secret", "code", "refresh_token", "access_token", "signature", "nonce"}
)

OAUTH2_SERVICE: Final = "/v2/oauth2"
_SIGNATURE: Final = "/v2/signature"
_USER: Final = "/v2/user"
_NOTIFY: Final = "/notify"

Params = Mapping[str, str]


@dataclasses.dataclass(frozen=True, slots=True)
class Exchange:
    """One request to Withings and what came back, with every secret removed from `params`.

    `http_status` and `response_text` are None when no response arrived (timeout, connection
    error). `response_text` is the body exactly as received.
    """

    service: str
    action: str
    params: Params
    http_status: int | None
    response_text: str | None
    elapsed_s: float
    started_at_utc: dt.datetime


ExchangeRecorder = Callable[[Exchange], Awaitable[None]]

CallGate = Callable[[str, str, Mapping[str, str]], Awaitable[str | None]]
"""Asked before each call with its service, action and params (as an `Exchange` records them):
the body an earlier exchange already got for exactly that request, which is then used without a
call and not recorded again, or None to make the call (once whatever the gate waits for, such
as a rate-limit grant, is had; the gate may raise instead)."""


class _Page(Protocol):
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    @property
    def more(self) -> bool: ...

    @property
    def offset(self) -> int: ...

    @property
    def raw(self) -> Mapping[str, Any]: ...


PageT = TypeVar("PageT", bound=_Page)


class WithingsClient:
    """Typed access to the Withings API; every failure is a `WithingsError` subclass."""

    def __init__(
        self,
        http: httpx2.AsyncClient,
        *,
        api_url: str,
        client_id: str,
        client_secret: str,
        recorder: ExchangeRecorder | None = None,
        gate: CallGate | None = None,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        self._http = http
        self._api_url = api_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._recorder = recorder
        self._gate = gate
        self._max_pages = max_pages

    def __repr__(self) -> str:
        return f"WithingsClient(api_url={self._api_url!r}, client_id={self._client_id!r})"

    # -- OAuth 2 ---------------------------------------------------------------------------

    async def exchange_code(self, code: str, redirect_uri: str) -> TokenSet:
        """Trade an authorization code (valid 30 s, single use) for the user's tokens.

        A rejected code raises `WithingsInvalidGrant`.
        """
        body = await self._call(
            OAUTH2_SERVICE,
            "requesttoken",
            {
                "grant_type": "authorization_code",
                "client_id": self._client_id,
                "client_secret": self._client_secret,
                "code": code,
                "redirect_uri": redirect_uri,
            },
        )
        return responses.parse_token(body)

    async def refresh_token(self, refresh_token: str) -> TokenSet:
        """A new token pair; store its refresh token, it replaces the one passed in.

        When Withings returns no new refresh token, the one passed in is kept. A rejected refresh
        token raises `WithingsInvalidGrant`: only then must the user re-link.
        """
        body = await self._call(
            OAUTH2_SERVICE,
            "requesttoken",
            {
                "grant_type": "refresh_token",
                "client_id": self._client_id,
                "client_secret": self._client_secret,
                "refresh_token": refresh_token,
            },
        )
        return responses.parse_token(body, fallback_refresh_token=refresh_token)

    async def revoke(self, userid: str) -> None:
        """Revoke the user's tokens (Withings also drops their notification subscriptions)."""
        nonce = await self._nonce()
        await self._call(
            OAUTH2_SERVICE,
            "revoke",
            {
                "client_id": self._client_id,
                "nonce": nonce,
                "signature": self._sign("revoke", nonce=nonce),
                "userid": userid,
            },
        )

    async def _nonce(self) -> str:
        timestamp = str(int(time.time()))
        body = await self._call(
            _SIGNATURE,
            "getnonce",
            {
                "client_id": self._client_id,
                "timestamp": timestamp,
                "signature": self._sign("getnonce", timestamp=timestamp),
            },
        )
        return responses.parse_getnonce(body)

    def _sign(self, action: str, **values: str) -> str:
        return sign(self._client_secret, {"action": action, "client_id": self._client_id, **values})

    # -- Data ------------------------------------------------------------------------------

    async def getmeas(
        self,
        access_token: str,
        *,
        meastypes: Iterable[MeasureType | int] | None = None,
        category: MeasureCategory = MeasureCategory.REAL,
        startdate: dt.datetime | None = None,
        enddate: dt.datetime | None = None,
        lastupdate: dt.datetime | None = None,
    ) -> MeasureGroupsPage:
        """Measure groups taken in [startdate, enddate], or changed since `lastupdate`, all pages.

        The merged page keeps the first page's `updatetime` (the safe sync cursor).
        """
        params = _window(startdate, enddate, lastupdate)
        params["category"] = str(int(category))
        if meastypes is not None:
            params["meastypes"] = ",".join(str(int(code)) for code in meastypes)
        return await self._pages(
            Endpoint.GETMEAS, params, access_token, responses.parse_getmeas, "measuregrps"
        )

    async def getactivity(
        self,
        access_token: str,
        *,
        startdateymd: dt.date | None = None,
        enddateymd: dt.date | None = None,
        lastupdate: dt.datetime | None = None,
        data_fields: Iterable[str] | None = None,
    ) -> ActivityPage:
        """Daily activity rows for the local dates [startdateymd, enddateymd] or since a time."""
        params = _ymd_window(startdateymd, enddateymd, lastupdate)
        params["data_fields"] = _fields(Endpoint.GETACTIVITY, data_fields)
        return await self._pages(
            Endpoint.GETACTIVITY, params, access_token, responses.parse_getactivity, "activities"
        )

    async def getworkouts(
        self,
        access_token: str,
        *,
        startdateymd: dt.date | None = None,
        enddateymd: dt.date | None = None,
        lastupdate: dt.datetime | None = None,
        data_fields: Iterable[str] | None = None,
    ) -> WorkoutsPage:
        """Workouts of the local dates [startdateymd, enddateymd] or changed since a time."""
        params = _ymd_window(startdateymd, enddateymd, lastupdate)
        params["data_fields"] = _fields(Endpoint.GETWORKOUTS, data_fields)
        return await self._pages(
            Endpoint.GETWORKOUTS, params, access_token, responses.parse_getworkouts, "series"
        )

    async def sleep_getsummary(
        self,
        access_token: str,
        *,
        startdateymd: dt.date | None = None,
        enddateymd: dt.date | None = None,
        lastupdate: dt.datetime | None = None,
        data_fields: Iterable[str] | None = None,
    ) -> SleepSummaryPage:
        """Sleep summaries of the local dates [startdateymd, enddateymd] or changed since a time."""
        params = _ymd_window(startdateymd, enddateymd, lastupdate)
        params["data_fields"] = _fields(Endpoint.SLEEP_GETSUMMARY, data_fields)
        return await self._pages(
            Endpoint.SLEEP_GETSUMMARY,
            params,
            access_token,
            responses.parse_sleep_getsummary,
            "series",
        )

    async def getintradayactivity(
        self,
        access_token: str,
        *,
        startdate: dt.datetime | None = None,
        enddate: dt.datetime | None = None,
        data_fields: Iterable[str] | None = None,
    ) -> IntradayActivity:
        """Intraday samples from `startdate` (Withings returns at most 24 h per call)."""
        params = _window(startdate, enddate, None)
        params["data_fields"] = _fields(Endpoint.GETINTRADAYACTIVITY, data_fields)
        body = await self._call(
            Endpoint.GETINTRADAYACTIVITY.service,
            Endpoint.GETINTRADAYACTIVITY.action,
            params,
            access_token,
        )
        return responses.parse_getintradayactivity(body)

    async def sleep_get(
        self,
        access_token: str,
        *,
        startdate: dt.datetime,
        enddate: dt.datetime,
        data_fields: Iterable[str] | None = None,
    ) -> SleepSeries:
        """Sleep state segments with their per-minute series (at most 24 h per call)."""
        params = _window(startdate, enddate, None)
        params["data_fields"] = _fields(Endpoint.SLEEP_GET, data_fields)
        body = await self._call(
            Endpoint.SLEEP_GET.service, Endpoint.SLEEP_GET.action, params, access_token
        )
        return responses.parse_sleep_get(body)

    async def heart_list(
        self,
        access_token: str,
        *,
        startdate: dt.datetime | None = None,
        enddate: dt.datetime | None = None,
    ) -> HeartPage:
        """ECG recordings taken in [startdate, enddate], all pages."""
        params = _window(startdate, enddate, None)
        return await self._pages(
            Endpoint.HEART_LIST, params, access_token, responses.parse_heart_list, "series"
        )

    async def getdevice(self, access_token: str) -> tuple[Device, ...]:
        """The user's devices."""
        return responses.parse_getdevice(await self._call(_USER, "getdevice", {}, access_token))

    async def getgoals(self, access_token: str) -> Goals:
        """The user's goals."""
        return responses.parse_getgoals(await self._call(_USER, "getgoals", {}, access_token))

    # -- Notifications ---------------------------------------------------------------------

    async def notify_subscribe(
        self, access_token: str, *, callbackurl: str, appli: Appli, comment: str | None = None
    ) -> None:
        """Subscribe the user to `appli`; Withings first probes `callbackurl` with a HEAD."""
        params = {"callbackurl": callbackurl, "appli": str(int(appli))}
        if comment is not None:
            params["comment"] = comment
        await self._call(_NOTIFY, "subscribe", params, access_token)

    async def notify_list(
        self, access_token: str, *, appli: Appli | None = None
    ) -> tuple[NotifyProfile, ...]:
        """The user's subscriptions, optionally only those of one `appli`."""
        params = {} if appli is None else {"appli": str(int(appli))}
        body = await self._call(_NOTIFY, "list", params, access_token)
        return responses.parse_notify_list(body)

    async def notify_get(
        self, access_token: str, *, callbackurl: str, appli: Appli | None = None
    ) -> NotifyProfile:
        """The user's subscription to `callbackurl` (Withings defaults `appli` to 1)."""
        params = {"callbackurl": callbackurl}
        if appli is not None:
            params["appli"] = str(int(appli))
        body = await self._call(_NOTIFY, "get", params, access_token)
        return responses.parse_notify_get(body)

    async def notify_revoke(self, access_token: str, *, callbackurl: str, appli: Appli) -> None:
        """Remove the user's subscription of `appli` to `callbackurl`."""
        params = {"callbackurl": callbackurl, "appli": str(int(appli))}
        await self._call(_NOTIFY, "revoke", params, access_token)

    async def notify_update(
        self,
        access_token: str,
        *,
        callbackurl: str,
        appli: Appli,
        new_callbackurl: str | None = None,
        new_appli: Appli | None = None,
        comment: str | None = None,
    ) -> None:
        """Change one subscription's callback URL, category or comment."""
        params = {"callbackurl": callbackurl, "appli": str(int(appli))}
        if new_callbackurl is not None:
            params["new_callbackurl"] = new_callbackurl
        if new_appli is not None:
            params["new_appli"] = str(int(new_appli))
        if comment is not None:
            params["comment"] = comment
        if len(params) == 2:
            raise ValueError("notify_update needs new_callbackurl, new_appli or comment")
        await self._call(_NOTIFY, "update", params, access_token)

    # -- Transport -------------------------------------------------------------------------

    async def _pages(
        self,
        endpoint: Endpoint,
        params: dict[str, str],
        access_token: str,
        parse: Callable[[Mapping[str, Any]], PageT],
        items_key: str,
    ) -> PageT:
        """Every page of a paged endpoint, merged into the first: all items, `more` false."""
        service, action = endpoint.service, endpoint.action
        first = page = parse(await self._call(service, action, params, access_token))
        items = list(getattr(page, items_key))
        raw_items = list(page.raw.get(items_key) or ())
        pages = 1
        while page.more:
            if pages >= self._max_pages:
                raise WithingsMalformedResponse(
                    f"Withings {service} {action}: still 'more' after {pages} pages",
                    service=service,
                    action=action,
                )
            previous_offset = page.offset
            body = await self._call(
                service, action, {**params, "offset": str(previous_offset)}, access_token
            )
            page = parse(body)
            pages += 1
            if page.more and page.offset <= previous_offset:
                raise WithingsMalformedResponse(
                    f"Withings {service} {action}: 'more' with an offset that did not advance "
                    f"({previous_offset} -> {page.offset})",
                    service=service,
                    action=action,
                )
            items.extend(getattr(page, items_key))
            raw_items.extend(page.raw.get(items_key) or ())
        if pages == 1:
            return first
        merged_raw = {
            **first.raw,
            items_key: raw_items,
            "more": page.raw.get("more", False),
            "offset": page.offset,
        }
        return dataclasses.replace(
            first, **{items_key: tuple(items), "more": False, "offset": page.offset}, raw=merged_raw
        )

    async def _call(
        self, service: str, action: str, params: Params, access_token: str | None = None
    ) -> Mapping[str, Any]:
        """POST one call (unless the gate has its answer), record it, and return the
        unwrapped body."""
        form = {"action": action, **params}
        if self._gate is not None:
            answered = await self._gate(service, action, _recorded_params(form))
            if answered is not None:
                return _unwrapped(answered, service=service, action=action)
        headers = {} if access_token is None else {"Authorization": f"Bearer {access_token}"}
        started_at = dt.datetime.now(dt.UTC)
        started = time.perf_counter()
        try:
            response = await self._http.post(self._api_url + service, data=form, headers=headers)
        except httpx2.TimeoutException as error:
            await self._record(service, action, form, None, None, started, started_at)
            raise WithingsUnavailable(
                f"Withings {service} {action}: timed out ({type(error).__name__})",
                service=service,
                action=action,
            ) from error
        except httpx2.DecodingError as error:
            await self._record(service, action, form, None, None, started, started_at)
            raise WithingsMalformedResponse(
                f"Withings {service} {action}: undecodable response body",
                service=service,
                action=action,
            ) from error
        except httpx2.RequestError as error:
            await self._record(service, action, form, None, None, started, started_at)
            raise WithingsUnavailable(
                f"Withings {service} {action}: {type(error).__name__}",
                service=service,
                action=action,
            ) from error
        text = response.text
        await self._record(service, action, form, response.status_code, text, started, started_at)
        _check_http_status(response, service=service, action=action)
        return _unwrapped(
            text,
            service=service,
            action=action,
            describe=lambda: _describe_non_json(response, text),
        )

    async def _record(
        self,
        service: str,
        action: str,
        form: Params,
        http_status: int | None,
        text: str | None,
        started: float,
        started_at: dt.datetime,
    ) -> None:
        if self._recorder is None:
            return
        await self._recorder(
            Exchange(
                service=service,
                action=action,
                params=_recorded_params(form),
                http_status=http_status,
                response_text=text,
                elapsed_s=time.perf_counter() - started,
                started_at_utc=started_at,
            )
        )


def _recorded_params(form: Params) -> dict[str, str]:
    """A request's form as it is recorded: secrets left out, identifiers redacted."""
    return {key: redact(value) for key, value in form.items() if key not in _SECRET_PARAMS}


def _unwrapped(
    text: str,
    *,
    service: str,
    action: str,
    describe: Callable[[], str] = lambda: "a body that is not JSON",
) -> Mapping[str, Any]:
    """The body of a Withings answer's text, its envelope unwrapped (raises as `unwrap`)."""
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        raise WithingsMalformedResponse(
            f"Withings {service} {action}: {describe()}", service=service, action=action
        ) from None
    return unwrap(payload, service=service, action=action)


def _check_http_status(response: httpx2.Response, *, service: str, action: str) -> None:
    """Withings answers HTTP 200 even for errors; anything else came from the way there."""
    status = response.status_code
    if 200 <= status < 300:
        return
    where = f"Withings {service} {action}: HTTP {status}"
    if status == 429:
        raise WithingsRateLimited(
            where,
            service=service,
            action=action,
            wait_seconds=_retry_after_s(response.headers.get("retry-after")),
        )
    if status >= 500 or status == 408:
        raise WithingsUnavailable(where, service=service, action=action)
    raise WithingsMalformedResponse(where, service=service, action=action)


def _retry_after_s(value: str | None) -> int:
    if value is not None and value.strip().isdigit():
        return int(value.strip())
    return DEFAULT_RATE_LIMIT_WAIT_S


def _describe_non_json(response: httpx2.Response, text: str) -> str:
    content_type = response.headers.get("content-type", "no content type")
    if not text.strip():
        return "empty response body"
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        return f"truncated or invalid JSON ({len(text)} characters, {content_type})"
    return f"response is not JSON ({content_type})"


def _epoch(moment: dt.datetime, name: str) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime")
    return str(int(moment.timestamp()))


def _window(
    startdate: dt.datetime | None,
    enddate: dt.datetime | None,
    lastupdate: dt.datetime | None,
) -> dict[str, str]:
    """Epoch parameters; `lastupdate` excludes a date range (Withings treats them as exclusive)."""
    if lastupdate is not None and (startdate is not None or enddate is not None):
        raise ValueError("lastupdate cannot be combined with startdate/enddate")
    params: dict[str, str] = {}
    if startdate is not None:
        params["startdate"] = _epoch(startdate, "startdate")
    if enddate is not None:
        params["enddate"] = _epoch(enddate, "enddate")
    if lastupdate is not None:
        params["lastupdate"] = _epoch(lastupdate, "lastupdate")
    return params


def _ymd_window(
    startdateymd: dt.date | None, enddateymd: dt.date | None, lastupdate: dt.datetime | None
) -> dict[str, str]:
    """Local-date parameters: both dates, or `lastupdate` alone."""
    if lastupdate is not None:
        if startdateymd is not None or enddateymd is not None:
            raise ValueError("lastupdate cannot be combined with startdateymd/enddateymd")
        return {"lastupdate": _epoch(lastupdate, "lastupdate")}
    if startdateymd is None or enddateymd is None:
        raise ValueError("give both startdateymd and enddateymd, or lastupdate")
    return {"startdateymd": startdateymd.isoformat(), "enddateymd": enddateymd.isoformat()}


def _fields(endpoint: Endpoint, data_fields: Iterable[str] | None) -> str:
    return ",".join(DATA_FIELDS[endpoint] if data_fields is None else data_fields)
