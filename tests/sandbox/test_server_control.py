"""Control endpoints with the real generator: determinism, live mode, record edits, clock."""

from __future__ import annotations

import datetime as dt

from rookery.sandbox.synth import generate_population
from tests.sandbox.conftest import Running, RunSandbox
from tests.sandbox.servers import Receiver

NOW = dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC)


def _population_sandbox(run_sandbox: RunSandbox, seed: int) -> Running:
    world = generate_population(3, seed, now_utc=NOW, history_days=10)
    return run_sandbox(world, start_at_epoch=NOW.timestamp(), seed=seed)


def _everything(sandbox: Running, userid: int) -> list[object]:
    token = sandbox.tokens(userid)["access_token"]
    return [
        sandbox.api("/measure", token, action="getmeas", lastupdate=0)["body"]["measuregrps"],
        sandbox.api("/v2/measure", token, action="getactivity", lastupdate=0)["body"],
        sandbox.api("/v2/sleep", token, action="getsummary", lastupdate=0)["body"],
    ]


def test_same_seed_serves_the_same_data(run_sandbox: RunSandbox) -> None:
    first, second = _population_sandbox(run_sandbox, 5), _population_sandbox(run_sandbox, 5)
    other = _population_sandbox(run_sandbox, 6)
    users = [u["userid"] for u in first.control("GET", "users")["users"]]
    assert users == [u["userid"] for u in second.control("GET", "users")["users"]]
    assert _everything(first, users[0]) == _everything(second, users[0])
    assert users != [u["userid"] for u in other.control("GET", "users")["users"]]


def test_advancing_the_clock_delivers_live_data(
    run_sandbox: RunSandbox, receiver: tuple[Receiver, str]
) -> None:
    hooks, callback = receiver
    sandbox = _population_sandbox(run_sandbox, 5)
    userid = sandbox.control("GET", "users")["users"][0]["userid"]
    token = sandbox.tokens(userid)["access_token"]
    for appli in (1, 16, 44):
        sandbox.api("/notify", token, action="subscribe", callbackurl=callback, appli=appli)
    before = len(
        sandbox.api("/v2/sleep", token, action="getsummary", lastupdate=0)["body"]["series"]
    )
    clock = sandbox.control("POST", "clock", advance_s=2 * 86_400)
    assert clock["now"] == NOW.timestamp() + 2 * 86_400
    posted = hooks.posts()
    assert {p["appli"] for p in posted} >= {"16", "44"}
    assert all(p["userid"] == str(userid) for p in posted)
    token = sandbox.tokens(userid)["access_token"]
    after = sandbox.api("/v2/sleep", token, action="getsummary", lastupdate=0)["body"]["series"]
    assert len(after) > before


def test_record_edits_through_the_generator(
    run_sandbox: RunSandbox, receiver: tuple[Receiver, str]
) -> None:
    hooks, callback = receiver
    sandbox = _population_sandbox(run_sandbox, 5)
    userid = sandbox.control("GET", "users")["users"][0]["userid"]
    token = sandbox.tokens(userid)["access_token"]
    sandbox.api("/notify", token, action="subscribe", callbackurl=callback, appli=1)
    taken = int(NOW.timestamp()) - 600
    added = sandbox.control(
        "POST",
        f"users/{userid}/records",
        kind="measuregrps",
        record={"date": taken, "measures": [{"value": 8125, "type": 1, "unit": -2}]},
    )
    assert added["notification"]["startdate"] == str(taken)
    groups = sandbox.api("/measure", token, action="getmeas", startdate=taken, enddate=taken)
    [group] = groups["body"]["measuregrps"]
    sandbox.control(
        "PATCH",
        f"users/{userid}/records/measuregrps/{group['grpid']}",
        changes={"measures": [{"value": 80, "type": 1, "unit": 0}]},
    )
    sandbox.control("DELETE", f"users/{userid}/records/measuregrps/{group['grpid']}")
    assert len(hooks.posts()) == 3
    missing = sandbox.http.delete(f"/_sandbox/users/{userid}/records/measuregrps/1")
    assert missing.status_code == 404
    assert sandbox.http.get("/_sandbox/users/0/records").status_code == 405


def test_users_list_their_tokens_and_subscriptions(sandbox: Running) -> None:
    tokens = sandbox.tokens(1002)
    users = {u["userid"]: u for u in sandbox.control("GET", "users")["users"]}
    assert [t["token"] for t in users[1002]["access_tokens"]] == [tokens["access_token"]]
    assert users[1001]["access_tokens"] == []


def test_heart_get_serves_the_generated_signal(run_sandbox: RunSandbox) -> None:
    world = generate_population(2, 5, now_utc=NOW, history_days=2)
    sandbox = run_sandbox(world, start_at_epoch=NOW.timestamp(), seed=5)
    userid = world.accounts[0].userid
    taken = int(NOW.timestamp()) - 3600
    record = {"timestamp": taken, "heart_rate": 71, "model": 93, "ecg": {"signalid": 4242}}
    sandbox.control("POST", f"users/{userid}/records", kind="heart", record=record)
    token = sandbox.tokens(userid)["access_token"]
    listed = sandbox.api("/v2/heart", token, action="list", startdate=taken, enddate=taken)
    assert [row["ecg"]["signalid"] for row in listed["body"]["series"]] == [4242]
    answer = sandbox.api("/v2/heart", token, action="get", signalid=4242)
    assert answer["status"] == 0, answer
    body = answer["body"]
    assert body == world.ecg_signal(world.user(userid), 4242)
    assert (body["sampling_frequency"], body["wearposition"], body["model"]) == (300, 1, 93)
    assert len(body["signal"]) == 300 * 30
    assert body["heart_rate"] == 71
    unknown = sandbox.api("/v2/heart", token, action="get", signalid=1)
    assert (unknown["status"], unknown["error"]) == (503, "Invalid Params: no ECG with signalid 1")
    missing = sandbox.api("/v2/heart", token, action="get")
    assert missing["status"] == 503
    narrow = sandbox.tokens(userid, scopes="user.activity")["access_token"]
    assert sandbox.api("/v2/heart", narrow, action="get", signalid=4242)["status"] == 214


def test_touching_a_user_generates_its_history_on_demand(run_sandbox: RunSandbox) -> None:
    world = generate_population(3, 5, now_utc=NOW, history_days=10)
    eager = generate_population(3, 5, now_utc=NOW, history_days=10, lazy=False)
    sandbox = run_sandbox(world, start_at_epoch=NOW.timestamp(), seed=5)
    listed = sandbox.control("GET", "users")["users"]
    assert [u["userid"] for u in listed] == [a.userid for a in eager.accounts]
    assert (
        world.awake_userids == set()
    )  # listing users and showing the consent page generate nothing
    sandbox.http.get("/oauth2_user/authorize2", params={"client_id": "x"})
    userid = listed[1]["userid"]
    token = sandbox.tokens(userid)["access_token"]
    served = sandbox.api("/measure", token, action="getmeas", lastupdate=0)["body"]
    assert world.awake_userids == {userid}
    assert served["measuregrps"] == eager.user(userid).measuregrps


def test_control_added_records_are_served_like_generated_ones(run_sandbox: RunSandbox) -> None:
    """Records added with only the required fields (the docs' examples) come back complete:
    sleep `get` and heart `get` read their device fields, and every list keeps its shape."""
    world = generate_population(6, 5, now_utc=NOW, history_days=3)
    sandbox = run_sandbox(world, start_at_epoch=NOW.timestamp(), seed=5)
    userid = world.accounts[0].userid
    generated = world.user(userid)
    start = int(NOW.timestamp()) - 8 * 3600
    stages = {"lightsleepduration": 14_400, "deepsleepduration": 5400, "remsleepduration": 5400}
    night = {
        "startdate": start,
        "enddate": start + 7 * 3600,
        "date": NOW.date().isoformat(),
        "data": {
            **stages,
            "total_timeinbed": 7 * 3600,
            "total_sleep_time": 25_200,
            "sleep_latency": 0,
            "wakeupduration": 0,
        },
    }
    added = {
        "sleep_summaries": night,
        "heart": {"timestamp": start, "heart_rate": 64},
        "activities": {"date": NOW.date().isoformat(), "steps": 4321},
        "workouts": {
            "category": 1,
            "startdate": start - 3600,
            "enddate": start - 1800,
            "date": NOW.date().isoformat(),
            "data": {"calories": 120},
        },
    }
    for kind, record in added.items():
        sandbox.control("POST", f"users/{userid}/records", kind=kind, record=record)
    token = sandbox.tokens(userid)["access_token"]
    got = sandbox.api("/v2/sleep", token, action="get", startdate=start, enddate=start + 7 * 3600)
    assert got["status"] == 0, got
    sleep_device = next(
        (d for d in generated.devices if d["model_id"] == 63),
        next(d for d in generated.devices if d["type"] == "Activity Tracker"),
    )
    assert got["body"]["model"] == (32 if sleep_device["model_id"] == 63 else 16)
    assert {s["hash_deviceid"] for s in got["body"]["series"]} == {sleep_device["deviceid"]}
    assert sum(s["enddate"] - s["startdate"] for s in got["body"]["series"]) == 7 * 3600
    summaries = sandbox.api(
        "/v2/sleep", token, action="getsummary", lastupdate=int(NOW.timestamp())
    )["body"]["series"]
    assert [(s["model_id"], s["hash_deviceid"]) for s in summaries] == [
        (sleep_device["model_id"], sleep_device["deviceid"])
    ]
    listed = sandbox.api("/v2/heart", token, action="list", startdate=start, enddate=start)
    [ecg] = listed["body"]["series"]
    signal = sandbox.api("/v2/heart", token, action="get", signalid=ecg["ecg"]["signalid"])
    assert signal["status"] == 0, signal
    assert signal["body"]["model"] == ecg["model"]
    day = NOW.date().isoformat()
    rows = sandbox.api(
        "/v2/measure", token, action="getactivity", startdateymd=day, enddateymd=day
    )["body"]["activities"]
    row = next(r for r in rows if r["steps"] == 4321)
    watch_row = next(r for r in generated.activities if r["brand"] == 1)
    assert {k for k in watch_row if not k.startswith("hr_")} <= set(row)
    since = int(NOW.timestamp())
    workouts = sandbox.api("/v2/measure", token, action="getworkouts", lastupdate=since)
    [workout] = workouts["body"]["series"]
    assert set(workout) == {"id", "category", "timezone", "model", "attrib", "startdate",
                            "enddate", "date", "modified", "deviceid", "data"}  # fmt: skip
