"""`rookery sandbox --users 100` starts and serves its users.

How fast it starts (the issue's goal: under two seconds) is measured by `bench/sandbox.py`, not
asserted here: a timed test fails on a busy machine for reasons that are not the sandbox's.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

import httpx2

# Generous: this proves that it starts, not how fast.
START_LIMIT_S: Final = 60.0
_ROOKERY: Final = Path(sys.executable).with_name("rookery")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_a_hundred_users_are_served() -> None:
    port = _free_port()
    command = [str(_ROOKERY), "sandbox", "--users", "100", "--port", str(port), "--speed", "0"]
    started = time.monotonic()
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        answered = False
        while time.monotonic() - started < START_LIMIT_S:
            try:
                answer = httpx2.get(f"http://127.0.0.1:{port}/_sandbox/clock", timeout=1.0)
            except httpx2.TransportError:
                assert server.poll() is None, server.communicate()[1].decode()[-2000:]
                time.sleep(0.025)
                continue
            assert answer.status_code == 200
            answered = True
            break
        assert answered, f"the sandbox did not answer within {START_LIMIT_S:.0f} s"
        users = httpx2.get(f"http://127.0.0.1:{port}/_sandbox/users", timeout=5).json()["users"]
        assert len(users) == 100
    finally:
        server.terminate()
        server.communicate(timeout=10)
