"""Benchmark the Withings sandbox: start-up time with 100 users, then data calls per second.

Runs `rookery sandbox` (through its Typer function) in a subprocess pinned to one CPU core,
links a user over the consent page, and drives a fixed number of data calls from a small asyncio
client on loopback. Reproducible (fixed seed and call mix), bounded (a fixed call count and a
deadline) and stops the server by itself.

    .venv/bin/python bench/sandbox.py [--users 100] [--calls 5000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from urllib.parse import parse_qs, urlsplit

import httpx2

from rookery.config import DEFAULT_WITHINGS_CLIENT_ID, DEFAULT_WITHINGS_CLIENT_SECRET

LAUNCH = "import typer; from rookery.cli.sandbox import sandbox; typer.run(sandbox)"
REDIRECT_URI = "http://127.0.0.1:9/cb"
SCOPES = "user.metrics,user.activity"
# The call mix: (path, params) over the usual incremental-sync calls.
CALLS = (
    ("/measure", {"action": "getmeas", "lastupdate": "0"}),
    ("/v2/measure", {"action": "getactivity", "lastupdate": "0"}),
    ("/v2/measure", {"action": "getworkouts", "lastupdate": "0"}),
    ("/v2/sleep", {"action": "getsummary", "lastupdate": "0"}),
    ("/v2/user", {"action": "getdevice"}),
)


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc), or NaN elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_ready(base_url: str, deadline_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        try:
            if httpx2.get(f"{base_url}/_sandbox/clock", timeout=0.5).status_code == 200:
                return time.monotonic() - started
        except httpx2.HTTPError:
            time.sleep(0.02)
    raise TimeoutError(f"the sandbox did not answer within {deadline_s} s")


def _link(base_url: str, userid: int) -> str:
    consent = {
        "response_type": "code",
        "client_id": DEFAULT_WITHINGS_CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "state": "bench",
        "scope": SCOPES,
        "userid": str(userid),
        "decision": "allow",
        "granted": SCOPES.split(","),
    }
    redirect = httpx2.post(f"{base_url}/oauth2_user/authorize2", data=consent)
    code = parse_qs(urlsplit(redirect.headers["location"]).query)["code"][0]
    answer = httpx2.post(
        f"{base_url}/v2/oauth2",
        data={
            "action": "requesttoken",
            "grant_type": "authorization_code",
            "client_id": DEFAULT_WITHINGS_CLIENT_ID,
            "client_secret": DEFAULT_WITHINGS_CLIENT_SECRET,
            "code": code,
            "redirect_uri": REDIRECT_URI,
        },
    ).json()
    token: str = answer["body"]["access_token"]
    return token


async def _load(base_url: str, token: str, calls: int, concurrency: int) -> tuple[float, int]:
    headers = {"Authorization": f"Bearer {token}"}
    failures = 0
    counter = iter(range(calls))
    limits = httpx2.Limits(max_connections=concurrency)
    async with httpx2.AsyncClient(base_url=base_url, headers=headers, limits=limits) as client:

        async def worker() -> None:
            nonlocal failures
            for index in counter:
                path, params = CALLS[index % len(CALLS)]
                response = await client.post(path, data=params, timeout=10)
                if response.json()["status"] != 0:
                    failures += 1

        started = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))), 300)
        return time.perf_counter() - started, failures


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--core", type=int, default=0, help="CPU core the server is pinned to")
    args = parser.parse_args()
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-c", LAUNCH, "--users", str(args.users), "--port", str(port)]
    command += ["--seed", "1", "--speed", "0", "--rate-limit", "100000000"]
    started = time.monotonic()
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    try:
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(server.pid, {args.core})
        _wait_ready(base_url, 30)
        startup_s = time.monotonic() - started
        startup_cpu_s = _cpu_s(server.pid)
        users = httpx2.get(f"{base_url}/_sandbox/users").json()["users"]
        token = _link(base_url, users[0]["userid"])
        cpu_before_s = _cpu_s(server.pid)
        elapsed_s, failures = asyncio.run(_load(base_url, token, args.calls, args.concurrency))
        server_cpu_s = _cpu_s(server.pid) - cpu_before_s
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(
        f"start-up with {args.users} users (process start to first answer): {startup_s:.2f} s "
        f"wall-clock, {startup_cpu_s:.2f} s of server CPU"
    )
    print(
        f"{args.calls} data calls, {args.concurrency} concurrent, server on 1 core: "
        f"{args.calls / elapsed_s:.0f} calls/s wall-clock ({failures} non-zero statuses)"
    )
    # On a shared machine the wall-clock rate depends on the neighbours; CPU time does not.
    print(
        f"server CPU per call: {1000 * server_cpu_s / args.calls:.2f} ms "
        f"= {args.calls / server_cpu_s:.0f} calls per CPU-second"
    )


if __name__ == "__main__":
    main()
