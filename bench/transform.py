"""Benchmark: Withings → ROOK documents per second (parse + transform + JSON), on one core.

Run: `.venv/bin/python bench/transform.py [--seconds S] [--fixtures DIR]`. Each workload is the
captured response, parsed, transformed and every document serialised with `model_dump_json`,
repeated for about `--seconds` in this one single-threaded process. The figure is documents per
CPU second of the process (`time.process_time`), so that other work on a shared machine does
not count against it; wall-clock documents per second are printed alongside. Goal: 20,000
documents per second overall.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from rookery.transform.context import UserContext
from rookery.transform.dispatch import transform_response
from rookery.withings.responses import Endpoint

GOAL_DOCS_PER_S: Final = 20_000
DEFAULT_FIXTURES: Final = Path(__file__).resolve().parents[2] / "shared/fixtures/withings-captured"


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    endpoint: Endpoint
    body: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    documents: int
    cpu_s: float
    wall_s: float

    @property
    def per_cpu_second(self) -> float:
        return self.documents / self.cpu_s

    @property
    def per_wall_second(self) -> float:
        return self.documents / self.wall_s


def workloads(fixtures: Path) -> list[Workload]:
    """The three captured workloads: nightly summaries, measure groups and workouts."""

    def body(name: str) -> Mapping[str, Any]:
        decoded = json.loads((fixtures / name).read_text(encoding="utf-8"))
        if isinstance(decoded, list):  # a bare array of measure groups
            return {"measuregrps": decoded, "timezone": "Europe/Amsterdam"}
        result: Mapping[str, Any] = decoded["body"]
        return result

    return [
        Workload("sleep summaries", Endpoint.SLEEP_GETSUMMARY, body("sleep_summary.json")),
        Workload("measure groups", Endpoint.GETMEAS, body("measurement_list.json")),
        Workload("workouts", Endpoint.GETWORKOUTS, body("workouts.json")),
    ]


def run_once(workload: Workload, ctx: UserContext) -> int:
    """Transform the workload's response and serialise every document; the document count."""
    produced = transform_response(workload.endpoint, workload.body, ctx)
    for item in produced:
        item.document.model_dump_json()
    return len(produced)


def measure(workload: Workload, ctx: UserContext, seconds: float) -> Result:
    run_once(workload, ctx)  # warm caches (zones, pydantic validators)
    documents = 0
    gc.collect()
    cpu_start = time.process_time()
    wall_start = time.perf_counter()
    wall = 0.0
    while wall < seconds:
        documents += run_once(workload, ctx)
        wall = time.perf_counter() - wall_start
    return Result(workload.name, documents, time.process_time() - cpu_start, wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.5, help="time per workload")
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES)
    parser.add_argument(
        "--no-freeze", action="store_true", help="leave the loaded inputs to the collector"
    )
    args = parser.parse_args()
    ctx = UserContext(client_uuid="bench-client", user_id="bench-user")
    loaded = workloads(args.fixtures)
    if not args.no_freeze:
        # The three inputs stay loaded for the whole run; a worker holds only the response at
        # hand. Freezing them keeps the collector from re-walking 2 MB of idle JSON (a worker
        # would likewise gc.freeze() what it loads at start-up).
        gc.collect()
        gc.freeze()
    results = [measure(w, ctx, args.seconds) for w in loaded]
    header = f"{'workload':<18}{'documents':>10}{'cpu s':>8}{'docs/cpu s':>12}{'docs/wall s':>13}"
    print(header)
    for result in [*results, overall(results)]:
        print(
            f"{result.name:<18}{result.documents:>10}{result.cpu_s:>8.2f}"
            f"{result.per_cpu_second:>12,.0f}{result.per_wall_second:>13,.0f}"
        )
    figure = overall(results).per_cpu_second
    verdict = "meets" if figure >= GOAL_DOCS_PER_S else "misses"
    print(f"overall {figure:,.0f} documents per CPU second; goal {GOAL_DOCS_PER_S:,}: {verdict}")


def overall(results: list[Result]) -> Result:
    """All workloads together: total documents over total time."""
    return Result(
        "overall",
        sum(result.documents for result in results),
        sum(result.cpu_s for result in results),
        sum(result.wall_s for result in results),
    )


if __name__ == "__main__":
    main()
