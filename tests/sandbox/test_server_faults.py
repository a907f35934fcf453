"""The rate limit, the call log and every injected fault, over real HTTP."""

from __future__ import annotations

import json

import httpx2
import pytest

from tests.sandbox.conftest import CLIENT_ID, Running, RunSandbox
from tests.sandbox.factories import T0
from tests.sandbox.servers import Receiver

Hook = tuple[Receiver, str]


def test_rate_limit_per_client_answers_601_and_the_log_shows_it(run_sandbox: RunSandbox) -> None:
    sandbox = run_sandbox(rate_limit_per_minute=5)
    token = sandbox.tokens()["access_token"]  # the token request counts as 1
    statuses = [sandbox.api("/v2/user", token, action="getdevice")["status"] for _ in range(5)]
    assert statuses == [0, 0, 0, 0, 601]
    limited = sandbox.api("/v2/user", token, action="getgoals")
    assert limited["body"] == {"wait_seconds": 60}
    sandbox.advance(60)
    assert sandbox.api("/v2/user", token, action="getgoals")["status"] == 0
    log = sandbox.control("GET", f"calls?client_id={CLIENT_ID}")
    accepted = [c["at"] for c in log["calls"] if c["status"] != 601]
    assert all(sum(1 for other in accepted if at - 60 < other <= at) <= 5 for at in accepted)
    assert [c["status"] for c in log["calls"]].count(601) == 2


def test_the_default_rate_limit_is_120_a_minute(sandbox: Running) -> None:
    token = sandbox.tokens()["access_token"]  # the token request counts as 1
    statuses = [sandbox.api("/v2/user", token, action="getgoals")["status"] for _ in range(120)]
    assert statuses == [0] * 119 + [601]


def _fault(sandbox: Running, **spec: object) -> dict[str, object]:
    return sandbox.control("POST", "faults", **spec)


def test_5xx_for_the_next_n_calls(sandbox: Running) -> None:
    token = sandbox.tokens()["access_token"]
    _fault(sandbox, kind="http_5xx", count=2, http_status=502)
    codes = [
        sandbox.http.post("/v2/user", data={"action": "getdevice"}, headers={
            "Authorization": f"Bearer {token}"}).status_code
        for _ in range(3)
    ]  # fmt: skip
    assert codes == [502, 502, 200]
    assert sandbox.control("GET", "faults")["faults"] == []


def test_a_fraction_of_calls_fail(run_sandbox: RunSandbox) -> None:
    sandbox = run_sandbox(rate_limit_per_minute=10_000)
    token = sandbox.tokens()["access_token"]
    _fault(sandbox, kind="http_5xx", fraction=0.5)
    codes = [
        sandbox.http.post(
            "/v2/user", data={"action": "getdevice", "access_token": token}
        ).status_code
        for _ in range(200)
    ]
    assert 60 <= codes.count(503) <= 140
    assert codes.count(200) == 200 - codes.count(503)


def test_601_storm_only_on_one_path(sandbox: Running) -> None:
    token = sandbox.tokens()["access_token"]
    _fault(sandbox, kind="rate_limit", count=3, path="/measure", wait_seconds=5)
    assert sandbox.api("/v2/user", token, action="getdevice")["status"] == 0
    storm = [sandbox.api("/measure", token, action="getmeas") for _ in range(4)]
    assert [a["status"] for a in storm] == [601, 601, 601, 0]
    assert storm[0]["body"] == {"wait_seconds": 5}


@pytest.mark.timeout(20)
def test_timeout_hangs_past_the_clients_timeout(sandbox: Running) -> None:
    token = sandbox.tokens()["access_token"]
    _fault(sandbox, kind="timeout", count=1, hang_s=5)
    with pytest.raises(httpx2.ReadTimeout):
        sandbox.http.post(
            "/v2/user", data={"action": "getdevice", "access_token": token}, timeout=0.3
        )
    assert sandbox.api("/v2/user", token, action="getdevice")["status"] == 0


def test_malformed_json(sandbox: Running) -> None:
    token = sandbox.tokens()["access_token"]
    _fault(sandbox, kind="malformed_json", count=1)
    response = sandbox.http.post("/measure", data={"action": "getmeas", "access_token": token})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_truncated_body_drops_the_connection_midway(sandbox: Running) -> None:
    token = sandbox.tokens()["access_token"]
    _fault(sandbox, kind="truncated", count=1)
    with pytest.raises(httpx2.RemoteProtocolError):
        sandbox.http.post("/measure", data={"action": "getmeas", "access_token": token})
    assert sandbox.api("/measure", token, action="getmeas")["status"] == 0


def test_revoked_token_answers_401_from_then_on(sandbox: Running) -> None:
    token = sandbox.tokens()["access_token"]
    _fault(sandbox, kind="revoked_token", count=1)
    assert sandbox.api("/v2/user", token, action="getdevice")["status"] == 401
    assert sandbox.api("/v2/user", token, action="getdevice")["status"] == 401


def test_lost_subscription(sandbox: Running, receiver: Hook) -> None:
    _hooks, callback = receiver
    token = sandbox.tokens()["access_token"]
    sandbox.api("/notify", token, action="subscribe", callbackurl=callback, appli=1)
    lost = _fault(sandbox, kind="lost_subscription", userid=1001, appli=1)
    assert lost["removed"] == 1
    assert sandbox.api("/notify", token, action="list")["body"]["profiles"] == []


def test_phantom_notification_has_no_data_behind_it(sandbox: Running, receiver: Hook) -> None:
    hooks, callback = receiver
    token = sandbox.tokens()["access_token"]
    sandbox.api("/notify", token, action="subscribe", callbackurl=callback, appli=1)
    _fault(sandbox, kind="phantom_notification", userid=1001, appli=1)
    [posted] = hooks.posts()
    window = sandbox.api(
        "/measure",
        token,
        action="getmeas",
        startdate=posted["startdate"],
        enddate=posted["enddate"],
    )
    assert set(posted) == {"userid", "appli", "startdate", "enddate"}
    assert posted["appli"] == "1"
    assert window["body"]["measuregrps"] == []


def test_phantom_activity_notification_names_an_empty_day(sandbox: Running, receiver: Hook) -> None:
    hooks, callback = receiver
    token = sandbox.tokens()["access_token"]
    sandbox.api("/notify", token, action="subscribe", callbackurl=callback, appli=16)
    _fault(sandbox, kind="phantom_notification", userid=1001, appli=16)
    [posted] = hooks.posts()
    assert set(posted) == {"userid", "appli", "date"}
    day = {"startdateymd": posted["date"], "enddateymd": posted["date"]}
    assert (
        sandbox.api("/v2/measure", token, action="getactivity", **day)["body"]["activities"] == []
    )
    assert sandbox.api("/v2/measure", token, action="getworkouts", **day)["body"]["series"] == []


def test_duplicated_notifications(sandbox: Running, receiver: Hook) -> None:
    hooks, callback = receiver
    token = sandbox.tokens()["access_token"]
    sandbox.api("/notify", token, action="subscribe", callbackurl=callback, appli=1)
    _fault(sandbox, kind="duplicate_notification", count=1)
    for _ in range(2):
        sandbox.control("POST", "notifications", userid=1001, appli=1, startdate=T0, enddate=T0)
    assert len(hooks.posts()) == 3


def test_reset_disarms_every_fault(sandbox: Running) -> None:
    _fault(sandbox, kind="http_5xx", count=5)
    _fault(sandbox, kind="timeout", fraction=0.1)
    assert len(sandbox.control("GET", "faults")["faults"]) == 2
    assert sandbox.control("DELETE", "faults") == {"faults": []}


def test_bad_fault_specs_are_clear_400s(sandbox: Running) -> None:
    for spec in ({"kind": "gremlins", "count": 1}, {"kind": "http_5xx"},
                 {"kind": "http_5xx", "count": 1, "fraction": 0.5},
                 {"kind": "http_5xx", "count": 1, "http_status": 404}):  # fmt: skip
        response = sandbox.http.post("/_sandbox/faults", json=spec)
        assert response.status_code == 400, spec
        assert response.json()["error"]


@pytest.mark.timeout(30)
def test_the_call_log_records_each_faulted_call_once(sandbox: Running) -> None:
    token = sandbox.tokens()["access_token"]
    faulted = ["http_5xx", "rate_limit", "timeout", "malformed_json", "truncated"]
    for kind in faulted:
        _fault(sandbox, kind=kind, count=1, hang_s=0.2)
        try:
            sandbox.http.post("/v2/user", data={"action": "getdevice", "access_token": token})
        except httpx2.RemoteProtocolError:
            assert kind == "truncated"
    _fault(sandbox, kind="revoked_token", count=1)
    sandbox.api("/v2/user", token, action="getgoals")
    calls = [c for c in sandbox.control("GET", "calls")["calls"] if c["path"] == "/v2/user"]
    assert [(c["action"], c["fault"], c["status"], c["http_status"]) for c in calls] == [
        ("getdevice", "http_5xx", None, 503),
        ("getdevice", "rate_limit", 601, 200),
        # A hang and a truncated body still serve the call: its own status is logged.
        ("getdevice", "timeout", 0, 200),
        ("getdevice", "malformed_json", None, 200),
        ("getdevice", "truncated", 0, 200),
        ("getgoals", "revoked_token", 401, 200),
    ]
