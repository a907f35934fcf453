"""`rookery demo` as a subprocess on free loopback ports, for the demo's own test and the
dashboard's browser test: the lines it prints, Ctrl-C, and linking a sandbox user the way a
browser without JavaScript would."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2

ROOKERY = Path(sys.executable).with_name("rookery")
START_TIMEOUT_S = 90.0
DELIVERY_TIMEOUT_S = 120.0
PAGE_LINE = re.compile(r"^Connections page: (?P<url>http://127\.0\.0\.1:\d+/connections/\S+)$")
DASHBOARD_LINE = re.compile(r"^Dashboard: (?P<url>http://127\.0\.0\.1:\d+/dashboard)$")
DATA_LINE = re.compile(
    r"(?P<what>\w+_(summary|event))\s+(?P<user>withings-\d+)\s+(?P<day>\d{4}-\d\d-\d\d)\s+v\d+"
    r"\s+[\d.]+ s\s+signed ✓"
)


@dataclass
class Demo:
    """A running `rookery demo` and the lines it printed."""

    process: subprocess.Popen[str]
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def wait_for(
        self, pattern: re.Pattern[str], timeout_s: float, *, new_only: bool = False
    ) -> re.Match[str]:
        """The first printed line matching `pattern`, waiting up to `timeout_s` for it; with
        `new_only`, only among lines not read before this call (by `drain` or `wait_for`)."""
        earlier = list(self.seen)
        fresh = self.drain()
        for line in fresh if new_only else [*earlier, *fresh]:
            if (match := pattern.search(line)) is not None:
                return match
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line matching {pattern.pattern!r} in {self.seen}")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            self.seen.append(line)
            if (match := pattern.search(line)) is not None:
                return match

    def drain(self) -> list[str]:
        """The lines printed since the last read, now marked seen."""
        fresh: list[str] = []
        while True:
            try:
                fresh.append(self.lines.get_nowait())
            except queue.Empty:
                self.seen.extend(fresh)
                return fresh

    def interrupt(self) -> tuple[int, str]:
        """Ctrl-C: the exit status and what went to stderr."""
        self.process.send_signal(signal.SIGINT)
        try:
            status = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError("the demo did not stop within 30 s of SIGINT") from None
        if self.reader is not None:
            self.reader.join(timeout=10)  # every printed line is queued
        assert self.process.stderr is not None
        return status, self.process.stderr.read()


@contextmanager
def running_demo(
    data_dir: Path, *, backfill_days: int = 3, ports: tuple[int, int, int] = (0, 0, 0)
) -> Iterator[Demo]:
    """`rookery demo` with `data_dir` on `ports` (Rookery, sandbox, receiver; 0: any free);
    killed if the test leaves it running."""
    port, sandbox_port, receiver_port = ports
    process = subprocess.Popen(
        [
            str(ROOKERY),
            "demo",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            "--sandbox-port",
            str(sandbox_port),
            "--receiver-port",
            str(receiver_port),
            "--backfill-days",
            str(backfill_days),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    demo = Demo(process)

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            demo.lines.put(line.rstrip("\n"))

    demo.reader = threading.Thread(target=pump, daemon=True)
    demo.reader.start()
    try:
        yield demo
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        demo.reader.join(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def link(page_url: str, userid: str) -> None:
    """What a user's browser does: Connect on the page, Allow on the sandbox's consent page,
    back through Rookery's callback to the page, connected."""
    with httpx2.Client(timeout=30) as browser:
        page = browser.get(page_url)
        assert page.status_code == 200, page.text
        token = re.search(r'name="token" value="([^"]+)"', page.text)
        assert token is not None
        connect = browser.post(page_url + "/connect", data={"token": token.group(1)})
        assert connect.status_code == 303, connect.text
        consent = urlsplit(connect.headers["location"])
        query = {key: values[0] for key, values in parse_qs(consent.query).items()}
        decided = browser.post(
            f"{consent.scheme}://{consent.netloc}{consent.path}",
            data={
                **query,
                "userid": userid,
                "decision": "allow",
                "granted": query["scope"].split(","),
            },
        )
        assert decided.status_code == 302, decided.text
        landed = browser.get(decided.headers["location"])
        assert landed.status_code == 303, landed.text
        assert landed.headers["location"].endswith("?result=connected")
