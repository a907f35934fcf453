"""Benchmark the pipeline end to end: Withings notification → signed webhook, on loopback.

Starts the sandbox, Rookery's server, a worker (with the delivery sender) and a webhook
receiver, each on its own loopback port in this process (the harness of tests/pipeline), on a
fresh SQLite database; links `--users` sandbox accounts through the real consent flow; then adds
one weigh-in per notification through the sandbox's control endpoint at `--rate` a second for
`--seconds` (users and values drawn from `--seed`), each with a unique weight so its delivery is
recognised at the receiver. Stops by itself (a deadline) and prints a table:

* latency: from the control call that makes the sandbox notify, to the webhook's arrival;
* throughput: deliveries per second over the run;
* Withings calls per notification, as a ratio to the fewest a measure notification needs (1),
  from the sandbox's own call log.

Both rate limits are raised far above the load so that they are not what is measured.
Writes bench/results/pipeline.json.

    .venv/bin/python bench/pipeline.py [--users 20] [--rate 50] [--seconds 20] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.pipeline.harness import DATA_PATH, deployment, now_utc  # noqa: E402

from rookery.config import Settings, load_settings  # noqa: E402
from rookery.pipeline.plans import PLANS, Domain  # noqa: E402
from rookery.sandbox.synth import generate_population  # noqa: E402
from rookery.store.crypto import generate_key  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "pipeline.json"
# Far above the load: the bench measures the pipeline, not the limiter.
UNLIMITED_PER_MINUTE = 1_000_000
BASE_WEIGHT_G = 40_000
DRAIN_S = 30.0


def _settings_factory(folder: Path) -> Any:
    key = generate_key()

    def build(database_url: str, **overrides: Any) -> Settings:
        environ = {
            "ROOKERY_DATABASE_URL": database_url,
            "ROOKERY_ENCRYPTION_KEYS": key,
            "ROOKERY_DATA_DIR": str(folder / "data"),
        }
        for name, value in overrides.items():
            environ[f"ROOKERY_{name.upper()}"] = str(value)
        return load_settings(environ)

    return build


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


async def _drive(
    sandbox_url: str, userids: list[int], *, rate: float, seconds: float, seed: int
) -> dict[int, float]:
    """Send the weigh-ins on schedule; returns weight (g) → monotonic send time."""
    chooser = random.Random(seed)
    sent: dict[int, float] = {}
    total = int(rate * seconds)
    # Enough connections that a slow answer never delays the next send (open-loop load).
    limits = httpx2.Limits(max_connections=int(rate * seconds), max_keepalive_connections=64)
    timeout = httpx2.Timeout(60.0, pool=None)
    async with httpx2.AsyncClient(base_url=sandbox_url, timeout=timeout, limits=limits) as http:
        clock = (await http.get("/_sandbox/clock")).json()
        sandbox_now = int(clock["now"])
        started = time.monotonic()
        tasks: list[asyncio.Task[Any]] = []
        for index in range(total):
            due = started + index / rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            userid = chooser.choice(userids)
            weight_g = BASE_WEIGHT_G + index
            sent[weight_g] = time.monotonic()
            record = {
                "date": sandbox_now + int(time.monotonic() - started),
                "measures": [{"value": weight_g, "type": 1, "unit": -3}],
            }
            tasks.append(
                asyncio.create_task(
                    http.post(
                        f"/_sandbox/users/{userid}/records",
                        json={"kind": "measuregrps", "record": record},
                    )
                )
            )
        for response in await asyncio.gather(*tasks):
            response.raise_for_status()
    return sent


def main() -> None:
    """Run the benchmark (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="rookery-bench-"))
    database_url = f"sqlite:///{folder / 'rookery.db'}"
    population = generate_population(args.users, args.seed, now_utc=now_utc(), history_days=1)
    with deployment(
        _settings_factory(folder),
        database_url,
        population,
        sandbox_rate_limit=UNLIMITED_PER_MINUTE,
        withings_rate_limit_per_minute=UNLIMITED_PER_MINUTE,
        backfill_days=0,
    ) as stack:
        userids = [account.userid for account in population.accounts]
        for index, userid in enumerate(userids):
            stack.link(f"bench-{index}", userid)
        stack.settle(timeout_s=120)
        since = int(stack.control("GET", "clock")["now"])
        before = len(stack.receiver.received(DATA_PATH))
        sent = asyncio.run(
            _drive(stack.sandbox_url, userids, rate=args.rate, seconds=args.seconds, seed=args.seed)
        )
        deadline = time.monotonic() + DRAIN_S
        arrivals: dict[int, float] = {}
        while time.monotonic() < deadline and len(arrivals) < len(sent):
            for received in stack.receiver.received(DATA_PATH)[before:]:
                document = json.loads(received.body)
                if document.get("data_structure") != "body_metrics_event":
                    continue
                for event in document["body_health"]["events"]["body_metrics_event"]:
                    weight = event["body_metrics"]["weight_kg_float"]
                    if weight is not None:
                        grams = round(weight * 1000)
                        if grams in sent and grams not in arrivals:
                            arrivals[grams] = received.at_monotonic
            time.sleep(0.2)
        calls = stack.control(
            "GET", f"calls?client_id={stack.settings.withings_client_id}&since={since}"
        )["calls"]
    data_calls = [call for call in calls if call["path"] == "/measure"]
    latencies = [arrivals[g] - sent[g] for g in arrivals]
    span = max(arrivals.values()) - min(sent.values()) if arrivals else float("nan")
    fewest = PLANS[Domain.MEASURES].fewest_calls
    result = {
        "command": "python bench/pipeline.py " + " ".join(sys.argv[1:]),
        "database": "sqlite",
        "cpus": os.cpu_count(),
        "users": args.users,
        "rate_per_s": args.rate,
        "seconds": args.seconds,
        "seed": args.seed,
        "notifications": len(sent),
        "delivered": len(arrivals),
        "lost": len(sent) - len(arrivals),
        "latency_p50_s": round(statistics.median(latencies), 4) if latencies else None,
        "latency_p99_s": round(_percentile(latencies, 0.99), 4) if latencies else None,
        "latency_max_s": round(max(latencies), 4) if latencies else None,
        "throughput_per_s": round(len(arrivals) / span, 2) if arrivals else None,
        "withings_calls": len(data_calls),
        "calls_per_notification": round(len(data_calls) / len(sent), 4) if sent else None,
        "calls_ratio_to_fewest": round(len(data_calls) / (len(sent) * fewest), 4) if sent else None,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    width = max(len(key) for key in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
