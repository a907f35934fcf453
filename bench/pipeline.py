"""Benchmark the pipeline end to end: Withings notification → signed webhook, on loopback.

Runs the parts as production does, each its own process: `rookery sandbox` (clock frozen, so
live mode adds nothing and the run is reproducible), `rookery serve` (on SQLite with its
embedded worker and sender; on PostgreSQL with `--no-worker` and `--workers` separate `rookery
worker` processes), a webhook receiver (this file, `receiver` role), and this process as the
load generator. It creates a client through `rookery client create`, links `--users` sandbox
accounts through the real consent flow, then, open loop at `--rate` a second for `--seconds`,
adds one record per notification through the sandbox's control endpoint, which stores it and
POSTs Withings' notification to Rookery (`/withings/notify`) before answering:

* `measure` (appli 1): a weigh-in with a unique weight;
* `activity` (appli 16): a workout with a unique step count;
* `sleep` (appli 44): a night with a unique total sleep time;

each user's workouts and nights 3 days apart going back, so that no fetch window holds one
fetched before (weigh-ins: one second apart).

Latency runs from the moment the load generator sends the control request (before the sandbox
notifies, so it is never flattering) to the webhook's arrival at the receiver, matched by the
record's identity (structure, user, unique value). Withings calls per notification come from the
sandbox's call log, per domain, as a ratio to the fewest each notification needs. At the end it
notes each process's resident memory (/proc) and the rows and bytes the run left in the
database. Stops by itself (a drain deadline), stops every process it started, and writes
bench/results/pipeline.json. `start_deployment` is shared with bench/backfill.py.

    .venv/bin/python bench/pipeline.py [--users 20] [--rate 50] [--seconds 20] [--seed 1]
        [--mix measure=0.6,activity=0.2,sleep=0.2] [--database sqlite|postgresql]
        [--workers 1] [--postgres-url postgresql://postgres@127.0.0.1:5432/postgres]
        [--profile DIR] [--keep] [--output bench/results/pipeline.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx2

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "pipeline.json"
PYTHON = sys.executable
ROOKERY = str(Path(PYTHON).parent / "rookery")
# Far above the load: the bench measures the pipeline, not the limiters.
UNLIMITED_PER_MINUTE = 1_000_000
DRAIN_S = 30.0
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

# The fewest Withings calls one notification of each kind needs (what the issue names).
FEWEST = {"measure": 1, "activity": 2, "sleep": 2}
APPLI = {"measure": 1, "activity": 16, "sleep": 44}
# Unique values per notification: weight (g), workout steps, total sleep time (s).
BASE_VALUE = {"measure": 40_000, "activity": 500_000, "sleep": 20_000}
STRUCTURE = {
    "measure": "body_metrics_event",
    "activity": "activity_event",
    "sleep": "sleep_summary",
}
# Which call-log entries belong to which kind's domain.
DOMAIN_CALLS = {
    ("/measure", "getmeas"): "measure",
    ("/v2/measure", "getactivity"): "activity",
    ("/v2/measure", "getworkouts"): "activity",
    ("/v2/sleep", "getsummary"): "sleep",
    ("/v2/sleep", "get"): "sleep",
}
# Workouts and nights of one user go back from this many days ago, this many days apart, so
# that no fetch window (a date, or a night widened by a day each way) holds another one.
SPREAD_FIRST_DAYS_AGO = 5
SPREAD_SPACING_DAYS = 3
SLEEP_MONITOR_MODEL = 32


# ----------------------------------------------------------------------------- identity


def _find(node: Any, key: str) -> Iterator[Any]:
    if isinstance(node, dict):
        for name, value in node.items():
            if name == key:
                yield value
            else:
                yield from _find(value, key)
    elif isinstance(node, list):
        for item in node:
            yield from _find(item, key)


def identities(document: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(kind, user_id, unique value) of every bench record a delivered document carries."""
    structure = document.get("data_structure")
    user_id = str(document.get("user_id") or next(_find(document, "user_id_string"), ""))
    found: list[tuple[str, str, int]] = []
    if structure == STRUCTURE["measure"]:
        for weight in _find(document, "weight_kg_float"):
            if isinstance(weight, int | float):
                found.append(("measure", user_id, round(weight * 1000)))
    elif structure == STRUCTURE["activity"]:
        for steps in _find(document, "steps_int"):
            if isinstance(steps, int):
                found.append(("activity", user_id, steps))
    elif structure == STRUCTURE["sleep"]:
        for duration in _find(document, "sleep_duration_seconds_int"):
            if isinstance(duration, int):
                found.append(("sleep", user_id, duration))
    return found


# ----------------------------------------------------------------------------- receiver


class ReceiverApp:
    """The webhook receiver: notes the arrival instant (monotonic, system-wide on Linux) and
    the identities of each data webhook; `GET /arrivals?since=N` lists them from N on."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, str, str, int, int]] = []
        self.posts = Counter[str]()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": message["type"] + ".complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        at = time.monotonic()
        answer = b""
        if scope["method"] == "POST":
            self.posts[scope["path"]] += 1
            if scope["path"] == "/data" and any(
                name.lower() == b"x-rook-hash" for name, _ in scope["headers"]
            ):
                document = json.loads(body)
                version = int(document.get("document_version") or 0)
                for kind, user_id, value in identities(document):
                    self.arrivals.append((at, kind, user_id, value, version))
        elif scope["path"] == "/arrivals":
            since = int(parse_qs(scope["query_string"].decode()).get("since", ["0"])[0])
            answer = json.dumps(
                {"arrivals": self.arrivals[since:], "posts": dict(self.posts)}
            ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": answer})


def run_receiver(port: int) -> None:
    """The receiver process's body."""
    import uvicorn

    uvicorn.run(ReceiverApp(), host="127.0.0.1", port=port, log_level="warning", ws="none")


# ----------------------------------------------------------------------------- processes


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Processes:
    """The processes this run started; stopped (SIGINT, then SIGKILL) in reverse order."""

    folder: Path
    started: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.folder / f"{name}.log").open("wb")
        process = subprocess.Popen(
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.started.append((name, process))
        return process

    def check(self) -> None:
        for name, process in self.started:
            if process.poll() is not None:
                tail = (self.folder / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail}")

    def cpu_s(self) -> dict[str, float]:
        """CPU seconds (user + system) each running process has used so far."""
        ticks = os.sysconf("SC_CLK_TCK")
        used: dict[str, float] = {}
        for name, process in self.started:
            try:
                fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            used[name] = (int(fields[11]) + int(fields[12])) / ticks
        return used

    def resident_mb(self) -> dict[str, dict[str, float]]:
        """Resident memory of each running process, now and at its peak (MB, Linux /proc)."""
        memory: dict[str, dict[str, float]] = {}
        for name, process in self.started:
            try:
                status = Path(f"/proc/{process.pid}/status").read_text()
            except OSError:
                continue
            kilobytes = {
                key: int(value.split()[0])
                for key, _, value in (line.partition(":") for line in status.splitlines())
                if key in ("VmRSS", "VmHWM")
            }
            if kilobytes:
                memory[name] = {
                    "rss": round(kilobytes.get("VmRSS", 0) / 1024, 1),
                    "peak": round(kilobytes.get("VmHWM", 0) / 1024, 1),
                }
        return memory

    def stop(self) -> None:
        for _, process in reversed(self.started):
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for _, process in reversed(self.started):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _command(argv: list[str], env: dict[str, str]) -> str:
    """Run a one-shot command; its output, or a clear error with what it said."""
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[1:3])} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def _wait_http(url: str, processes: Processes) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        processes.check()
        try:
            if httpx2.get(url, timeout=2).status_code < 500:
                return
        except httpx2.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {START_TIMEOUT_S:g} s")
        time.sleep(0.1)


@contextmanager
def _database(kind: str, postgres_url: str, folder: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'rookery.db'}"
        return
    import psycopg

    name = f"rookery_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield str(httpx2.URL(postgres_url).copy_with(path=f"/{name}"))
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ----------------------------------------------------------------------------- set-up


@dataclass
class Stack:
    """Handles on the running deployment."""

    sandbox_url: str
    rookery_url: str
    receiver_url: str
    database_url: str
    auth: tuple[str, str]
    http: httpx2.Client

    def control(self, method: str, endpoint: str, /, **body: Any) -> Any:
        response = self.http.request(
            method, f"{self.sandbox_url}/_sandbox/{endpoint}", json=body or None
        )
        response.raise_for_status()
        return response.json()

    def link(self, user_id: str, withings_userid: int) -> None:
        """The real consent flow: Rookery's authorizer, the sandbox's form, the callback."""
        answer = self.http.get(
            f"{self.rookery_url}/api/v1/user_id/{user_id}/data_source/Withings/authorizer",
            auth=self.auth,
        )
        answer.raise_for_status()
        consent = urlsplit(answer.json()["authorization_url"])
        query = {key: values[0] for key, values in parse_qs(consent.query).items()}
        form: dict[str, Any] = {
            **query,
            "userid": str(withings_userid),
            "decision": "allow",
            "granted": query["scope"].split(","),
        }
        decided = self.http.post(f"{self.sandbox_url}{consent.path}", data=form)
        if decided.status_code != 302:
            raise RuntimeError(f"consent refused: {decided.status_code} {decided.text[:300]}")
        landed = self.http.get(decided.headers["location"])
        if "result=connected" not in landed.headers.get("location", ""):
            raise RuntimeError(f"linking failed: {landed.status_code} {landed.text[:300]}")


@dataclass(frozen=True)
class Deployment:
    """What a run starts: the database, the workers, the sandbox's population and clock, and
    Rookery's Withings rate limit and backfill (by default far above the load, and none)."""

    database: str
    postgres_url: str
    workers: int
    users: int
    seed: int
    history_days: int = 2
    sandbox_speed: float = 0.0
    rate_limit_per_minute: int = UNLIMITED_PER_MINUTE
    backfill_days: int = 0
    profile: Path | None = None


def start_deployment(deployment: Deployment, processes: Processes, cleanup: ExitStack) -> Stack:
    """Start the sandbox, the receiver, `rookery serve` and its workers on a new database,
    create a client whose webhooks go to the receiver, and enable Withings for it. Everything
    started is stopped, and the database dropped, when `cleanup` closes."""
    folder = processes.folder
    database_url = cleanup.enter_context(
        _database(deployment.database, deployment.postgres_url, folder)
    )
    sandbox_port, rookery_port, receiver_port = _free_port(), _free_port(), _free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    rookery_url = f"http://127.0.0.1:{rookery_port}"
    receiver_url = f"http://127.0.0.1:{receiver_port}"
    from rookery.store.crypto import generate_key

    env = {
        **os.environ,
        "ROOKERY_DATABASE_URL": database_url,
        "ROOKERY_ENCRYPTION_KEYS": generate_key(),
        "ROOKERY_DATA_DIR": str(folder / "data"),
        "ROOKERY_PUBLIC_URL": rookery_url,
        "ROOKERY_WITHINGS_API_URL": sandbox_url,
        "ROOKERY_WITHINGS_AUTHORIZE_URL": f"{sandbox_url}/oauth2_user/authorize2",
        "ROOKERY_WITHINGS_RATE_LIMIT_PER_MINUTE": str(deployment.rate_limit_per_minute),
        "ROOKERY_BACKFILL_DAYS": str(deployment.backfill_days),
    }
    processes.start(
        "sandbox",
        [
            ROOKERY, "sandbox", "--port", str(sandbox_port), "--users", str(deployment.users),
            "--seed", str(deployment.seed), "--history-days", str(deployment.history_days),
            "--speed", str(deployment.sandbox_speed),
            "--rate-limit", str(deployment.rate_limit_per_minute),
        ],
        env,
    )  # fmt: skip
    processes.start("receiver", [PYTHON, __file__, "receiver", str(receiver_port)], env)
    _command([ROOKERY, "db", "upgrade"], env)
    created = _command(
        [
            ROOKERY, "client", "create", "--name", "bench", "--json",
            "--webhook-url", f"{receiver_url}/data",
            "--notification-webhook-url", f"{receiver_url}/events",
        ],
        env,
    )  # fmt: skip
    client = json.loads(created)
    serve = [ROOKERY, "serve", "--port", str(rookery_port)]
    if deployment.profile is not None:
        deployment.profile.mkdir(parents=True, exist_ok=True)
        serve = [PYTHON, "-m", "cProfile", "-o", str(deployment.profile / "serve.prof"), *serve]
    if deployment.database == "postgresql":
        serve.append("--no-worker")
    processes.start("serve", serve, env)
    for number in range(deployment.workers if deployment.database == "postgresql" else 0):
        processes.start(f"worker-{number}", [ROOKERY, "worker"], env)
    for url in (f"{sandbox_url}/_sandbox/clock", f"{receiver_url}/arrivals", rookery_url):
        _wait_http(url, processes)
    http = cleanup.enter_context(httpx2.Client(timeout=30))
    stack = Stack(
        sandbox_url, rookery_url, receiver_url, database_url,
        (client["client_uuid"], client["secret_key"]), http,
    )  # fmt: skip
    http.put(
        f"{rookery_url}/api/v1/client/data_sources/Withings",
        json={"enabled": True},
        auth=stack.auth,
    ).raise_for_status()
    return stack


async def _busy(database_url: str) -> int:
    """Fetches queued or running and deliveries not yet sent (the harness's notion of quiet)."""
    from rookery.pipeline.status import work_due
    from rookery.store.engine import create_engine, session_factory

    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            return await work_due(session)
    finally:
        await engine.dispose()


async def _outcomes(database_url: str) -> dict[str, Any]:
    """Job and delivery counts by state, the notifications stored, and the rows and bytes the
    run left in the database (what docs/scaling.md's storage model is built from)."""
    from sqlalchemy import func, select, text
    from sqlalchemy.engine import make_url

    from rookery.store.engine import create_engine, session_factory
    from rookery.store.tables import Delivery, Document, Job, RawExchange, WithingsNotification

    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            jobs = await session.execute(
                select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status)
            )
            deliveries = await session.execute(
                select(Delivery.status, func.count()).group_by(Delivery.status)
            )
            stored = await session.scalar(select(func.count()).select_from(WithingsNotification))
            rows = {
                table.__tablename__: int(
                    await session.scalar(select(func.count()).select_from(table)) or 0
                )
                for table in (Document, Delivery, RawExchange, WithingsNotification, Job)
            }
            table_bytes: dict[str, int] = {}
            if engine.dialect.name == "postgresql":
                size = await session.scalar(text("SELECT pg_database_size(current_database())"))
                for name in (*rows, "delivery_attempts"):
                    table_bytes[name] = int(
                        await session.scalar(
                            text("SELECT pg_total_relation_size(CAST(:name AS regclass))"),
                            {"name": name},
                        )
                        or 0
                    )
            else:
                path = Path(str(make_url(database_url).database))
                size = sum(
                    file.stat().st_size for file in (path, Path(f"{path}-wal")) if file.exists()
                )
        return {
            "jobs": {f"{kind}:{status}": int(n) for kind, status, n in jobs},
            "deliveries": {str(status): int(n) for status, n in deliveries},
            "notifications_stored": int(stored or 0),
            "rows": rows,
            "database_bytes": int(size or 0),
            "table_bytes_with_indexes": table_bytes,
        }
    finally:
        await engine.dispose()


def _settle(stack: Stack, processes: Processes, *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while asyncio.run(_busy(stack.database_url)):
        processes.check()
        if time.monotonic() > deadline:
            raise RuntimeError(f"the deployment was not quiet within {timeout_s:g} s")
        time.sleep(0.2)


# ----------------------------------------------------------------------------- load


@dataclass(frozen=True)
class Planned:
    """One notification to cause: which kind, for whom, with which unique value."""

    index: int
    kind: str
    userid: int
    user_id: str
    value: int
    record: dict[str, Any]


def _parse_mix(text: str) -> dict[str, float]:
    mix: dict[str, float] = {}
    for part in text.split(","):
        name, _, share = part.partition("=")
        if name.strip() not in FEWEST:
            raise SystemExit(f"--mix: unknown kind {name!r} (one of {', '.join(FEWEST)})")
        mix[name.strip()] = float(share)
    if not mix or any(share < 0 for share in mix.values()) or sum(mix.values()) <= 0:
        raise SystemExit("--mix needs positive shares")
    return mix


def plan_load(
    *,
    accounts: list[dict[str, Any]],
    user_ids: dict[int, str],
    mix: dict[str, float],
    total: int,
    seed: int,
    now_s: int,
) -> list[Planned]:
    """The notifications of the run, drawn from `seed` (the same seed, the same run)."""
    chooser = random.Random(seed)
    kinds = list(mix)
    weights = [mix[kind] for kind in kinds]
    nights = Counter[int]()
    workouts = Counter[int]()
    planned: list[Planned] = []
    for index in range(total):
        kind = chooser.choices(kinds, weights)[0]
        account = chooser.choice(accounts)
        userid = int(account["userid"])
        tz = ZoneInfo(account["timezone"])
        value = BASE_VALUE[kind] + index
        record: dict[str, Any]
        if kind == "measure":
            # Each weigh-in its own second (the sandbox clock stands still), so that a
            # notification's window holds its own weigh-in, not every one of the run.
            record = {
                "date": now_s - total + index,
                "measures": [{"value": value, "type": 1, "unit": -3}],
            }
        elif kind == "activity":
            # Each workout on a day of its own, as a user records one or two a day.
            day = datetime.fromtimestamp(now_s, tz).date() - timedelta(
                days=SPREAD_FIRST_DAYS_AGO + SPREAD_SPACING_DAYS * workouts[userid]
            )
            workouts[userid] += 1
            start = datetime.combine(day, datetime.min.time(), tz) + timedelta(hours=18)
            record = {
                "category": 1,
                "startdate": int(start.timestamp()),
                "enddate": int(start.timestamp()) + 1800,
                "date": day.isoformat(),
                "data": {"steps": value, "distance": 1500, "calories": 90},
            }
        else:
            wake = datetime.fromtimestamp(now_s, tz).date() - timedelta(
                days=SPREAD_FIRST_DAYS_AGO + SPREAD_SPACING_DAYS * nights[userid]
            )
            nights[userid] += 1
            end = datetime.combine(wake, datetime.min.time(), tz) + timedelta(hours=7)
            start = end - timedelta(hours=8)
            record = {
                "startdate": int(start.timestamp()),
                "enddate": int(end.timestamp()),
                "date": wake.isoformat(),
                "model": SLEEP_MONITOR_MODEL,
                "data": {"total_sleep_time": value, "total_timeinbed": 8 * 3600},
            }
        planned.append(Planned(index, kind, userid, user_ids[userid], value, record))
    return planned


async def drive(
    sandbox_url: str, planned: list[Planned], *, rate: float
) -> tuple[dict[tuple[str, int], float], list[float], list[str]]:
    """Send the plan open loop (a slow answer never delays the next send). Returns (kind,
    value) → monotonic send instant, the control calls' durations, and errors."""
    kinds = {"measure": "measuregrps", "activity": "workouts", "sleep": "sleep_summaries"}
    sent: dict[tuple[str, int], float] = {}
    answered: list[float] = []
    errors: list[str] = []
    limits = httpx2.Limits(max_connections=len(planned) or 1, max_keepalive_connections=256)
    timeout = httpx2.Timeout(60.0, pool=None)

    async def one(item: Planned, http: httpx2.AsyncClient) -> None:
        started = time.monotonic()
        sent[(item.kind, item.value)] = started
        try:
            response = await http.post(
                f"/_sandbox/users/{item.userid}/records",
                json={"kind": kinds[item.kind], "record": item.record},
            )
            if response.status_code != 200:
                errors.append(f"control {response.status_code}: {response.text[:200]}")
        except httpx2.HTTPError as error:
            errors.append(f"control {type(error).__name__}: {error}")
        answered.append(time.monotonic() - started)

    async with httpx2.AsyncClient(base_url=sandbox_url, timeout=timeout, limits=limits) as http:
        started = time.monotonic()
        tasks: list[asyncio.Task[None]] = []
        for item in planned:
            due = started + item.index / rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            tasks.append(asyncio.create_task(one(item, http)))
        await asyncio.gather(*tasks)
    return sent, answered, errors


# ----------------------------------------------------------------------------- report


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return round(ordered[index], 4)


def _loadavg() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def main() -> None:
    """Run the benchmark (see the module docstring)."""
    if len(sys.argv) >= 3 and sys.argv[1] == "receiver":
        run_receiver(int(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mix", default="measure=0.6,activity=0.2,sleep=0.2")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--workers", type=int, default=1, help="rookery worker processes (PG)")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--profile", type=Path, help="cProfile rookery serve into this folder")
    parser.add_argument("--keep", action="store_true", help="keep the run's folder (logs)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where the JSON goes")
    args = parser.parse_args()
    if args.database == "sqlite" and args.workers != 1:
        parser.error("on SQLite the one worker runs inside `rookery serve` (--workers 1)")
    mix = _parse_mix(args.mix)
    folder = Path(tempfile.mkdtemp(prefix="rookery-bench-"))
    processes = Processes(folder)
    result: dict[str, Any] = {}
    with ExitStack() as stack_:
        if not args.keep:
            stack_.callback(shutil.rmtree, folder, ignore_errors=True)
        stack_.callback(processes.stop)
        deployment = Deployment(
            args.database, args.postgres_url, workers=args.workers, users=args.users,
            seed=args.seed, profile=args.profile,
        )  # fmt: skip
        stack = start_deployment(deployment, processes, stack_)
        sandbox_url, receiver_url = stack.sandbox_url, stack.receiver_url
        database_url, http = stack.database_url, stack.http
        accounts = stack.control("GET", "users")["users"]
        user_ids = {int(a["userid"]): f"bench-{n}" for n, a in enumerate(accounts)}
        for account in accounts:
            stack.link(user_ids[int(account["userid"])], int(account["userid"]))
        _settle(stack, processes, timeout_s=120)
        now_s = int(stack.control("GET", "clock")["now"])
        from rookery.config import DEFAULT_WITHINGS_CLIENT_ID

        client_id = DEFAULT_WITHINGS_CLIENT_ID
        calls_before = len(stack.control("GET", f"calls?client_id={client_id}")["calls"])
        arrivals_before = len(http.get(f"{receiver_url}/arrivals").json()["arrivals"])
        planned = plan_load(
            accounts=accounts,
            user_ids=user_ids,
            mix=mix,
            total=int(args.rate * args.seconds),
            seed=args.seed,
            now_s=now_s,
        )
        load_before = _loadavg()
        cpu_before = processes.cpu_s()
        run_started = time.monotonic()
        sent, answered, errors = asyncio.run(drive(sandbox_url, planned, rate=args.rate))
        load_during = _loadavg()
        uptime_during = _uptime()
        by_key = {(p.kind, p.value): p for p in planned}
        arrivals: dict[tuple[str, int], float] = {}
        mismatched = 0
        deadline = time.monotonic() + DRAIN_S
        while time.monotonic() < deadline and len(arrivals) < len(sent):
            received = http.get(f"{receiver_url}/arrivals", params={"since": arrivals_before})
            for at, kind, user_id, value, _version in received.json()["arrivals"]:
                item = by_key.get((kind, value))
                if item is None:
                    continue
                if item.user_id != user_id:
                    mismatched += 1
                    continue
                arrivals.setdefault((kind, value), at)
            time.sleep(0.2)
        drained_s = time.monotonic() - run_started
        cpu_after = processes.cpu_s()
        calls = stack.control("GET", f"calls?client_id={client_id}")["calls"][calls_before:]
        deliveries = stack.control("GET", "deliveries")["deliveries"]
        outcomes = asyncio.run(_outcomes(database_url))
        memory = processes.resident_mb()
        posts = http.get(f"{receiver_url}/arrivals", params={"since": 0}).json()["posts"]
        uptime_after = _uptime()
    latencies = [arrivals[key] - sent[key] for key in arrivals]
    span = max(arrivals.values()) - min(sent.values()) if arrivals else float("nan")
    domain_calls = Counter(DOMAIN_CALLS.get((c["path"], c["action"]), "other") for c in calls)
    sent_by_kind = Counter(p.kind for p in planned)
    per_kind: dict[str, Any] = {}
    for kind in FEWEST:
        if not sent_by_kind[kind]:
            continue
        kind_latencies = [arrivals[k] - sent[k] for k in arrivals if k[0] == kind]
        per_kind[kind] = {
            "appli": APPLI[kind],
            "notifications": sent_by_kind[kind],
            "delivered": len(kind_latencies),
            "latency_p50_s": _percentile(kind_latencies, 0.5),
            "latency_p99_s": _percentile(kind_latencies, 0.99),
            "withings_calls": domain_calls[kind],
            "calls_per_notification": round(domain_calls[kind] / sent_by_kind[kind], 4),
            "fewest_per_notification": FEWEST[kind],
            "calls_ratio_to_fewest": round(
                domain_calls[kind] / (sent_by_kind[kind] * FEWEST[kind]), 4
            ),
        }
    fewest_total = sum(sent_by_kind[kind] * FEWEST[kind] for kind in sent_by_kind)
    data_calls = sum(n for kind, n in domain_calls.items() if kind != "other")
    failed_notifications = sum(1 for d in deliveries if d["state"] != "delivered")
    result = {
        "command": "python bench/pipeline.py " + " ".join(sys.argv[1:]),
        "database": args.database,
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "users": args.users,
        "rate_per_s": args.rate,
        "seconds": args.seconds,
        "seed": args.seed,
        "mix": mix,
        "notifications": len(sent),
        "delivered": len(arrivals),
        "lost": len(sent) - len(arrivals),
        "delivered_over_sent": round(len(arrivals) / len(sent), 4) if sent else None,
        "latency_p50_s": _percentile(latencies, 0.5),
        "latency_p95_s": _percentile(latencies, 0.95),
        "latency_p99_s": _percentile(latencies, 0.99),
        "latency_max_s": _percentile(latencies, 1.0),
        "throughput_per_s": round(len(arrivals) / span, 2) if arrivals else None,
        "send_rate_achieved_per_s": round(len(sent) / (max(sent.values()) - min(sent.values())), 2)
        if len(sent) > 1
        else None,
        "notify_answer_p50_s": _percentile(answered, 0.5),
        "notify_answer_p99_s": _percentile(answered, 0.99),
        "withings_data_calls": data_calls,
        "withings_other_calls": domain_calls["other"],
        "calls_ratio_to_fewest": round(data_calls / fewest_total, 4) if fewest_total else None,
        "by_kind": per_kind,
        "errors": {
            "control_calls": len(errors),
            "control_examples": errors[:5],
            "notifications_not_acknowledged": failed_notifications,
            "identity_mismatches": mismatched,
            "webhook_posts": posts,
        },
        "rookery": outcomes,
        "cpu_s_during_run": {
            name: round(cpu_after[name] - cpu_before.get(name, 0.0), 2) for name in cpu_after
        },
        "cpu_ms_per_notification": {
            name: round(1000 * (cpu_after[name] - cpu_before.get(name, 0.0)) / len(sent), 2)
            for name in cpu_after
        }
        if sent
        else None,
        "resident_mb_at_end": memory,
        "load_average_before": load_before,
        "load_average_after_load": load_during,
        "uptime_during": uptime_during,
        "uptime_after": uptime_after,
        "drained_s": round(drained_s, 2),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    _print_table(result)
    if args.keep:
        print(f"logs in {folder}")


def _print_table(result: dict[str, Any]) -> None:
    flat = {k: v for k, v in result.items() if k not in ("by_kind", "errors", "rookery")}
    flat["resident_mb_at_end"] = {
        name: figures["rss"] for name, figures in result["resident_mb_at_end"].items()
    }
    width = max(len(key) for key in flat)
    for key, value in flat.items():
        print(f"{key:<{width}}  {value}")
    print()
    print(f"{'kind':<9}{'sent':>6}{'deliv':>7}{'p50 s':>8}{'p99 s':>8}{'calls':>7}{'ratio':>7}")
    for kind, row in result["by_kind"].items():
        print(
            f"{kind:<9}{row['notifications']:>6}{row['delivered']:>7}"
            f"{row['latency_p50_s'] or 0:>8.3f}{row['latency_p99_s'] or 0:>8.3f}"
            f"{row['withings_calls']:>7}{row['calls_ratio_to_fewest']:>7.3f}"
        )
    print()
    print("errors:", json.dumps(result["errors"]))
    print("rookery:", json.dumps(result["rookery"]))


if __name__ == "__main__":
    main()
