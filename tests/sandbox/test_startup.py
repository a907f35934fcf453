"""`rookery sandbox --users 100` serves within two seconds of its process starting (issue goal).

The bound is wall-clock from `Popen` to the first answer, imports included, on a 2-core machine
like CI's; polling sleeps between tries so that it takes no CPU from the server it waits for.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

import httpx2

READY_WITHIN_S: Final = 2.0
_ROOKERY: Final = Path(sys.executable).with_name("rookery")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_a_hundred_users_serve_within_two_seconds() -> None:
    port = _free_port()
    command = [str(_ROOKERY), "sandbox", "--users", "100", "--port", str(port), "--speed", "0"]
    started = time.monotonic()
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ready_s = None
        while time.monotonic() - started < 4 * READY_WITHIN_S:
            try:
                answer = httpx2.get(f"http://127.0.0.1:{port}/_sandbox/clock", timeout=1.0)
            except httpx2.TransportError:
                assert server.poll() is None, server.communicate()[1].decode()[-2000:]
                time.sleep(0.025)
                continue
            assert answer.status_code == 200
            ready_s = time.monotonic() - started
            break
        assert ready_s is not None, "the sandbox did not answer at all"
        users = httpx2.get(f"http://127.0.0.1:{port}/_sandbox/users", timeout=5).json()["users"]
        assert len(users) == 100
        assert ready_s < READY_WITHIN_S, f"serving after {ready_s:.2f} s"
    finally:
        server.terminate()
        server.communicate(timeout=10)
