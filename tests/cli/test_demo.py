"""`rookery demo` as a user runs it: a subprocess on free loopback ports. Link a sandbox user
through the printed connections page, see its deliveries printed, stop it with Ctrl-C (SIGINT),
and run it again on the same folder: the same client comes back."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
import pytest

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

pytestmark = pytest.mark.timeout(240)


def test_demo_links_delivers_stops_cleanly_and_reuses_its_client(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    with running_demo(data_dir) as demo:
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
    print(f"demo ready in {ready_s:.1f} s; first data delivery {first_data_s:.1f} s after linking")

    client_file = (data_dir / "client.json").read_text()
    with running_demo(data_dir) as again:
        second_url = again.wait_for(PAGE_LINE, START_TIMEOUT_S)["url"]
        again.wait_for(re.compile(r"^Reusing the demo client of an earlier run"), 5)
        status, stderr = again.interrupt()
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
