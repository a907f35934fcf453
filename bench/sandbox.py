"""Benchmark the Withings sandbox: start-up with 100 users, then data calls per second on one core.

Starts `rookery sandbox` (the real command) in a subprocess pinned to one CPU core, links a user
over the consent page, and drives a fixed number of data calls from this process, pinned to
another core, over keep-alive HTTP/1.1 connections on loopback. The load generator writes raw
requests and reads raw responses so that it costs far less CPU per call than the server and the
figure is the server's. Reproducible (fixed seed and call mix), bounded (a fixed call count and a
deadline) and stops the server by itself. Prints a table and writes bench/results/sandbox.json.

    .venv/bin/python bench/sandbox.py [--users 100] [--calls 5000] [--concurrency 8]

On a shared machine the wall-clock rate depends on the neighbours (the table shows the load
average); server CPU-seconds per call do not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2

from rookery.config import DEFAULT_WITHINGS_CLIENT_ID, DEFAULT_WITHINGS_CLIENT_SECRET

GOAL_CALLS_PER_S: Final = 500
GOAL_STARTUP_S: Final = 2.0
ROOKERY: Final = Path(sys.executable).with_name("rookery")
RESULTS: Final = Path(__file__).resolve().parent / "results" / "sandbox.json"
REDIRECT_URI: Final = "http://127.0.0.1:9/cb"
SCOPES: Final = "user.metrics,user.activity"
# The call mix: (path, params) over the usual incremental-sync calls of one linked user.
CALLS: Final = (
    ("/measure", {"action": "getmeas", "lastupdate": "0"}),
    ("/v2/measure", {"action": "getactivity", "lastupdate": "0"}),
    ("/v2/measure", {"action": "getworkouts", "lastupdate": "0"}),
    ("/v2/sleep", {"action": "getsummary", "lastupdate": "0"}),
    ("/v2/user", {"action": "getdevice"}),
)
_OK_PREFIX: Final = b'{"status":0,'


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


def _wait_ready(base_url: str, started: float, deadline_s: float) -> float:
    """Seconds from `started` to the first answer; polls with pauses so as not to steal CPU."""
    while time.monotonic() - started < deadline_s:
        try:
            if httpx2.get(f"{base_url}/_sandbox/clock", timeout=0.5).status_code == 200:
                return time.monotonic() - started
        except httpx2.TransportError:
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


def _requests(port: int, token: str) -> list[bytes]:
    """The raw HTTP/1.1 requests of the call mix, ready to write."""
    raw = []
    for path, params in CALLS:
        body = urlencode(params).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {token}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        raw.append(head.encode() + body)
    return raw


async def read_response(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"unexpected answer: {head[:40]!r}")
    return await reader.readexactly(length)


async def _load(port: int, token: str, calls: int, concurrency: int) -> tuple[float, int]:
    requests = _requests(port, token)
    counter = iter(range(calls))
    failures = 0

    async def worker() -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for index in counter:
                writer.write(requests[index % len(requests)])
                body = await read_response(reader)
                if not body.startswith(_OK_PREFIX):
                    failures += 1
        finally:
            writer.close()
            await writer.wait_closed()

    started = time.perf_counter()
    async with asyncio.timeout(300):
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, failures


def _pin(pid: int, core: int) -> bool:
    if not hasattr(os, "sched_setaffinity") or core >= (os.cpu_count() or 1):
        return False
    os.sched_setaffinity(pid, {core})
    return True


def main() -> None:
    """Run the benchmark, print its table and write its JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--core", type=int, default=0, help="CPU core the server is pinned to")
    parser.add_argument("--load-core", type=int, default=1, help="CPU core of the load generator")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [str(ROOKERY), "sandbox", "--users", str(args.users), "--port", str(port)]
    command += ["--seed", "1", "--speed", "0", "--rate-limit", "100000000"]
    load_pinned = _pin(0, args.load_core)
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    try:
        server_pinned = _pin(server.pid, args.core)
        startup_s = _wait_ready(base_url, started, 60)
        startup_cpu_s = _cpu_s(server.pid)
        users = httpx2.get(f"{base_url}/_sandbox/users").json()["users"]
        token = _link(base_url, users[0]["userid"])
        cpu_before_s = _cpu_s(server.pid)
        elapsed_s, failures = asyncio.run(_load(port, token, args.calls, args.concurrency))
        server_cpu_s = _cpu_s(server.pid) - cpu_before_s
    finally:
        server.terminate()
        server.wait(timeout=10)
    figures: dict[str, Any] = {
        "users": args.users,
        "history_days": 90,
        "startup_wall_s": round(startup_s, 3),
        "startup_server_cpu_s": round(startup_cpu_s, 3),
        "calls": args.calls,
        "concurrency": args.concurrency,
        "non_zero_statuses": failures,
        "calls_per_s_wall": round(args.calls / elapsed_s, 1),
        "server_cpu_ms_per_call": round(1000 * server_cpu_s / args.calls, 3),
        "calls_per_server_cpu_s": round(args.calls / server_cpu_s, 1) if server_cpu_s else None,
        "server_pinned_core": args.core if server_pinned else None,
        "load_pinned_core": args.load_core if load_pinned else None,
        "load_average_1m_before": round(load_before, 2),
        "load_average_1m_after": round(os.getloadavg()[0], 2),
        "goal_calls_per_s": GOAL_CALLS_PER_S,
        "goal_startup_s": GOAL_STARTUP_S,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2) + "\n")
    rows = [
        ("start-up, process start to first answer", f"{startup_s:.2f} s", f"< {GOAL_STARTUP_S} s"),
        ("start-up server CPU", f"{startup_cpu_s:.2f} s", ""),
        ("data calls per second (wall-clock)", f"{args.calls / elapsed_s:.0f}", "≥ 500"),
        ("server CPU per call", f"{1000 * server_cpu_s / args.calls:.3f} ms", ""),
        ("calls per server CPU-second", f"{figures['calls_per_server_cpu_s']}", "≥ 500"),
        ("non-zero statuses", str(failures), "0"),
        ("load average (1 min) before / after", f"{load_before:.2f} / "
         f"{figures['load_average_1m_after']:.2f}", "quiet ≈ 0"),
    ]  # fmt: skip
    width = max(len(name) for name, _, _ in rows)
    print(f"sandbox: {args.users} users, {args.calls} calls, {args.concurrency} connections")
    for name, value, goal in rows:
        print(f"  {name:<{width}}  {value:>12}  {goal}")
    print(f"  written to {args.output}")


if __name__ == "__main__":
    main()
