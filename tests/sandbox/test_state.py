"""`rookery sandbox --state PATH` over real HTTP: what one process granted, subscribed, edited
and generated is there again in the next process started with the same file, and a file that
does not fit is refused with one line."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import httpx2
import pytest

from rookery.sandbox.state import STATE_VERSION
from tests.sandbox.conftest import CLIENT_ID, CLIENT_SECRET, SandboxClient
from tests.sandbox.process import free_port, sandbox_command, sandbox_process
from tests.sandbox.servers import Receiver

pytestmark = pytest.mark.timeout(120)

OPTIONS: Final = ("--users", "2", "--seed", "5", "--history-days", "3")
# Two weights typed in through the control endpoint, days before anything generated.
FIRST_AT: Final = 1_600_000_000
SECOND_AT: Final = FIRST_AT + 3600


@contextmanager
def _client(url: str) -> Iterator[SandboxClient]:
    with httpx2.Client(base_url=url, timeout=10) as http:
        yield SandboxClient(url, http)


def _refresh(client: SandboxClient, refresh_token: str) -> dict[str, Any]:
    return client.api(
        "/v2/oauth2",
        action="requesttoken",
        grant_type="refresh_token",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        refresh_token=refresh_token,
    )


def _weights(client: SandboxClient, token: str) -> dict[int, list[dict[str, Any]]]:
    """The control-added weights (grpid → measures), through a data endpoint."""
    answer = client.api(
        "/measure", token, action="getmeas", startdate=FIRST_AT - 1, enddate=SECOND_AT + 1
    )
    assert answer["status"] == 0, answer
    return {g["grpid"]: g["measures"] for g in answer["body"]["measuregrps"]}


def _weigh(client: SandboxClient, userid: int, at: int, grams: int) -> dict[str, Any]:
    record = {"date": at, "measures": [{"value": grams, "type": 1, "unit": -3}]}
    return client.control("POST", f"users/{userid}/records", kind="measuregrps", record=record)


def test_grants_subscriptions_and_edits_survive_a_crash_and_a_restart(
    tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    hooks, callback = receiver
    options = (*OPTIONS, "--state", str(tmp_path / "sandbox.json"))
    with sandbox_process(*options) as first, _client(first.url) as client:
        userid = client.control("GET", "users")["users"][0]["userid"]
        linked = client.tokens(userid)
        # Rotated once: the first refresh token lives on until the new access token is used.
        rotated = _refresh(client, linked["refresh_token"])["body"]
        subscribed = client.api(
            "/notify", linked["access_token"], action="subscribe", callbackurl=callback, appli=1
        )
        assert subscribed["status"] == 0, subscribed
        assert len(_weigh(client, userid, FIRST_AT, 81_234)["deliveries"]) == 1
        assert len(_weigh(client, userid, SECOND_AT, 81_000)["deliveries"]) == 1
        added = _weights(client, linked["access_token"])
        first_grpid, second_grpid = sorted(added)
        # A crash: only what was saved at each change can come back.
        first.stop(signal.SIGKILL)

    with sandbox_process(*options) as second, _client(second.url) as client:
        # The first access token still works on a data endpoint and the edits are served.
        assert _weights(client, linked["access_token"]) == added
        profiles = client.api("/notify", linked["access_token"], action="list")["body"]
        assert [(p["appli"], p["callbackurl"]) for p in profiles["profiles"]] == [(1, callback)]
        # Rotation still holds: the new access token's first use kills the old refresh token;
        # the new refresh token refreshes.
        assert _weights(client, rotated["access_token"]) == added
        assert _refresh(client, linked["refresh_token"])["status"] == 503
        refreshed = _refresh(client, rotated["refresh_token"])
        assert refreshed["status"] == 0, refreshed
        latest = refreshed["body"]["access_token"]
        # The subscription still notifies.
        posted = len(hooks.posts())
        changed = client.control(
            "PATCH",
            f"users/{userid}/records/measuregrps/{first_grpid}",
            changes={"measures": [{"value": 80_500, "type": 1, "unit": -3}]},
        )
        assert len(changed["deliveries"]) == 1
        assert len(hooks.posts()) == posted + 1
        assert hooks.posts()[-1]["userid"] == str(userid)
        client.control("DELETE", f"users/{userid}/records/measuregrps/{second_grpid}")
        edited = _weights(client, latest)
        assert edited == {first_grpid: [{"value": 80_500, "type": 1, "unit": -3}]}
        status, stderr = second.stop()
        assert status == 0, stderr

    with sandbox_process(*options) as third, _client(third.url) as client:
        # After a clean stop: the refreshed pair, the change and the deletion, replayed in order.
        assert _weights(client, latest) == edited
        users = client.control("GET", "users")["users"]
        assert [s["appli"] for s in users[0]["subscriptions"]] == [1]
        assert _refresh(client, refreshed["body"]["refresh_token"])["status"] == 0


def _all_records(client: SandboxClient, token: str) -> dict[str, list[dict[str, Any]]]:
    measures = client.api("/measure", token, action="getmeas", lastupdate=0)
    nights = client.api("/v2/sleep", token, action="getsummary", lastupdate=0)
    assert measures["status"] == nights["status"] == 0
    assert not measures["body"]["more"]
    assert not nights["body"]["more"]
    return {"measuregrps": measures["body"]["measuregrps"], "nights": nights["body"]["series"]}


def test_live_data_of_an_earlier_run_is_served_again(tmp_path: Path) -> None:
    # The clock is frozen and moved by hand, two days ahead of real time: a restart must not
    # take it back (what live mode added is in Rookery's hands), nor regenerate another window.
    options = (*OPTIONS, "--speed", "0", "--state", str(tmp_path / "sandbox.json"))
    with sandbox_process(*options) as first, _client(first.url) as client:
        userid = client.control("GET", "users")["users"][0]["userid"]
        linked = client.tokens(userid)
        before = _all_records(client, linked["access_token"])
        client.advance(2 * 86_400)
        clock = client.control("GET", "clock")["now"]
        # The access token expired on the way; a refresh is a change, so it is saved.
        token = _refresh(client, linked["refresh_token"])["body"]["access_token"]
        served = _all_records(client, token)
        assert len(served["measuregrps"]) > len(before["measuregrps"])
        assert len(served["nights"]) > len(before["nights"])
        first.stop(signal.SIGKILL)

    with sandbox_process(*options) as second, _client(second.url) as client:
        assert client.control("GET", "clock")["now"] >= clock
        assert _all_records(client, token) == served


def _refused(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    command = sandbox_command("--port", str(free_port()), *options)
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_a_file_that_does_not_fit_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "sandbox.json"
    with sandbox_process(*OPTIONS, "--state", str(path)) as server:
        server.stop()
    saved = json.loads(path.read_text())
    assert saved["version"] == STATE_VERSION

    other_seed = _refused(
        tmp_path, "--users", "2", "--seed", "6", "--history-days", "3", "--state", str(path)
    )
    assert other_seed.returncode == 2
    assert other_seed.stderr == (
        f"rookery sandbox: {path} was saved by a sandbox started with --users 2 --seed 5 "
        "--history-days 3, not --users 2 --seed 6 --history-days 3; start with those options "
        "or use another --state file\n"
    )
    other_count = _refused(
        tmp_path, "--users", "3", "--seed", "5", "--history-days", "3", "--state", str(path)
    )
    assert other_count.returncode == 2
    assert "was saved by a sandbox started with --users 2" in other_count.stderr

    for content, reason in (
        ('{"version": 1, "identity"', "not JSON"),
        (json.dumps({**saved, "version": 99}), "state format version 99"),
        (json.dumps({**saved, "grants": {"access": [{"token": "x"}]}}), "KeyError"),
        (json.dumps({k: v for k, v in saved.items() if k != "edits"}), "KeyError"),
    ):
        path.write_text(content)
        refused = _refused(tmp_path, *OPTIONS, "--state", str(path))
        assert refused.returncode == 2, refused.stderr
        assert refused.stderr.startswith(f"rookery sandbox: {path} "), refused.stderr
        assert reason in refused.stderr
        assert refused.stderr.count("\n") == 1, refused.stderr
        assert "Traceback" not in refused.stderr
