"""Benchmark the query API over many stored documents: `GET /v2/processed_data/sleep_health/summary`
against a trivial endpoint (`GET /healthz`) of the same server.

Fills a database (SQLite or PostgreSQL) with `--documents` real ROOK documents: the captured
Withings responses of /work/shared/fixtures/withings-captured, transformed by Rookery's own
transforms, spread over users and their local days (each user-day holds one document of each of
`PER_DAY`'s structures), written into the real tables (`rookery.store.tables`) in bulk: SQLAlchemy
Core executemany on SQLite, COPY on PostgreSQL. The filled database is kept between runs, keyed
by the document count, the days per user and the schema revision (SQLite: a file under
bench/.cache/; PostgreSQL: a database named after them, with its credentials in bench/.cache/),
so a second run skips the fill; `--refill` forces it.

Then it starts a real `rookery serve --no-worker` on that database and loads it with a small
asyncio client (raw HTTP/1.1 over keep-alive connections, so that the client costs little next
to the server; `--concurrency` connections, closed loop): `--requests` requests per endpoint and
round, each summary request for a random existing (user, date) drawn from `--seed`, alternating
the two endpoints for `--rounds` rounds so that a neighbour's load falls on both alike. Reports
requests per second, p50/p99 latency, the ratio of the two rates (goal ≥ 0.6), the server's CPU
per request, the fill time and the server's resident memory at the end; writes JSON to
bench/results/query-<database>.json.

    .venv/bin/python bench/query.py [--database sqlite|postgresql] [--documents 1000000]
        [--days 365] [--requests 2000] [--rounds 2] [--concurrency 8] [--seed 1] [--refill]
        [--cache DIR] [--profile DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any, Final

import httpx2
from sqlalchemy import Connection, insert, update
from sqlalchemy import create_engine as create_sync_engine

from pipeline import (
    DEFAULT_POSTGRES_URL,
    PYTHON,
    ROOKERY,
    Processes,
    _command,
    _free_port,
    _loadavg,
    _percentile,
    _wait_http,
)
from rookery.model.common import DataStructure, Pillar
from rookery.store.crypto import generate_key
from rookery.store.documents import reference_datetime
from rookery.store.tables import Document, DocumentChangeCounter, User
from rookery.transform.context import UserContext
from rookery.transform.dispatch import transform_response
from rookery.withings.responses import Endpoint
from sandbox import read_response
from transform import DEFAULT_FIXTURES, WORKLOADS, Workload

ROOT: Final = Path(__file__).resolve().parent.parent
CACHE: Final = ROOT / "bench" / ".cache"
GOAL_RATIO: Final = 0.6
SUMMARY_PATH: Final = "/v2/processed_data/sleep_health/summary"
TRIVIAL_PATH: Final = "/healthz"
# Bump when the fill changes, so that a cached database made the old way is not reused.
FILL_VERSION: Final = 1
BATCH_ROWS: Final = 20_000
# Distinct real documents per structure the fill cycles through (sizes vary as in real data).
VARIANTS: Final = 24
# Placeholders in the template documents, replaced by each row's own client and user.
TEMPLATE_CLIENT: Final = "00000000-0000-4000-8000-00000000beef"
TEMPLATE_USER: Final = "rookery-bench-template-user"
# The captured responses the documents come from, and the structures each user-day holds.
SOURCES: Final = (
    *WORKLOADS,
    Workload("activity days", Endpoint.GETACTIVITY, "activity.json"),
)
PER_DAY: Final = (
    DataStructure.SLEEP_SUMMARY,
    DataStructure.PHYSICAL_SUMMARY,
    DataStructure.BODY_SUMMARY,
    DataStructure.BODY_METRICS_EVENT,
    DataStructure.HEART_RATE_EVENT,
)
# Every row of the fill carries these instants (they play no part in the lookup).
FILLED_AT: Final = datetime(2026, 1, 1, tzinfo=UTC)


# ----------------------------------------------------------------------------- documents


@dataclass(frozen=True, slots=True)
class Template:
    """A real document of one structure: its stored JSON with placeholder client and user."""

    pillar: Pillar
    data_structure: DataStructure
    body_json: str
    datetime_string: str | None


def load_templates(fixtures: Path) -> dict[DataStructure, list[Template]]:
    """Up to `VARIANTS` real documents of each structure of `PER_DAY`, as Rookery stores them."""
    ctx = UserContext(client_uuid=TEMPLATE_CLIENT, user_id=TEMPLATE_USER)
    found: dict[DataStructure, list[Template]] = {structure: [] for structure in PER_DAY}
    for workload in SOURCES:
        for produced in transform_response(workload.endpoint, workload.load(fixtures), ctx):
            structure = produced.identity.data_structure
            if structure not in found or len(found[structure]) >= VARIANTS:
                continue
            document = produced.document.model_copy(update={"document_version": 1})
            found[structure].append(
                Template(
                    pillar=produced.identity.pillar,
                    data_structure=structure,
                    body_json=document.model_dump_json(),
                    datetime_string=reference_datetime(document),
                )
            )
    missing = [str(structure) for structure, variants in found.items() if not variants]
    if missing:
        raise SystemExit(f"the fixtures in {fixtures} give no {', '.join(missing)} document")
    return found


@dataclass(frozen=True, slots=True)
class Shape:
    """How the documents spread: users × days × `PER_DAY` structures, ending yesterday."""

    documents: int
    days: int

    @property
    def users(self) -> int:
        return -(-self.documents // (self.days * len(PER_DAY)))

    @property
    def first_date(self) -> date:
        return date.today() - timedelta(days=self.days)

    def user_id(self, number: int) -> str:
        return f"bench-{number}"


def user_pk(number: int) -> uuid.UUID:
    """A stable primary key per user number (the fill is reproducible)."""
    return uuid.UUID(int=(0xB0 << 120) | number, version=4)


def document_rows(
    shape: Shape, client_id: uuid.UUID, templates: Mapping[DataStructure, list[Template]]
) -> Iterator[dict[str, Any]]:
    """The `documents` rows of the fill, `shape.documents` of them, user by user, day by day."""
    made = 0
    client = str(client_id)
    for number in range(shape.users):
        user = shape.user_id(number)
        pk = user_pk(number)
        for offset in range(shape.days):
            local_date = shape.first_date + timedelta(days=offset)
            for position, structure in enumerate(PER_DAY):
                if made == shape.documents:
                    return
                variants = templates[structure]
                template = variants[(number + offset + position) % len(variants)]
                made += 1
                yield {
                    "client_id": client_id,
                    "user_pk": pk,
                    "pillar": template.pillar,
                    "data_structure": structure,
                    "source_key": local_date.isoformat(),
                    "local_date": local_date,
                    "document_version": 1,
                    "fingerprint": f"{made:064x}",
                    "body_json": template.body_json.replace(TEMPLATE_CLIENT, client).replace(
                        TEMPLATE_USER, user
                    ),
                    "datetime_string": template.datetime_string,
                    "occurred_at": None
                    if template.datetime_string is None
                    else datetime.fromisoformat(template.datetime_string),
                    "change_seq": made,
                    "created_at": FILLED_AT,
                    "updated_at": FILLED_AT,
                }


def user_rows(shape: Shape, client_id: uuid.UUID) -> list[dict[str, Any]]:
    return [
        {
            "id": user_pk(number),
            "client_id": client_id,
            "user_id": shape.user_id(number),
            "created_at": FILLED_AT,
        }
        for number in range(shape.users)
    ]


# ----------------------------------------------------------------------------- fill


@dataclass(frozen=True, slots=True)
class Filled:
    """A filled database and what it takes to use it (kept beside it in bench/.cache/)."""

    database_url: str
    encryption_key: str
    client_uuid: str
    secret_key: str
    documents: int
    users: int
    first_date: str
    days: int
    fill_s: float


def schema_revision() -> str:
    """A short digest of the migrations' heads: a cached database made for another schema
    is not reused."""
    from alembic.script import ScriptDirectory

    from rookery.store.migrate import alembic_config

    heads = sorted(ScriptDirectory.from_config(alembic_config()).get_heads())
    return hashlib.sha256(",".join(heads).encode()).hexdigest()[:8]


def _progress(done: int, total: int, started: float) -> None:
    elapsed = time.monotonic() - started
    print(
        f"  filled {done:,}/{total:,} documents in {elapsed:.0f} s "
        f"({done / max(elapsed, 1e-9):,.0f}/s)",
        flush=True,
    )


def _fill_sqlite(database_url: str, shape: Shape, client_id: uuid.UUID) -> None:
    templates = load_templates(DEFAULT_FIXTURES)
    engine = create_sync_engine(database_url)
    started = time.monotonic()
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("PRAGMA synchronous=OFF")
            connection.execute(insert(User), user_rows(shape, client_id))
            batch: list[dict[str, Any]] = []
            done = 0
            for row in document_rows(shape, client_id, templates):
                batch.append(row)
                if len(batch) == BATCH_ROWS:
                    connection.execute(insert(Document), batch)
                    done += len(batch)
                    batch.clear()
                    if done % (10 * BATCH_ROWS) == 0:
                        _progress(done, shape.documents, started)
            if batch:
                connection.execute(insert(Document), batch)
            _set_counter(connection, client_id, shape.documents)
        with engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()


def _set_counter(connection: Connection, client_id: uuid.UUID, last: int) -> None:
    """The client's change counter as the documents left it (the feed's clock)."""
    changed = connection.execute(
        update(DocumentChangeCounter)
        .where(DocumentChangeCounter.client_id == client_id)
        .values(last_change_seq=last)
    )
    if changed.rowcount == 0:
        connection.execute(
            insert(DocumentChangeCounter).values(client_id=client_id, last_change_seq=last)
        )


def _fill_postgresql(database_url: str, shape: Shape, client_id: uuid.UUID) -> None:
    import psycopg

    templates = load_templates(DEFAULT_FIXTURES)
    columns = [column.name for column in Document.__table__.columns if column.name != "id"]
    user_columns = [column.name for column in User.__table__.columns]
    started = time.monotonic()
    with psycopg.connect(database_url) as connection:
        with connection.cursor() as cursor:
            with cursor.copy(f"COPY users ({', '.join(user_columns)}) FROM STDIN") as copy:
                for user in user_rows(shape, client_id):
                    copy.write_row([user[name] for name in user_columns])
            done = 0
            with cursor.copy(f"COPY documents ({', '.join(columns)}) FROM STDIN") as copy:
                for row in document_rows(shape, client_id, templates):
                    copy.write_row([_copy_value(row[name]) for name in columns])
                    done += 1
                    if done % (10 * BATCH_ROWS) == 0:
                        _progress(done, shape.documents, started)
            cursor.execute(
                "INSERT INTO document_change_counters (client_id, last_change_seq) "
                "VALUES (%s, %s) ON CONFLICT (client_id) DO UPDATE "
                "SET last_change_seq = excluded.last_change_seq",
                (client_id, shape.documents),
            )
        connection.commit()
        connection.autocommit = True
        connection.execute("VACUUM ANALYZE")


def _copy_value(value: Any) -> Any:
    """A row value as COPY takes it: enums as their stored values (psycopg would write names)."""
    return value.value if isinstance(value, Enum) else value


def _cache_key(database: str, shape: Shape) -> str:
    return f"query-{database}-{shape.documents}-{shape.days}-{schema_revision()}-v{FILL_VERSION}"


def _postgres_database_url(postgres_url: str, name: str) -> str:
    return str(httpx2.URL(postgres_url).copy_with(path=f"/{name}"))


def _postgres_exists(postgres_url: str, name: str) -> bool:
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as admin:
        found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return found is not None


def prepare(
    database: str, shape: Shape, postgres_url: str, *, refill: bool, cache: Path = CACHE
) -> Filled:
    """The filled database for `shape`: the cached one, or a new one filled now."""
    key = _cache_key(database, shape)
    sidecar = cache / f"{key}.json"
    name = f"rookery_bench_{key}".replace("-", "_").lower()
    if database == "sqlite":
        path = cache / f"{key}.db"
        database_url = f"sqlite:///{path}"
        present = path.exists()
    else:
        database_url = _postgres_database_url(postgres_url, name)
        present = _postgres_exists(postgres_url, name)
    if sidecar.exists() and present and not refill:
        filled = Filled(**json.loads(sidecar.read_text()))
        print(f"reusing the filled database {database_url} (filled in {filled.fill_s:.0f} s)")
        return filled
    cache.mkdir(parents=True, exist_ok=True)
    # This fill and those of the same size made for another schema or fill version (never
    # reused, and a million documents take gigabytes) go.
    same_size = f"query-{database}-{shape.documents}-{shape.days}-"
    for stale in cache.glob(f"{same_size}*"):
        stale.unlink()
    if database == "postgresql":
        import psycopg

        prefix = f"rookery_bench_{same_size}".replace("-", "_").lower()
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            for (stale_name,) in admin.execute("SELECT datname FROM pg_database").fetchall():
                if str(stale_name).startswith(prefix):
                    admin.execute(f'DROP DATABASE IF EXISTS "{stale_name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')
    print(f"filling {database_url} with {shape.documents:,} documents ({shape.users:,} users)")
    started = time.monotonic()
    key_text = generate_key()
    env = {**os.environ, "ROOKERY_DATABASE_URL": database_url, "ROOKERY_ENCRYPTION_KEYS": key_text}
    _command([ROOKERY, "db", "upgrade"], env)
    client = json.loads(_command([ROOKERY, "client", "create", "--name", "bench", "--json"], env))
    client_id = uuid.UUID(client["client_uuid"])
    if database == "sqlite":
        _fill_sqlite(database_url, shape, client_id)
    else:
        _fill_postgresql(database_url, shape, client_id)
    filled = Filled(
        database_url=database_url,
        encryption_key=key_text,
        client_uuid=client["client_uuid"],
        secret_key=client["secret_key"],
        documents=shape.documents,
        users=shape.users,
        first_date=shape.first_date.isoformat(),
        days=shape.days,
        fill_s=round(time.monotonic() - started, 1),
    )
    sidecar.write_text(json.dumps(dataclasses.asdict(filled), indent=2) + "\n")
    print(f"filled in {filled.fill_s:.0f} s")
    return filled


def stored_bytes(database_url: str) -> dict[str, int]:
    """The database's size on disk, and on PostgreSQL the documents table's (with indexes)."""
    if database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))
        return {
            "database": sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
        }
    import psycopg

    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            "SELECT pg_database_size(current_database()), pg_total_relation_size('documents')"
        ).fetchone()
    return {} if row is None else {"database": int(row[0]), "documents_table": int(row[1])}


# ----------------------------------------------------------------------------- load


@dataclass(frozen=True, slots=True)
class Phase:
    """One endpoint's share of a round: what was asked and how it went."""

    endpoint: str
    latencies_s: list[float]
    wall_s: float
    server_cpu_s: float


def _request(port: int, path: str, authorization: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {authorization}\r\n\r\n"
    ).encode()


async def load(port: int, requests: list[bytes], concurrency: int) -> tuple[list[float], float]:
    """Send `requests` over `concurrency` keep-alive connections, closed loop. Returns each
    request's latency and the wall time of the whole."""
    queue = iter(requests)
    latencies: list[float] = []

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for request in queue:
                sent = time.perf_counter()
                writer.write(request)
                await read_response(reader)
                latencies.append(time.perf_counter() - sent)
        finally:
            writer.close()
            await writer.wait_closed()

    started = time.perf_counter()
    async with asyncio.timeout(600):
        await asyncio.gather(*(connection() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started


def plan_requests(
    filled: Filled, port: int, count: int, chooser: random.Random
) -> dict[str, list[bytes]]:
    """`count` requests per endpoint: summaries of random existing (user, date) pairs."""
    credentials = f"{filled.client_uuid}:{filled.secret_key}".encode()
    authorization = "Basic " + base64.b64encode(credentials).decode()
    first = date.fromisoformat(filled.first_date)
    summaries = []
    # The user-days whose sleep summary (each day's first document) the fill wrote.
    user_days = filled.documents // len(PER_DAY)
    for _ in range(count):
        user, offset = divmod(chooser.randrange(user_days), filled.days)
        day = first + timedelta(days=offset)
        path = f"{SUMMARY_PATH}?user_id=bench-{user}&date={day.isoformat()}"
        summaries.append(_request(port, path, authorization))
    return {
        "summary": summaries,
        "trivial": [_request(port, TRIVIAL_PATH, authorization)] * count,
    }


def _figures(phases: list[Phase]) -> dict[str, Any]:
    latencies = [value for phase in phases for value in phase.latencies_s]
    wall_s = sum(phase.wall_s for phase in phases)
    cpu_s = sum(phase.server_cpu_s for phase in phases)
    return {
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / wall_s, 1),
        "latency_p50_ms": round(1000 * (_percentile(latencies, 0.5) or 0), 2),
        "latency_p99_ms": round(1000 * (_percentile(latencies, 0.99) or 0), 2),
        "server_cpu_ms_per_request": round(1000 * cpu_s / len(latencies), 3),
        "requests_per_server_cpu_s": round(len(latencies) / cpu_s, 1) if cpu_s else None,
    }


def main() -> None:
    """Run the benchmark (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--documents", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365, help="days of documents per user")
    parser.add_argument("--requests", type=int, default=2000, help="per endpoint and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--refill", action="store_true", help="fill again even if cached")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where filled databases stay")
    parser.add_argument("--profile", type=Path, help="cProfile rookery serve into this folder")
    parser.add_argument("--output", type=Path, help="default bench/results/query-<db>.json")
    args = parser.parse_args()
    if args.documents < len(PER_DAY) or min(args.days, args.requests, args.rounds) < 1:
        parser.error(f"--documents must be ≥ {len(PER_DAY)}; --days, --requests, --rounds ≥ 1")
    output = args.output or ROOT / "bench" / "results" / f"query-{args.database}.json"
    shape = Shape(args.documents, min(args.days, args.documents))
    filled = prepare(args.database, shape, args.postgres_url, refill=args.refill, cache=args.cache)
    folder = Path(tempfile.mkdtemp(prefix="rookery-bench-query-"))
    processes = Processes(folder)
    with ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, folder, ignore_errors=True)
        cleanup.callback(processes.stop)
        port = _free_port()
        env = {
            **os.environ,
            "ROOKERY_DATABASE_URL": filled.database_url,
            "ROOKERY_ENCRYPTION_KEYS": filled.encryption_key,
            "ROOKERY_DATA_DIR": str(folder / "data"),
            "ROOKERY_PUBLIC_URL": f"http://127.0.0.1:{port}",
        }
        serve = [ROOKERY, "serve", "--port", str(port), "--no-worker"]
        if args.profile is not None:
            args.profile.mkdir(parents=True, exist_ok=True)
            serve = [PYTHON, "-m", "cProfile", "-o", str(args.profile / "serve.prof"), *serve]
        processes.start("serve", serve, env)
        _wait_http(f"http://127.0.0.1:{port}{TRIVIAL_PATH}", processes)
        chooser = random.Random(args.seed)
        warm = plan_requests(filled, port, min(200, args.requests), chooser)
        for requests in warm.values():
            asyncio.run(load(port, requests, args.concurrency))
        load_before = _loadavg()
        phases: dict[str, list[Phase]] = {"trivial": [], "summary": []}
        for number in range(args.rounds):
            planned = plan_requests(filled, port, args.requests, chooser)
            for endpoint in ("trivial", "summary"):
                cpu_before = processes.cpu_s()["serve"]
                latencies, wall_s = asyncio.run(load(port, planned[endpoint], args.concurrency))
                cpu_s = processes.cpu_s()["serve"] - cpu_before
                phases[endpoint].append(Phase(endpoint, latencies, wall_s, cpu_s))
                print(
                    f"  round {number + 1}/{args.rounds} {endpoint:<8}"
                    f" {len(latencies) / wall_s:8.1f} requests/s",
                    flush=True,
                )
        processes.check()
        memory = processes.resident_mb()
        load_after = _loadavg()
    stored = stored_bytes(filled.database_url)
    summary, trivial = _figures(phases["summary"]), _figures(phases["trivial"])
    ratio = round(summary["requests_per_s"] / trivial["requests_per_s"], 3)
    result = {
        "command": f"python bench/query.py {' '.join(sys.argv[1:])}".strip(),
        "database": args.database,
        "documents": shape.documents,
        "users": shape.users,
        "days_per_user": shape.days,
        "structures_per_day": [str(structure) for structure in PER_DAY],
        "fill_s": filled.fill_s,
        "stored_bytes": stored,
        "stored_bytes_per_document": {
            name: round(size / shape.documents) for name, size in stored.items()
        },
        "concurrency": args.concurrency,
        "seed": args.seed,
        "summary": {"path": SUMMARY_PATH, **summary},
        "trivial": {"path": TRIVIAL_PATH, **trivial},
        "ratio_summary_to_trivial": ratio,
        "ratio_by_server_cpu": round(
            trivial["server_cpu_ms_per_request"] / summary["server_cpu_ms_per_request"], 3
        ),
        "goal_ratio": GOAL_RATIO,
        "meets_goal": ratio >= GOAL_RATIO,
        "resident_mb_at_end": memory,
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": load_after,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"query API, {args.database}, {shape.documents:,} documents "
        f"({shape.users:,} users × {shape.days} days), filled in {filled.fill_s:.0f} s"
    )
    print(f"  {'endpoint':<10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'cpu ms/req':>12}")
    for name, figures in (("summary", summary), ("trivial", trivial)):
        print(
            f"  {name:<10}{figures['requests_per_s']:>9.1f}{figures['latency_p50_ms']:>9.2f}"
            f"{figures['latency_p99_ms']:>9.2f}{figures['server_cpu_ms_per_request']:>12.3f}"
        )
    verdict = "meets" if result["meets_goal"] else "misses"
    print(f"  ratio summary/trivial {ratio:.3f} (goal ≥ {GOAL_RATIO}): {verdict}")
    print(f"  resident memory at the end (MB): {json.dumps(memory)}")
    print(f"  load average {load_before} before, {load_after} after; written to {output}")


if __name__ == "__main__":
    main()
