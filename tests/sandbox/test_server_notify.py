"""Notify API and webhook delivery over real HTTP, with retries on the compressed clock."""

from __future__ import annotations

import datetime as dt
import itertools
import time

import pytest

from rookery.sandbox.notify import Notification
from rookery.sandbox.records import Change
from rookery.sandbox.synth import generate_population
from rookery.withings.codes import Appli
from tests.sandbox.conftest import Running, RunSandbox
from tests.sandbox.factories import T0, measure_group, night
from tests.sandbox.servers import Receiver

Hook = tuple[Receiver, str]


def test_subscribe_probes_with_head_and_answers_293_unless_2xx(
    sandbox: Running, receiver: Hook
) -> None:
    hooks, callback = receiver
    token = sandbox.tokens()["access_token"]
    hooks.head_status = 404
    refused = sandbox.api("/notify", token, action="subscribe", callbackurl=callback, appli=1)
    assert refused["status"] == 293
    assert [m for m, _ in hooks.requests] == ["HEAD"]
    hooks.head_status = 204
    assert sandbox.api("/notify", token, action="subscribe", callbackurl=callback, appli=1) == {
        "status": 0,
        "body": {},
    }


def test_callbacks_off_loopback_or_unreachable_are_refused(sandbox: Running) -> None:
    token = sandbox.tokens()["access_token"]
    for url in ("https://example.com/hook", "http://127.0.0.1:9/closed-port"):
        answer = sandbox.api("/notify", token, action="subscribe", callbackurl=url, appli=1)
        assert answer["status"] == 293, url


def test_subscribe_needs_the_applis_scope(sandbox: Running, receiver: Hook) -> None:
    _, callback = receiver
    token = sandbox.tokens(scopes="user.metrics")["access_token"]
    answer = sandbox.api("/notify", token, action="subscribe", callbackurl=callback, appli=44)
    assert answer["status"] == 214


def test_list_get_update_revoke(sandbox: Running, receiver: Hook) -> None:
    _, callback = receiver
    token = sandbox.tokens()["access_token"]
    for appli in (1, 44):
        sandbox.api(
            "/notify", token, action="subscribe", callbackurl=callback, appli=appli, comment="c"
        )
    listed = sandbox.api("/notify", token, action="list")["body"]["profiles"]
    assert listed == [
        {"appli": 1, "callbackurl": callback, "expires": 2147483647, "comment": "c"},
        {"appli": 44, "callbackurl": callback, "expires": 2147483647, "comment": "c"},
    ]
    assert len(sandbox.api("/notify", token, action="list", appli=44)["body"]["profiles"]) == 1
    got = sandbox.api("/notify", token, action="get", callbackurl=callback, appli=44)
    assert got["body"] == {"appli": 44, "callbackurl": callback, "comment": "c"}
    sandbox.api(
        "/notify", token, action="update", callbackurl=callback, appli=44, comment="renamed"
    )
    got = sandbox.api("/notify", token, action="get", callbackurl=callback, appli=44)
    assert got["body"]["comment"] == "renamed"
    assert (
        sandbox.api("/notify", token, action="revoke", callbackurl=callback, appli=1)["status"] == 0
    )
    missing = sandbox.api("/notify", token, action="get", callbackurl=callback, appli=1)
    assert missing["status"] == 286
    assert [
        p["appli"] for p in sandbox.api("/notify", token, action="list")["body"]["profiles"]
    ] == [44]


def _subscribe(sandbox: Running, callback: str, *applis: int) -> None:
    token = sandbox.tokens()["access_token"]
    for appli in applis:
        answer = sandbox.api(
            "/notify", token, action="subscribe", callbackurl=callback, appli=appli
        )
        assert answer["status"] == 0, answer


def test_added_record_is_notified_form_encoded(sandbox: Running, receiver: Hook) -> None:
    hooks, callback = receiver
    _subscribe(sandbox, callback, 1, 4, 44)
    group = measure_group(99, T0 + 600, [(9, 80, 0), (10, 120, 0)])
    result = sandbox.control("POST", "users/1001/records", kind="measuregrps", record=group)
    assert len(result["deliveries"]) == 1
    sandbox.control(
        "POST", "users/1001/records", kind="sleep_summaries", record=night(77, "2023-11-15", T0)
    )
    assert hooks.posts() == [
        {"userid": "1001", "appli": "4", "startdate": str(T0 + 600), "enddate": str(T0 + 660)},
        {"userid": "1001", "appli": "44", "startdate": str(T0), "enddate": str(T0 + 28_200)},
    ]
    token = sandbox.tokens()["access_token"]
    stored = sandbox.api("/measure", token, action="getmeas", startdate=T0 + 600, enddate=T0 + 600)
    assert stored["body"]["measuregrps"][0]["modified"] == T0 + 3600


def test_deleting_a_record_notifies_too(sandbox: Running, receiver: Hook) -> None:
    hooks, callback = receiver
    _subscribe(sandbox, callback, 16)
    sandbox.control("DELETE", "users/1001/records/workouts/12")
    assert hooks.posts() == [{"userid": "1001", "appli": "16", "date": "2023-11-14"}]


def test_user_event_carries_an_action(sandbox: Running, receiver: Hook) -> None:
    hooks, callback = receiver
    _subscribe(sandbox, callback, 46)
    sandbox.control("POST", "notifications", userid=1001, appli=46, action="unlink")
    assert hooks.posts() == [{"userid": "1001", "appli": "46", "action": "unlink"}]
    bad = sandbox.http.post(
        "/_sandbox/notifications", json={"userid": 1001, "appli": 46, "action": "unplug"}
    )
    assert bad.status_code == 400
    assert "unlink" in bad.json()["error"]


def test_a_change_carries_its_own_action() -> None:
    unlinked = Notification.from_change(Change(1001, Appli.USER, action="delete"))
    assert unlinked.form() == {"userid": "1001", "appli": "46", "action": "delete"}
    assert Notification.from_change(Change(1001, Appli.USER)).fields == {"action": "update"}
    # Only appli 46 carries an action.
    weight = Notification.from_change(Change(1001, Appli.WEIGHT, 5, 65, action="delete"))
    assert weight.fields == {"startdate": "5", "enddate": "65"}


def test_failed_delivery_retries_on_withings_schedule(sandbox: Running, receiver: Hook) -> None:
    hooks, callback = receiver
    _subscribe(sandbox, callback, 1)
    hooks.status = 500
    start = T0 + 3600
    sandbox.control("POST", "notifications", userid=1001, appli=1, startdate=T0, enddate=T0 + 1)

    def attempts() -> list[tuple[float, int]]:
        delivery = sandbox.control("GET", "deliveries")["deliveries"][0]
        return [(a["at"] - start, a["cycle"]) for a in delivery["attempts"]]

    assert attempts() == [(0, 0), (0, 0)]
    sandbox.advance(9)
    assert len(attempts()) == 2
    sandbox.advance(1)
    assert attempts()[2:] == [(10, 1), (10, 1)]
    delivery = sandbox.control("GET", "deliveries")["deliveries"][0]
    third_at = delivery["next_at"] - start
    assert 10 + 60 + 60 <= third_at <= 10 + 60 + 600
    sandbox.advance(third_at - 10)
    fourth_at = sandbox.control("GET", "deliveries")["deliveries"][0]["next_at"] - start
    assert third_at + 3600 + 120 <= fourth_at <= third_at + 3600 + 1200
    hooks.status = 200
    sandbox.advance(fourth_at - third_at)
    delivery = sandbox.control("GET", "deliveries")["deliveries"][0]
    assert delivery["state"] == "delivered"
    assert [a["cycle"] for a in delivery["attempts"]] == [0, 0, 1, 1, 2, 2, 3]
    assert len(hooks.posts()) == 7


def test_a_delivery_gives_up_after_five_cycles(sandbox: Running, receiver: Hook) -> None:
    """Every cycle starts on time (base + jitter after the previous one), then it stops."""
    hooks, callback = receiver
    _subscribe(sandbox, callback, 1)
    hooks.status = 503
    sandbox.control("POST", "notifications", userid=1001, appli=1, startdate=T0, enddate=T0)
    for _ in range(4):
        delivery = sandbox.control("GET", "deliveries")["deliveries"][0]
        sandbox.advance(delivery["next_at"] - sandbox.sandbox.clock.now())
    delivery = sandbox.control("GET", "deliveries")["deliveries"][0]
    assert delivery["state"] == "failed"
    assert delivery["next_at"] is None
    starts = [a["at"] for a in delivery["attempts"][::2]]
    assert [a["cycle"] for a in delivery["attempts"]] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    waits = [later - earlier for earlier, later in itertools.pairwise(starts)]
    bounds = [(10, 10), (60 + 60, 60 + 600), (3600 + 120, 3600 + 1200), (14400 + 180, 14400 + 1800)]
    assert all(low <= wait <= high for wait, (low, high) in zip(waits, bounds, strict=True)), waits
    sandbox.advance(86_400)
    assert len(hooks.posts()) == 10


@pytest.mark.timeout(30)
def test_a_callback_has_2_seconds_to_answer(sandbox: Running, receiver: Hook) -> None:
    hooks, callback = receiver
    _subscribe(sandbox, callback, 1)
    for delay_s in (1.2, 2.4):
        hooks.delay_s = delay_s
        sandbox.control("POST", "notifications", userid=1001, appli=1, startdate=T0, enddate=T0)
    in_time, late = sandbox.control("GET", "deliveries")["deliveries"]
    assert [a["outcome"] for a in in_time["attempts"]] == ["delivered"]
    assert [a["outcome"] for a in late["attempts"]] == ["timeout", "timeout"]


@pytest.mark.timeout(20)
def test_a_slow_callback_counts_as_a_timeout(run_sandbox: object, receiver: Hook) -> None:
    sandbox = run_sandbox(notify_timeout_s=0.2)  # type: ignore[operator]
    hooks, callback = receiver
    _subscribe(sandbox, callback, 1)
    hooks.delay_s = 0.5
    sandbox.control("POST", "notifications", userid=1001, appli=1, startdate=T0, enddate=T0)
    delivery = sandbox.control("GET", "deliveries")["deliveries"][0]
    assert [a["outcome"] for a in delivery["attempts"]] == ["timeout", "timeout"]


def test_update_moves_a_subscription_to_another_callback_or_appli(
    sandbox: Running, receiver: Hook
) -> None:
    hooks, callback = receiver
    token = sandbox.tokens()["access_token"]
    sandbox.api("/notify", token, action="subscribe", callbackurl=callback, appli=1)
    other = callback.replace("token=s3cret", "token=other")
    moved = sandbox.api(
        "/notify", token, action="update", callbackurl=callback, appli=1,
        new_callbackurl=other, new_appli=4,
    )  # fmt: skip
    assert moved == {"status": 0, "body": {}}
    assert [m for m, _ in hooks.requests] == ["HEAD", "HEAD"]  # the new callback is probed too
    profiles = sandbox.api("/notify", token, action="list")["body"]["profiles"]
    assert [(p["appli"], p["callbackurl"]) for p in profiles] == [(4, other)]
    off_loopback = sandbox.api(
        "/notify", token, action="update", callbackurl=other, appli=4,
        new_callbackurl="https://example.com/hook",
    )  # fmt: skip
    assert off_loopback["status"] == 293


@pytest.mark.timeout(30)
def test_live_mode_notifies_while_the_clock_runs(run_sandbox: RunSandbox, receiver: Hook) -> None:
    """With the clock running by itself (no control call), new data arrives and is notified."""
    now = 1_740_830_400  # 2025-03-01T12:00Z
    world = generate_population(2, 5, now_utc=dt.datetime.fromtimestamp(now, dt.UTC))
    sandbox = run_sandbox(world, start_at_epoch=float(now), seed=5)
    hooks, callback = receiver
    userid = world.accounts[0].userid
    token = sandbox.tokens(userid)["access_token"]
    for appli in (1, 4, 16, 44):
        answer = sandbox.api(
            "/notify", token, action="subscribe", callbackurl=callback, appli=appli
        )
        assert answer["status"] == 0, answer
    sandbox.control("POST", "clock", speed=86_400)  # a day per second
    deadline = time.monotonic() + 20
    while not hooks.posts() and time.monotonic() < deadline:
        time.sleep(0.1)
    sandbox.control("POST", "clock", speed=0)
    posted = hooks.posts()
    assert posted, "no notification while the clock ran"
    assert {p["userid"] for p in posted} == {str(userid)}
    assert sandbox.sandbox.clock.now() > now + 86_400 * 0.5
