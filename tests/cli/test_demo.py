"""`rookery demo` as a user runs it: a subprocess on free loopback ports. Link a sandbox user
through the printed connections page, see its deliveries printed, stop it with Ctrl-C (SIGINT),
and run it again on the same folder: the same client comes back, and the sandbox still knows
the linked user's tokens and subscriptions, so its next change is delivered."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx2
import pytest

from rookery.cli.demo import SANDBOX_SEED
from rookery.sandbox.profiles import (
    BPM_MODELS,
    SCALE_MODELS,
    SLEEP_ANALYZER_MODEL,
    WATCH_MODELS,
    make_profile,
)
from tests.cli.demo_process import (
    DASHBOARD_LINE,
    DATA_LINE,
    DELIVERY_TIMEOUT_S,
    PAGE_LINE,
    ROOKERY,
    START_TIMEOUT_S,
    link,
    running_demo,
)
from tests.sandbox.process import free_ports

pytestmark = pytest.mark.timeout(240)

# A delivered document's line: structure, user, local day, version.
DOCUMENT_LINE = re.compile(
    r"(?P<what>\w+_(summary|event))\s+(?P<user>withings-\d+)\s+(?P<day>\S+)\s+(?P<version>v\d+)"
)


def test_demo_links_delivers_stops_cleanly_and_reuses_its_client(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    # The same ports in both runs, as `make demo` has: the sandbox's saved subscriptions call
    # back Rookery's URL of the first run.
    rookery_port, sandbox_port, receiver_port = free_ports(3)
    ports = (rookery_port, sandbox_port, receiver_port)
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    with running_demo(data_dir, ports=ports) as demo:
        started = time.monotonic()
        page_url = demo.wait_for(PAGE_LINE, START_TIMEOUT_S)["url"]
        ready_s = time.monotonic() - started
        dashboard_url = demo.wait_for(DASHBOARD_LINE, 5)["url"]
        assert httpx2.get(dashboard_url, follow_redirects=True).status_code == 200
        userid = page_url.rsplit("withings-", 1)[1]

        link(page_url, userid)
        linked = time.monotonic()
        demo.wait_for(re.compile(rf"event user_created\s+withings-{userid}\b.*signed ✓"), 30)
        data = demo.wait_for(DATA_LINE, DELIVERY_TIMEOUT_S)
        first_data_s = time.monotonic() - linked
        assert data["user"] == f"withings-{userid}"

        status, stderr = demo.interrupt()
        assert status == 0, stderr
        assert "Traceback" not in stderr
        remaining = []
        while not demo.lines.empty():
            remaining.append(demo.lines.get())
        assert any(line.startswith("Stopped.") for line in remaining), remaining
        first_run = [*demo.seen, *remaining]
    print(f"demo ready in {ready_s:.1f} s; first data delivery {first_data_s:.1f} s after linking")

    client_file = (data_dir / "client.json").read_text()
    with running_demo(data_dir, ports=ports) as again:
        second_url = again.wait_for(PAGE_LINE, START_TIMEOUT_S)["url"]
        again.wait_for(re.compile(r"^Reusing the demo client of an earlier run"), 5)
        # The user linked in the first run is still linked, and nothing is delivered again.
        credentials = json.loads((data_dir / "client.json").read_text())
        base = second_url.split("/connections/", 1)[0]
        sync = httpx2.get(
            f"{base}/api/v1/client/users/withings-{userid}/sync",
            auth=(credentials["client_uuid"], credentials["secret_key"]),
        ).json()
        assert sync["connection_state"] == "linked", sync
        time.sleep(3)
        again.drain()
        # The sandbox kept the user's subscription and tokens: a weight typed in for a day no
        # earlier delivery covered is notified, fetched with the first run's token, delivered.
        account = next(
            u
            for u in httpx2.get(f"{sandbox_url}/_sandbox/users").json()["users"]
            if str(u["userid"]) == userid
        )
        weighed_at = int(time.time()) - 20 * 86_400
        added = httpx2.post(
            f"{sandbox_url}/_sandbox/users/{userid}/records",
            json={
                "kind": "measuregrps",
                "record": {
                    "date": weighed_at,
                    "measures": [{"value": 80_123, "type": 1, "unit": -3}],
                },
            },
        )
        assert added.status_code == 200, added.text
        assert len(added.json()["deliveries"]) == 1, added.text
        day = datetime.fromtimestamp(weighed_at, ZoneInfo(account["timezone"])).date()
        again.wait_for(
            re.compile(rf"_summary\s+withings-{userid}\s+{day.isoformat()}\s+v\d+.*signed ✓"),
            30,
            new_only=True,
        )
        status, stderr = again.interrupt()
    # What the first run left queued goes out now; nothing goes out twice.
    printed = [
        (match["what"], match["user"], match["day"], match["version"])
        for line in [*first_run, *again.seen]
        if (match := DOCUMENT_LINE.search(line)) is not None
    ]
    assert printed
    assert len(printed) == len(set(printed)), printed
    assert status == 0, stderr
    assert "Traceback" not in stderr
    # The same client (its uuid is in the page URL), the same credentials file.
    assert urlsplit(second_url).path == urlsplit(page_url).path
    assert (data_dir / "client.json").read_text() == client_file


def test_a_taken_port_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(ROOKERY), "demo", "--data-dir", str(tmp_path), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"rookery demo: port {port} on 127.0.0.1 is in use; choose another with --port N "
        "(0 picks a free port)"
    )


def test_the_suggested_demo_user_has_every_kind_of_data() -> None:
    # The banner's first user is the one a newcomer links: it owns a scale, a blood-pressure
    # monitor, the ScanWatch (SpO2) and the Sleep Analyzer (stages, sleep heart rate), so no
    # chart of the dashboard stays empty.
    models = {device.model_id for device in make_profile(SANDBOX_SEED, 0).devices}
    assert models & set(SCALE_MODELS)
    assert models & set(BPM_MODELS)
    assert WATCH_MODELS[0] in models
    assert SLEEP_ANALYZER_MODEL in models
