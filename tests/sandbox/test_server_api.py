"""The data services over real HTTP: conventions, scopes, filters, paging, data_fields, caps."""

from __future__ import annotations

import json
from pathlib import Path

from rookery.sandbox.api import SLEEP_SUMMARY_DEFAULT_FIELDS
from tests.sandbox.conftest import Running, RunSandbox
from tests.sandbox.factories import DAY, T0, StaticWorld, make_user, night

FIXTURES = Path("/work/shared/fixtures/withings-captured")


def test_unknown_action_and_service_answer_2554(sandbox: Running) -> None:
    token = sandbox.tokens()["access_token"]
    assert sandbox.api("/measure", token, action="nosuch")["status"] == 2554
    assert sandbox.api("/v2/stetho", token, action="list")["status"] == 2554
    assert sandbox.api("/v2/oauth2", action="frobnicate", client_id="x")["status"] == 503


def test_errors_are_http_200_envelopes(sandbox: Running) -> None:
    response = sandbox.http.post("/measure", data={"action": "getmeas"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["status"] == 401


def test_bad_parameters_answer_503(sandbox: Running) -> None:
    token = sandbox.tokens()["access_token"]
    for path, params in [
        ("/measure", {"action": "getmeas", "startdate": "yesterday"}),
        ("/v2/measure", {"action": "getactivity", "startdateymd": "2023-13-40", "enddateymd": "x"}),
        ("/v2/measure", {"action": "getactivity"}),
        ("/v2/sleep", {"action": "get", "startdate": str(T0)}),
        ("/v2/sleep", {"action": "getsummary", "lastupdate": "0", "data_fields": "hr,bogus"}),
    ]:
        answer = sandbox.api(path, token, **params)
        assert answer["status"] == 503, (path, params, answer)
        assert answer["error"].startswith("Invalid Params")


def test_legacy_access_token_param_and_query_string_work(sandbox: Running) -> None:
    token = sandbox.tokens()["access_token"]
    by_param = sandbox.api("/v2/user", action="getdevice", access_token=token)
    assert by_param["status"] == 0
    by_query = sandbox.http.get("/v2/user", params={"action": "getdevice", "access_token": token})
    assert by_query.json() == by_param


def test_scope_miss_answers_214_naming_the_scope(sandbox: Running) -> None:
    token = sandbox.tokens(scopes="user.metrics")["access_token"]
    assert sandbox.api("/measure", token, action="getmeas")["status"] == 0
    miss = sandbox.api("/v2/sleep", token, action="getsummary", lastupdate=0)
    assert miss["status"] == 214
    assert "user.activity" in miss["error"]
    other = sandbox.tokens(scopes="user.activity")["access_token"]
    assert sandbox.api("/v2/heart", other, action="list")["status"] == 214


def test_getmeas_filters_by_type_category_window_and_lastupdate(sandbox: Running) -> None:
    token = sandbox.tokens()["access_token"]
    body = sandbox.api("/measure", token, action="getmeas")["body"]
    assert [g["grpid"] for g in body["measuregrps"]] == [1, 2, 3]
    assert body["timezone"] == "Europe/Paris"
    assert body["updatetime"] == T0 + 3600
    weights = sandbox.api("/measure", token, action="getmeas", meastypes="1,10")["body"]
    assert [[m["type"] for m in g["measures"]] for g in weights["measuregrps"]] == [[1], [10], [1]]
    single = sandbox.api("/measure", token, action="getmeas", meastype=9)["body"]
    assert [g["grpid"] for g in single["measuregrps"]] == [2]
    goals = sandbox.api("/measure", token, action="getmeas", category=2)["body"]
    assert [g["grpid"] for g in goals["measuregrps"]] == [4]
    window = sandbox.api("/measure", token, action="getmeas", startdate=T0 - DAY, enddate=T0 - 1)
    assert [g["grpid"] for g in window["body"]["measuregrps"]] == [2]
    recent = sandbox.api("/measure", token, action="getmeas", lastupdate=T0 - DAY + 30)
    assert [g["grpid"] for g in recent["body"]["measuregrps"]] == [2, 3]


def test_values_keep_their_generated_exponents(sandbox: Running) -> None:
    token = sandbox.tokens()["access_token"]
    groups = sandbox.api("/measure", token, action="getmeas")["body"]["measuregrps"]
    pairs = [(m["type"], m["value"], m["unit"]) for g in groups for m in g["measures"]]
    assert (1, 75232, -3) in pairs
    assert (1, 7510, -2) in pairs
    assert (10, 12100, -2) in pairs


def test_getmeas_pages_with_an_int_more(run_sandbox: RunSandbox) -> None:
    sandbox = run_sandbox(getmeas_page_size=2)
    token = sandbox.tokens()["access_token"]
    first = sandbox.api("/measure", token, action="getmeas")["body"]
    assert (first["more"], first["offset"]) == (1, 2)
    assert [g["grpid"] for g in first["measuregrps"]] == [1, 2]
    second = sandbox.api("/measure", token, action="getmeas", offset=2)["body"]
    assert (second["more"], second["offset"]) == (0, 0)
    assert [g["grpid"] for g in second["measuregrps"]] == [3]


def test_v2_pages_with_a_bool_more(run_sandbox: RunSandbox) -> None:
    sandbox = run_sandbox(v2_page_size=2)
    token = sandbox.tokens()["access_token"]
    params = {"action": "getactivity", "startdateymd": "2023-11-01", "enddateymd": "2023-11-30"}
    first = sandbox.api("/v2/measure", token, **params)["body"]
    assert first["more"] is True
    assert first["offset"] == 2
    assert [a["date"] for a in first["activities"]] == ["2023-11-12", "2023-11-13"]
    second = sandbox.api("/v2/measure", token, **params, offset=2)["body"]
    assert second["more"] is False
    assert second["offset"] == 0
    assert [a["date"] for a in second["activities"]] == ["2023-11-14"]


def test_getsummary_pages_300_at_a_time_by_default(run_sandbox: RunSandbox) -> None:

    user = make_user()
    user.sleep_summaries = [night(i, "2023-01-01", T0 + i) for i in range(301)]
    sandbox = run_sandbox(StaticWorld([user]))
    token = sandbox.tokens()["access_token"]
    first = sandbox.api("/v2/sleep", token, action="getsummary", lastupdate=0)["body"]
    assert len(first["series"]) == 300
    assert first["more"] is True
    assert first["offset"] == 300
    rest = sandbox.api("/v2/sleep", token, action="getsummary", lastupdate=0, offset=300)["body"]
    assert len(rest["series"]) == 1
    assert rest["more"] is False


def test_activity_data_fields_select_measures_but_keep_identity(sandbox: Running) -> None:
    token = sandbox.tokens()["access_token"]
    rows = sandbox.api(
        "/v2/measure",
        token,
        action="getactivity",
        startdateymd="2023-11-13",
        enddateymd="2023-11-13",
        data_fields="steps,hr_average",
    )["body"]["activities"]
    assert len(rows) == 1
    assert set(rows[0]) == {
        "date", "timezone", "deviceid", "hash_deviceid", "brand", "is_tracker", "modified",
        "model", "modelid", "steps", "hr_average",
    }  # fmt: skip
    assert rows[0]["steps"] == 9000


def test_activity_lastupdate_and_ymd_range(sandbox: Running) -> None:
    token = sandbox.tokens()["access_token"]
    recent = sandbox.api("/v2/measure", token, action="getactivity", lastupdate=T0)["body"]
    assert [a["date"] for a in recent["activities"]] == ["2023-11-13", "2023-11-14"]


def test_workout_data_fields_filter_inside_data(sandbox: Running) -> None:
    token = sandbox.tokens()["access_token"]
    body = sandbox.api(
        "/v2/measure",
        token,
        action="getworkouts",
        startdateymd="2023-11-14",
        enddateymd="2023-11-14",
        data_fields="calories,distance",
    )["body"]
    assert [w["id"] for w in body["series"]] == [12]
    assert body["series"][0]["data"] == {"calories": 402, "distance": 7410}
    assert body["series"][0]["category"] == 2


def test_sleep_summary_without_data_fields_is_withings_default_subset(sandbox: Running) -> None:
    captured = json.loads((FIXTURES / "sleep_summary_no_datafields.json").read_text())
    captured_fields = {k for row in captured["body"]["series"] for k in row["data"]}
    assert captured_fields == SLEEP_SUMMARY_DEFAULT_FIELDS
    token = sandbox.tokens()["access_token"]
    series = sandbox.api("/v2/sleep", token, action="getsummary", lastupdate=0)["body"]["series"]
    assert [set(row["data"]) for row in series] == [set(SLEEP_SUMMARY_DEFAULT_FIELDS)] * 2
    picked = sandbox.api(
        "/v2/sleep",
        token,
        action="getsummary",
        startdateymd="2023-11-14",
        enddateymd="2023-11-14",
        data_fields="sleep_score,hr_average",
    )["body"]["series"]
    assert [row["data"] for row in picked] == [{"sleep_score": 81, "hr_average": 58}]


def test_sleep_get_is_capped_to_24h_and_bare_without_data_fields(sandbox: Running) -> None:
    token = sandbox.tokens()["access_token"]
    start = T0 - DAY
    body = sandbox.api("/v2/sleep", token, action="get", startdate=start, enddate=start + 2 * DAY)
    series = body["body"]["series"]
    assert len(series) == 144  # 10-minute segments over the first 24 h only
    assert max(s["startdate"] for s in series) < start + DAY
    assert {frozenset(s) for s in series} == {
        frozenset({"startdate", "enddate", "state", "model", "model_id", "hash_deviceid"})
    }
    assert body["body"]["model"] == 32
    with_hr = sandbox.api(
        "/v2/sleep", token, action="get", startdate=start, enddate=start + 600, data_fields="hr"
    )["body"]["series"]
    assert len(with_hr) == 1
    assert len(with_hr[0]["hr"]) == 10
    assert "rr" not in with_hr[0]


def test_intraday_is_capped_to_24h(sandbox: Running) -> None:
    token = sandbox.tokens()["access_token"]
    start = T0 - DAY
    series = sandbox.api(
        "/v2/measure",
        token,
        action="getintradayactivity",
        startdate=start,
        enddate=start + 3 * DAY,
        data_fields="heart_rate",
    )["body"]["series"]
    assert len(series) == 1440
    assert min(map(int, series)) == start
    assert max(map(int, series)) == start + DAY - 60
    first = series[str(start)]
    assert first == {"deviceid": first["deviceid"], "model": "ScanWatch", "model_id": 93,
                     "heart_rate": 60}  # fmt: skip


def test_heart_list_window(sandbox: Running) -> None:
    token = sandbox.tokens()["access_token"]
    body = sandbox.api("/v2/heart", token, action="list", startdate=T0 - 2 * DAY, enddate=T0)
    assert [r["ecg"]["signalid"] for r in body["body"]["series"]] == [48213]
    assert body["body"]["more"] is False
    empty = sandbox.api("/v2/heart", token, action="list", startdate=T0, enddate=T0 + DAY)
    assert empty["body"]["series"] == []


def test_goals_are_an_empty_list_when_there_are_none(run_sandbox: RunSandbox) -> None:

    sandbox = run_sandbox(StaticWorld([make_user(1001, goals=False), make_user(1002)]))
    none = sandbox.api("/v2/user", sandbox.tokens(1001)["access_token"], action="getgoals")
    assert none == {"status": 0, "body": {"goals": []}}
    some = sandbox.api("/v2/user", sandbox.tokens(1002)["access_token"], action="getgoals")
    assert some["body"]["goals"]["weight"] == {"value": 70500, "unit": -3}


def test_getdevice_lists_the_users_devices(sandbox: Running) -> None:
    devices = sandbox.api("/v2/user", sandbox.tokens()["access_token"], action="getdevice")
    assert [d["model_id"] for d in devices["body"]["devices"]] == [6, 63]
