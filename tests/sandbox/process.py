"""`rookery sandbox` as a subprocess on a free loopback port, as a user runs it."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx2

ROOKERY: Final = Path(sys.executable).with_name("rookery")
# Generous: this proves that it starts, not how fast.
START_LIMIT_S: Final = 60.0


def free_ports(count: int) -> list[int]:
    """`count` different loopback ports nothing listens on right now."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    return free_ports(1)[0]


@dataclass
class SandboxProcess:
    """A running `rookery sandbox` and its base URL."""

    process: subprocess.Popen[bytes]
    url: str

    def stop(self, sig: signal.Signals = signal.SIGINT) -> tuple[int, str]:
        """Send `sig` (Ctrl-C by default, SIGKILL for a crash); exit status and stderr."""
        self.process.send_signal(sig)
        _, stderr = self.process.communicate(timeout=20)
        return self.process.returncode, stderr.decode()


def sandbox_command(*options: str) -> list[str]:
    """The `rookery sandbox` command line with `options`."""
    return [str(ROOKERY), "sandbox", *options]


@contextmanager
def sandbox_process(*options: str) -> Iterator[SandboxProcess]:
    """`rookery sandbox --port <free> *options`, answering; killed if still running at the end."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        sandbox_command("--port", str(port), *options),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        started = time.monotonic()
        while True:
            try:
                answer = httpx2.get(f"{url}/_sandbox/clock", timeout=1.0)
            except httpx2.TransportError:
                if process.poll() is not None:
                    raise AssertionError(process.communicate()[1].decode()[-2000:]) from None
                if time.monotonic() - started > START_LIMIT_S:
                    raise AssertionError(
                        f"the sandbox did not answer within {START_LIMIT_S:.0f} s"
                    ) from None
                time.sleep(0.025)
                continue
            assert answer.status_code == 200
            break
        yield SandboxProcess(process, url)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=20)
