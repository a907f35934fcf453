"""OAuth over real HTTP: the consent page, codes, token rotation, nonces, signatures, revoke."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from rookery.config import DEFAULT_WITHINGS_CLIENT_ID, DEFAULT_WITHINGS_CLIENT_SECRET
from rookery.sandbox.oauth import NONCE_TIMESTAMP_WINDOW_S
from rookery.sandbox.settings import SandboxSettings
from rookery.withings.signature import sign
from tests.sandbox.conftest import (
    ALL_SCOPES,
    CLIENT_ID,
    CLIENT_SECRET,
    REDIRECT_URI,
    Running,
    RunSandbox,
)
from tests.sandbox.servers import Receiver

AUTHORIZE = {
    "response_type": "code",
    "client_id": CLIENT_ID,
    "redirect_uri": REDIRECT_URI,
    "state": "xyz",
    "scope": "user.metrics,user.activity",
}


def _exchange(sandbox: Running, code: str, **extra: str) -> dict[str, object]:
    params = {
        "action": "requesttoken",
        "grant_type": "authorization_code",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "code": code,
        "redirect_uri": REDIRECT_URI,
        **extra,
    }
    return sandbox.api("/v2/oauth2", **params)


def _refresh(sandbox: Running, refresh_token: str) -> dict[str, object]:
    return sandbox.api(
        "/v2/oauth2",
        action="requesttoken",
        grant_type="refresh_token",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        refresh_token=refresh_token,
    )


def _nonce(sandbox: Running, timestamp: str | None = None) -> str:
    timestamp = timestamp or str(int(sandbox.sandbox.clock.now()))
    signature = sign(
        CLIENT_SECRET, {"action": "getnonce", "client_id": CLIENT_ID, "timestamp": timestamp}
    )
    answer = sandbox.api(
        "/v2/signature",
        action="getnonce",
        client_id=CLIENT_ID,
        timestamp=timestamp,
        signature=signature,
    )
    assert answer["status"] == 0, answer
    nonce: str = answer["body"]["nonce"]
    return nonce


def _signed(action: str, nonce: str) -> str:
    return sign(CLIENT_SECRET, {"action": action, "client_id": CLIENT_ID, "nonce": nonce})


def test_consent_page_lists_users_scopes_and_named_buttons(sandbox: Running) -> None:
    page = sandbox.http.get("/oauth2_user/authorize2", params=AUTHORIZE)
    assert page.status_code == 200
    html = page.text
    for userid in (1001, 1002):
        label = rf'<label class="choice" for="user-{userid}"><input type="radio" name="userid"'
        assert re.search(label + rf"[^>]*><span>[^<]* \(userid {userid}\)</span></label>", html)
    assert 'id="scope-user.metrics"' in html
    assert 'id="scope-user.activity"' in html
    assert "scope-user.info" not in html  # only what was requested
    assert '<button type="submit" name="decision" value="allow">Allow</button>' in html
    assert '<button type="submit" name="decision" value="deny">Deny</button>' in html


def test_consent_refuses_a_redirect_uri_off_loopback(sandbox: Running) -> None:
    bad = {**AUTHORIZE, "redirect_uri": "https://example.com/cb"}
    page = sandbox.http.get("/oauth2_user/authorize2", params=bad)
    assert page.status_code == 400
    assert "loopback" in page.text


def test_deny_redirects_with_access_denied_and_the_state(sandbox: Running) -> None:
    response = sandbox.http.post(
        "/oauth2_user/authorize2", data={**AUTHORIZE, "userid": "1001", "decision": "deny"}
    )
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query == {"error": ["access_denied"], "state": ["xyz"]}


def test_token_carries_the_granted_subset_userid_and_3h_expiry(sandbox: Running) -> None:
    code = sandbox.authorize(1002, "user.metrics,user.activity", granted=["user.metrics"])
    answer = _exchange(sandbox, code)
    body = answer["body"]
    assert isinstance(body, dict)
    assert body["scope"] == "user.metrics"
    assert body["userid"] == "1002"
    assert body["expires_in"] == 10800
    assert body["token_type"] == "Bearer"
    assert len(body["access_token"]) == 40
    assert len(body["refresh_token"]) == 40


def test_code_is_single_use(sandbox: Running) -> None:
    code = sandbox.authorize()
    assert _exchange(sandbox, code)["status"] == 0
    again = _exchange(sandbox, code, comment="not identical")
    assert again == {"status": 503, "body": {}, "error": "Invalid Params: invalid code"}


def test_code_expires_after_30_seconds(sandbox: Running) -> None:
    fresh = sandbox.authorize()
    stale = sandbox.authorize()
    sandbox.advance(29)
    assert _exchange(sandbox, fresh)["status"] == 0
    sandbox.advance(2)
    assert _exchange(sandbox, stale)["status"] == 503


def test_code_needs_the_same_redirect_uri(sandbox: Running) -> None:
    code = sandbox.authorize()
    assert _exchange(sandbox, code, redirect_uri="http://127.0.0.1:9/other")["status"] == 503


def test_wrong_secret_is_refused(sandbox: Running) -> None:
    answer = _exchange(sandbox, sandbox.authorize(), client_secret="nope")
    assert answer["status"] == 503


def test_identical_request_within_10s_gets_601_with_wait_seconds(sandbox: Running) -> None:
    code = sandbox.authorize()
    assert _exchange(sandbox, code)["status"] == 0
    sandbox.advance(4)
    repeated = _exchange(sandbox, code)
    assert repeated["status"] == 601
    assert repeated["body"] == {"wait_seconds": 6}
    sandbox.advance(7)
    assert _exchange(sandbox, code)["status"] == 503  # past the window: the spent code


def test_access_token_lives_3_hours(sandbox: Running) -> None:
    token = sandbox.tokens()["access_token"]
    sandbox.advance(3 * 3600 - 1)
    assert sandbox.api("/v2/user", token, action="getgoals")["status"] == 0
    sandbox.advance(1)
    expired = sandbox.api("/v2/user", token, action="getgoals")
    assert expired["status"] == 401
    assert "invalid_token" in expired["error"]


def test_refresh_rotates_and_old_token_dies_at_first_use_of_new_access(sandbox: Running) -> None:
    first = sandbox.tokens()
    second = _refresh(sandbox, first["refresh_token"])["body"]
    assert isinstance(second, dict)
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    sandbox.advance(11)
    # Still usable within the grace, as long as the new access token is unused.
    third = _refresh(sandbox, first["refresh_token"])["body"]
    assert isinstance(third, dict)
    assert sandbox.api("/v2/user", third["access_token"], action="getgoals")["status"] == 0
    sandbox.advance(11)
    assert _refresh(sandbox, first["refresh_token"])["status"] == 503
    assert _refresh(sandbox, third["refresh_token"])["status"] == 0


def test_old_refresh_token_dies_8_hours_after_rotation(sandbox: Running) -> None:
    first = sandbox.tokens()
    assert _refresh(sandbox, first["refresh_token"])["status"] == 0
    sandbox.advance(8 * 3600 - 20)
    assert _refresh(sandbox, first["refresh_token"])["status"] == 0
    sandbox.advance(21)  # past the 8 h, and past the 10 s repeat window
    assert _refresh(sandbox, first["refresh_token"])["status"] == 503


def test_signed_token_request_with_a_nonce(sandbox: Running) -> None:
    nonce = _nonce(sandbox)
    answer = sandbox.api(
        "/v2/oauth2",
        action="requesttoken",
        grant_type="authorization_code",
        client_id=CLIENT_ID,
        nonce=nonce,
        signature=_signed("requesttoken", nonce),
        code=sandbox.authorize(),
        redirect_uri=REDIRECT_URI,
    )
    assert answer["status"] == 0, answer


def test_getnonce_checks_the_signature(sandbox: Running) -> None:
    answer = sandbox.api(
        "/v2/signature",
        action="getnonce",
        client_id=CLIENT_ID,
        timestamp="1700000000",
        signature="0" * 64,
    )
    assert answer["status"] == 503


def test_getnonce_timestamp_must_be_near_the_sandbox_clock(sandbox: Running) -> None:
    now = int(sandbox.sandbox.clock.now())
    window = NONCE_TIMESTAMP_WINDOW_S
    for timestamp in (now - window, now + window):
        _nonce(sandbox, str(timestamp))
    for timestamp in (now - window - 1, now + window + 1, 1):
        values = {"action": "getnonce", "client_id": CLIENT_ID, "timestamp": str(timestamp)}
        answer = sandbox.api("/v2/signature", **values, signature=sign(CLIENT_SECRET, values))
        assert answer["status"] == 503, timestamp
        assert "from the server time" in answer["error"]


def test_demo_mode_signs_in_as_the_demo_user_without_a_choice(sandbox: Running) -> None:
    demo = {**AUTHORIZE, "mode": "demo"}
    page = sandbox.http.get("/oauth2_user/authorize2", params=demo)
    assert page.status_code == 200
    assert 'name="userid"' not in page.text
    assert re.search(r"demo user <strong>[^<]*\(userid 1001\)</strong>", page.text)
    # Whatever userid a client posts, demo mode logs in as the demo user.
    form = {**demo, "userid": "1002", "decision": "allow", "granted": ["user.metrics"]}
    response = sandbox.http.post("/oauth2_user/authorize2", data=form)
    assert response.status_code == 302
    code = parse_qs(urlsplit(response.headers["location"]).query)["code"][0]
    body = _exchange(sandbox, code)["body"]
    assert isinstance(body, dict)
    assert body["userid"] == "1001"
    assert body["scope"] == "user.metrics"
    bad = sandbox.http.get("/oauth2_user/authorize2", params={**AUTHORIZE, "mode": "live"})
    assert bad.status_code == 400


def test_getdemoaccess_gives_tokens_of_the_demo_user(sandbox: Running) -> None:
    nonce = _nonce(sandbox)
    answer = sandbox.api(
        "/v2/oauth2",
        action="getdemoaccess",
        client_id=CLIENT_ID,
        nonce=nonce,
        signature=_signed("getdemoaccess", nonce),
        scope_oauth2="user.metrics,user.activity",
    )
    assert answer["status"] == 0, answer
    body = answer["body"]
    assert (body["userid"], body["expires_in"]) == ("1001", 10800)
    goals = sandbox.api("/v2/user", body["access_token"], action="getgoals")
    assert goals["status"] == 0
    unsigned = sandbox.api(
        "/v2/oauth2",
        action="getdemoaccess",
        client_id=CLIENT_ID,
        nonce=nonce,
        signature=_signed("getdemoaccess", nonce),
        scope_oauth2="user.metrics",
    )
    assert unsigned["error"] == "Invalid Params: invalid nonce"


def test_nonce_is_single_use_and_lives_30_minutes(sandbox: Running) -> None:
    userid = "1001"
    used = _nonce(sandbox)
    revoke = {"action": "revoke", "client_id": CLIENT_ID, "userid": userid}
    assert (
        sandbox.api("/v2/oauth2", **revoke, nonce=used, signature=_signed("revoke", used))["status"]
        == 0
    )
    sandbox.advance(11)
    reused = sandbox.api("/v2/oauth2", **revoke, nonce=used, signature=_signed("revoke", used))
    assert reused["error"] == "Invalid Params: invalid nonce"
    old = _nonce(sandbox)
    sandbox.advance(30 * 60 + 1)
    late = sandbox.api("/v2/oauth2", **revoke, nonce=old, signature=_signed("revoke", old))
    assert late["error"] == "Invalid Params: invalid nonce"


def test_revoke_kills_tokens_and_subscriptions(
    sandbox: Running, receiver: tuple[Receiver, str]
) -> None:
    _, callback = receiver
    tokens = sandbox.tokens()
    token = tokens["access_token"]
    assert (
        sandbox.api("/notify", token, action="subscribe", callbackurl=callback, appli=1)["status"]
        == 0
    )
    nonce = _nonce(sandbox)
    answer = sandbox.api(
        "/v2/oauth2",
        action="revoke",
        client_id=CLIENT_ID,
        nonce=nonce,
        signature=_signed("revoke", nonce),
        userid="1001",
    )
    assert answer == {"status": 0, "body": {}}
    assert sandbox.api("/v2/user", token, action="getgoals")["status"] == 401
    assert _refresh(sandbox, tokens["refresh_token"])["status"] == 503
    user = next(u for u in sandbox.control("GET", "users")["users"] if u["userid"] == 1001)
    assert user["subscriptions"] == []
    assert user["access_tokens"] == []


def test_unknown_scope_is_refused_on_the_consent_page(sandbox: Running) -> None:
    page = sandbox.http.get("/oauth2_user/authorize2", params={**AUTHORIZE, "scope": "user.all"})
    assert page.status_code == 400
    assert ALL_SCOPES not in page.text


def test_the_app_is_the_env_pair_else_the_documented_default(run_sandbox: RunSandbox) -> None:
    default = SandboxSettings.from_env({})
    assert (default.client_id, default.client_secret) == (
        DEFAULT_WITHINGS_CLIENT_ID,
        DEFAULT_WITHINGS_CLIENT_SECRET,
    )
    env = {"ROOKERY_WITHINGS_CLIENT_ID": "my-app", "ROOKERY_WITHINGS_CLIENT_SECRET": "my-secret"}
    mine = SandboxSettings.from_env(env)
    sandbox = run_sandbox(client_id=mine.client_id, client_secret=mine.client_secret)
    refused = sandbox.http.get("/oauth2_user/authorize2", params=AUTHORIZE)
    assert refused.status_code == 400
    assert "client_id" in refused.text
    accepted = sandbox.http.get(
        "/oauth2_user/authorize2", params={**AUTHORIZE, "client_id": "my-app"}
    )
    assert accepted.status_code == 200
    now = str(int(sandbox.sandbox.clock.now()))
    nonce_values = {"action": "getnonce", "client_id": "my-app", "timestamp": now}
    signed = sandbox.api("/v2/signature", **nonce_values, signature=sign("my-secret", nonce_values))
    assert signed["status"] == 0, signed
