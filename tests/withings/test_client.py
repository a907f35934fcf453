"""The async client over `httpx2.MockTransport`: wire format, paging, tokens, errors, recording."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Callable
from urllib.parse import parse_qsl

import httpx2
import pytest

from rookery.withings.client import Exchange, WithingsClient
from rookery.withings.codes import Appli, MeasureType, Scope
from rookery.withings.errors import (
    WithingsAuthError,
    WithingsInvalidGrant,
    WithingsMalformedResponse,
    WithingsRateLimited,
    WithingsUnavailable,
)
from rookery.withings.responses import DATA_FIELDS, Endpoint
from rookery.withings.signature import signature_matches
from tests.withings.captured import load_captured

pytestmark = pytest.mark.anyio

API = "https://wbs.test"
CLIENT_ID = "my-client-id"
SECRET = "my-client-secret"
ACCESS = "access-2f3c9e"
Handler = Callable[[httpx2.Request], httpx2.Response]


def ok(body: object) -> httpx2.Response:
    return httpx2.Response(200, json={"status": 0, "body": body})


def form(request: httpx2.Request) -> dict[str, str]:
    return dict(parse_qsl(request.content.decode(), keep_blank_values=True))


def _constant(response: httpx2.Response) -> Handler:
    def handler(_request: httpx2.Request) -> httpx2.Response:
        return response

    return handler


class FakeWithings:
    """Answers each request with the next scripted handler and keeps every request."""

    def __init__(self) -> None:
        self.script: list[Handler] = []
        self.requests: list[httpx2.Request] = []

    def reply(self, *handlers: Handler | httpx2.Response) -> None:
        for handler in handlers:
            self.script.append(
                _constant(handler) if isinstance(handler, httpx2.Response) else handler
            )

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        if not self.script:
            raise AssertionError(f"unexpected request: {form(request)}")
        return self.script.pop(0)(request)


@pytest.fixture
def fake() -> FakeWithings:
    return FakeWithings()


@pytest.fixture
def exchanges() -> list[Exchange]:
    return []


@pytest.fixture
async def http(fake: FakeWithings) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(fake)) as client:
        yield client


@pytest.fixture
def client(http: httpx2.AsyncClient, exchanges: list[Exchange]) -> WithingsClient:
    async def record(exchange: Exchange) -> None:
        exchanges.append(exchange)

    return WithingsClient(
        http, api_url=API + "/", client_id=CLIENT_ID, client_secret=SECRET, recorder=record
    )


def at(epoch: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


# -- Wire format ---------------------------------------------------------------------------


async def test_data_calls_post_a_form_with_a_bearer_token(
    client: WithingsClient, fake: FakeWithings, http: httpx2.AsyncClient
) -> None:
    fake.reply(httpx2.Response(200, json=load_captured("device.json")))
    devices = await client.getdevice(ACCESS)
    assert len(devices) == 5
    (request,) = fake.requests
    assert request.method == "POST"
    assert str(request.url) == f"{API}/v2/user"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["authorization"] == f"Bearer {ACCESS}"
    assert form(request) == {"action": "getdevice"}
    assert not http.is_closed


async def test_getmeas_parameters(client: WithingsClient, fake: FakeWithings) -> None:
    fake.reply(httpx2.Response(200, json=load_captured("measurement.json")))
    page = await client.getmeas(
        ACCESS,
        meastypes=[MeasureType.WEIGHT_KG, MeasureType.HEIGHT_M, 12],
        startdate=at(1699941600),
        enddate=at(1699945200),
    )
    assert len(page.measuregrps) == 2
    assert form(fake.requests[0]) == {
        "action": "getmeas",
        "category": "1",
        "meastypes": "1,4,12",
        "startdate": "1699941600",
        "enddate": "1699945200",
    }


async def test_date_parameters_are_validated_before_any_request(
    client: WithingsClient, fake: FakeWithings
) -> None:
    with pytest.raises(ValueError, match="lastupdate cannot be combined"):
        await client.getmeas(ACCESS, lastupdate=at(1), startdate=at(0))
    with pytest.raises(ValueError, match="aware datetime"):
        await client.getmeas(ACCESS, lastupdate=dt.datetime(2023, 1, 1))
    with pytest.raises(ValueError, match="both startdateymd and enddateymd"):
        await client.getactivity(ACCESS, startdateymd=dt.date(2023, 1, 1))
    with pytest.raises(ValueError, match="needs new_callbackurl"):
        await client.notify_update(ACCESS, callbackurl="https://x.test/cb", appli=Appli.WEIGHT)
    assert fake.requests == []


async def test_v2_calls_ask_for_every_mapped_data_field_by_default(
    client: WithingsClient, fake: FakeWithings
) -> None:
    fake.reply(
        httpx2.Response(200, json=load_captured("activity.json")),
        ok({"series": {}}),
        ok({"series": []}),
    )
    await client.getactivity(
        ACCESS, startdateymd=dt.date(2023, 10, 20), enddateymd=dt.date(2023, 10, 21)
    )
    await client.getintradayactivity(ACCESS, startdate=at(100), data_fields=["steps", "rr"])
    await client.sleep_get(ACCESS, startdate=at(100), enddate=at(200))
    activity, intraday, sleep = (form(request) for request in fake.requests)
    assert activity == {
        "action": "getactivity",
        "startdateymd": "2023-10-20",
        "enddateymd": "2023-10-21",
        "data_fields": ",".join(DATA_FIELDS[Endpoint.GETACTIVITY]),
    }
    assert intraday == {
        "action": "getintradayactivity",
        "startdate": "100",
        "data_fields": "steps,rr",
    }
    assert sleep["data_fields"] == ",".join(DATA_FIELDS[Endpoint.SLEEP_GET])
    assert [str(request.url) for request in fake.requests] == [
        f"{API}/v2/measure",
        f"{API}/v2/measure",
        f"{API}/v2/sleep",
    ]


# -- Pagination ----------------------------------------------------------------------------


def summary_page(ids: range, *, more: bool, offset: int) -> httpx2.Response:
    rows = [
        {"id": i, "timezone": "UTC", "startdate": i, "enddate": i + 1, "date": "2023-11-15"}
        for i in ids
    ]
    return ok({"series": rows, "more": more, "offset": offset})


async def test_pages_are_followed_and_merged(client: WithingsClient, fake: FakeWithings) -> None:
    fake.reply(
        summary_page(range(3), more=True, offset=3),
        summary_page(range(3, 6), more=True, offset=6),
        summary_page(range(6, 7), more=False, offset=0),
    )
    page = await client.sleep_getsummary(ACCESS, lastupdate=at(1700000000))
    assert [row.id for row in page.series] == list(range(7))
    assert page.more is False
    assert [row["id"] for row in page.raw["series"]] == list(range(7))
    assert [form(request).get("offset") for request in fake.requests] == [None, "3", "6"]
    assert all(form(request)["lastupdate"] == "1700000000" for request in fake.requests)


async def test_getmeas_pages_use_integer_more(client: WithingsClient, fake: FakeWithings) -> None:
    groups = load_captured("measurement_list_2.json")
    fake.reply(
        ok(
            {
                "updatetime": 1,
                "timezone": "UTC",
                "more": 1,
                "offset": 20,
                "measuregrps": groups[:20],
            }
        ),
        ok(
            {"updatetime": 2, "timezone": "UTC", "more": 0, "offset": 0, "measuregrps": groups[20:]}
        ),
    )
    page = await client.getmeas(ACCESS, lastupdate=at(0))
    assert [group.raw for group in page.measuregrps] == groups
    assert page.updatetime == 1


async def test_captured_summary_page_continues_at_its_offset(
    client: WithingsClient, fake: FakeWithings
) -> None:
    fake.reply(
        httpx2.Response(200, json=load_captured("sleep_summary.json")),
        summary_page(range(1, 3), more=False, offset=0),
    )
    page = await client.sleep_getsummary(ACCESS, lastupdate=at(0))
    assert len(page.series) == 302
    assert form(fake.requests[1])["offset"] == "300"


async def test_an_offset_that_does_not_advance_is_an_error(
    client: WithingsClient, fake: FakeWithings
) -> None:
    fake.reply(
        summary_page(range(3), more=True, offset=3),
        summary_page(range(3, 6), more=True, offset=3),
    )
    with pytest.raises(WithingsMalformedResponse, match="did not advance"):
        await client.sleep_getsummary(ACCESS, lastupdate=at(0))
    assert len(fake.requests) == 2


async def test_paging_stops_at_the_page_cap(http: httpx2.AsyncClient, fake: FakeWithings) -> None:
    capped = WithingsClient(
        http, api_url=API, client_id=CLIENT_ID, client_secret=SECRET, max_pages=3
    )
    fake.reply(*(summary_page(range(n, n + 1), more=True, offset=n + 1) for n in range(10)))
    with pytest.raises(WithingsMalformedResponse, match="still 'more' after 3 pages"):
        await capped.sleep_getsummary(ACCESS, lastupdate=at(0))
    assert len(fake.requests) == 3


# -- OAuth ---------------------------------------------------------------------------------

TOKENS = {
    "userid": 13371337,
    "access_token": "new-access-token-value",
    "refresh_token": "new-refresh-token-value",
    "expires_in": 10800,
    "scope": "user.metrics,user.activity",
    "token_type": "Bearer",
}


async def test_exchange_code(client: WithingsClient, fake: FakeWithings) -> None:
    fake.reply(ok(TOKENS))
    tokens = await client.exchange_code("code-4b2c0d", "https://hub.test/withings/oauth/callback")
    assert tokens.userid == "13371337"
    assert tokens.access_token == "new-access-token-value"
    assert tokens.scope == {Scope.METRICS, Scope.ACTIVITY}
    (request,) = fake.requests
    assert str(request.url) == f"{API}/v2/oauth2"
    assert "authorization" not in request.headers
    assert form(request) == {
        "action": "requesttoken",
        "grant_type": "authorization_code",
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "code": "code-4b2c0d",
        "redirect_uri": "https://hub.test/withings/oauth/callback",
    }


async def test_expired_code_is_an_invalid_grant(client: WithingsClient, fake: FakeWithings) -> None:
    fake.reply(httpx2.Response(200, json={"status": 503, "error": "Invalid Params: invalid code"}))
    with pytest.raises(WithingsInvalidGrant) as caught:
        await client.exchange_code("code-4b2c0d", "https://hub.test/cb")
    assert "code-4b2c0d" not in str(caught.value)


async def test_refresh_token(client: WithingsClient, fake: FakeWithings) -> None:
    without_new_refresh = {k: v for k, v in TOKENS.items() if k != "refresh_token"}
    fake.reply(ok(TOKENS), ok(without_new_refresh))
    assert (await client.refresh_token("old-refresh")).refresh_token == "new-refresh-token-value"
    assert (await client.refresh_token("old-refresh")).refresh_token == "old-refresh"
    assert form(fake.requests[0]) == {
        "action": "requesttoken",
        "grant_type": "refresh_token",
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "refresh_token": "old-refresh",
    }


async def test_revoke_signs_getnonce_and_revoke(client: WithingsClient, fake: FakeWithings) -> None:
    nonce = "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"

    def getnonce(request: httpx2.Request) -> httpx2.Response:
        sent = form(request)
        signed = {key: sent[key] for key in ("action", "client_id", "timestamp")}
        assert signature_matches(SECRET, signed, sent["signature"])
        return ok({"nonce": nonce})

    def revoke(request: httpx2.Request) -> httpx2.Response:
        sent = form(request)
        assert sent["nonce"] == nonce
        assert sent["userid"] == "13371337"
        assert sent["signature"] == (
            "2f64543899023944f52272b39b5e34be359003a108972ff9302017d1e1ac67d1"
        )
        return ok({})

    fake.reply(getnonce, revoke)
    await client.revoke("13371337")
    assert [str(request.url) for request in fake.requests] == [
        f"{API}/v2/signature",
        f"{API}/v2/oauth2",
    ]
    assert all("authorization" not in request.headers for request in fake.requests)
    assert "client_secret" not in form(fake.requests[1])


# -- Notifications -------------------------------------------------------------------------


async def test_notify_calls(client: WithingsClient, fake: FakeWithings) -> None:
    callback = "https://hub.test/withings/notify?token=hook-secret"
    fake.reply(
        httpx2.Response(200, json=load_captured("notify_subscribe.json")),
        httpx2.Response(200, json=load_captured("notify_list.json")),
        ok({"appli": 4, "callbackurl": callback, "comment": None}),
        ok({}),
        httpx2.Response(200, json=load_captured("notify_revoke.json")),
    )
    await client.notify_subscribe(ACCESS, callbackurl=callback, appli=Appli.ACTIVITY)
    (profile,) = await client.notify_list(ACCESS)
    fetched = await client.notify_get(ACCESS, callbackurl=callback, appli=Appli.PRESSURE_HEART_SPO2)
    await client.notify_update(ACCESS, callbackurl=callback, appli=Appli.SLEEP, comment="hub")
    await client.notify_revoke(ACCESS, callbackurl=callback, appli=Appli.SLEEP)
    assert profile.appli is Appli.WEIGHT
    assert fetched.appli is Appli.PRESSURE_HEART_SPO2
    sent = [form(request) for request in fake.requests]
    assert sent[0] == {"action": "subscribe", "callbackurl": callback, "appli": "16"}
    assert sent[1] == {"action": "list"}
    assert sent[3] == {
        "action": "update",
        "callbackurl": callback,
        "appli": "44",
        "comment": "hub",
    }
    assert sent[4] == {"action": "revoke", "callbackurl": callback, "appli": "44"}
    assert {str(request.url) for request in fake.requests} == {f"{API}/notify"}


# -- Recording -----------------------------------------------------------------------------


async def test_every_exchange_is_recorded_without_secrets(
    client: WithingsClient, fake: FakeWithings, exchanges: list[Exchange]
) -> None:
    nonce = "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"
    fake.reply(
        ok(TOKENS),
        ok(TOKENS),
        ok({"nonce": nonce}),
        ok({}),
        ok({}),
        httpx2.Response(200, json=load_captured("sleep.json")),
    )
    await client.exchange_code("code-4b2c0d", "https://hub.test/cb")
    await client.refresh_token("old-refresh-value")
    await client.revoke("13371337")
    await client.notify_subscribe(
        ACCESS, callbackurl="https://hub.test/notify?token=hook-secret", appli=Appli.WEIGHT
    )
    await client.sleep_get(ACCESS, startdate=at(1618691453), enddate=at(1618700000))

    assert [(e.service, e.action) for e in exchanges] == [
        ("/v2/oauth2", "requesttoken"),
        ("/v2/oauth2", "requesttoken"),
        ("/v2/signature", "getnonce"),
        ("/v2/oauth2", "revoke"),
        ("/notify", "subscribe"),
        ("/v2/sleep", "get"),
    ]
    recorded = repr([e.params for e in exchanges])
    for secret in (SECRET, "code-4b2c0d", "old-refresh-value", ACCESS, nonce, "hook-secret"):
        assert secret not in recorded
    assert exchanges[0].params == {
        "action": "requesttoken",
        "grant_type": "authorization_code",
        "client_id": CLIENT_ID,
        "redirect_uri": "https://hub.test/cb",
    }
    assert exchanges[3].params == {"action": "revoke", "client_id": CLIENT_ID, "userid": "13371337"}
    sleep = exchanges[-1]
    assert sleep.http_status == 200
    assert sleep.response_text is not None
    assert json.loads(sleep.response_text) == load_captured("sleep.json")
    assert sleep.params["startdate"] == "1618691453"
    for exchange in exchanges:
        assert exchange.elapsed_s >= 0
        assert exchange.started_at_utc.tzinfo is dt.UTC


async def test_a_request_that_never_got_an_answer_is_recorded(
    client: WithingsClient, fake: FakeWithings, exchanges: list[Exchange]
) -> None:
    def timeout(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("read timed out", request=request)

    fake.reply(timeout)
    with pytest.raises(WithingsUnavailable, match="timed out"):
        await client.getgoals(ACCESS)
    (exchange,) = exchanges
    assert (exchange.action, exchange.http_status, exchange.response_text) == (
        "getgoals",
        None,
        None,
    )


# -- Failures ------------------------------------------------------------------------------


def raising(error: type[httpx2.TransportError]) -> Handler:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise error("boom", request=request)

    return handler


@pytest.mark.parametrize(
    ("reply", "expected", "message"),
    [
        (
            httpx2.Response(
                200,
                text="<html><body>Maintenance</body></html>",
                headers={"content-type": "text/html"},
            ),
            WithingsMalformedResponse,
            r"response is not JSON \(text/html\)",
        ),
        (
            httpx2.Response(200, text='{"status":0,"body":{"goals":{"ste'),
            WithingsMalformedResponse,
            "truncated or invalid JSON",
        ),
        (httpx2.Response(200, text=""), WithingsMalformedResponse, "empty response body"),
        (httpx2.Response(200, text="[" * 100_000), WithingsMalformedResponse, "invalid JSON"),
        (httpx2.Response(200, json=["not", "an", "envelope"]), WithingsMalformedResponse, "list"),
        (
            httpx2.Response(200, json={"status": 0, "body": {"goals": {"steps": "many"}}}),
            WithingsMalformedResponse,
            r"v2/user/getgoals: body\.goals\.steps",
        ),
        (httpx2.Response(500, text="Internal Server Error"), WithingsUnavailable, "HTTP 500"),
        (httpx2.Response(502, text="<html>Bad gateway</html>"), WithingsUnavailable, "HTTP 502"),
        (httpx2.Response(404, text="Not found"), WithingsMalformedResponse, "HTTP 404"),
        (raising(httpx2.ReadTimeout), WithingsUnavailable, "timed out"),
        (raising(httpx2.ConnectTimeout), WithingsUnavailable, "timed out"),
        (raising(httpx2.ConnectError), WithingsUnavailable, "ConnectError"),
        (raising(httpx2.RemoteProtocolError), WithingsUnavailable, "RemoteProtocolError"),
        (
            httpx2.Response(
                200,
                json={
                    "status": 401,
                    "body": {},
                    "error": "XRequestID: Not provided invalid_token: The access token provided"
                    " is invalid",
                },
            ),
            WithingsAuthError,
            "status 401",
        ),
        (
            httpx2.Response(200, json={"status": 522, "error": "Timeout"}),
            WithingsUnavailable,
            "status 522",
        ),
    ],
)
async def test_failures_become_the_right_exception(
    client: WithingsClient,
    fake: FakeWithings,
    reply: Handler | httpx2.Response,
    expected: type[Exception],
    message: str,
) -> None:
    fake.reply(reply)
    with pytest.raises(expected, match=message) as caught:
        await client.getgoals(ACCESS)
    assert type(caught.value) is expected
    assert ACCESS not in str(caught.value)


async def test_rate_limits_carry_the_wait(client: WithingsClient, fake: FakeWithings) -> None:
    fake.reply(
        httpx2.Response(200, json={"status": 601, "body": {"wait_seconds": 188}, "error": "Same"}),
        httpx2.Response(429, headers={"retry-after": "7"}),
    )
    with pytest.raises(WithingsRateLimited) as envelope:
        await client.getgoals(ACCESS)
    assert envelope.value.wait_seconds == 188
    with pytest.raises(WithingsRateLimited) as http_429:
        await client.getgoals(ACCESS)
    assert http_429.value.wait_seconds == 7


async def test_a_failing_page_fails_the_whole_call(
    client: WithingsClient, fake: FakeWithings
) -> None:
    fake.reply(
        summary_page(range(3), more=True, offset=3),
        httpx2.Response(503, text="unavailable"),
    )
    with pytest.raises(WithingsUnavailable):
        await client.sleep_getsummary(ACCESS, lastupdate=at(0))


async def test_repr_shows_no_secret(http: httpx2.AsyncClient) -> None:
    client = WithingsClient(http, api_url=API, client_id=CLIENT_ID, client_secret=SECRET)
    assert SECRET not in repr(client)
    assert CLIENT_ID in repr(client)
