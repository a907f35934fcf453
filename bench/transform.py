"""Benchmark: Withings → ROOK documents per second (parse + transform + JSON), on one core.

Run: `.venv/bin/python bench/transform.py [--seconds S] [--fixtures DIR] [--output FILE]`. Each
workload is a captured response, parsed, transformed and every document serialised with
`model_dump_json`, repeated for about `--seconds` in this one single-threaded process. The figure
is documents per CPU second of the process (`time.process_time`), so that other work on a shared
machine counts against it as little as possible; wall-clock documents per second are printed
alongside, and the load average is recorded with the figures. Goal: 20,000 documents per CPU
second overall. The figures are also written as JSON to `bench/results/transform.json`.

The collector is set as in a worker (`rookery.runtime.tune_gc`, which `rookery serve` and `rookery
worker` call at start), and only the response being measured is loaded, as a
worker holds only the response at hand.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pydantic

from rookery.runtime import GC_THRESHOLDS, tune_gc
from rookery.transform.context import UserContext
from rookery.transform.dispatch import transform_response
from rookery.withings.responses import Endpoint

GOAL_DOCS_PER_S: Final = 20_000
DEFAULT_FIXTURES: Final = Path(__file__).resolve().parents[2] / "shared/fixtures/withings-captured"
RESULTS: Final = Path(__file__).resolve().parent / "results" / "transform.json"


@dataclass(frozen=True, slots=True)
class Workload:
    """A captured response: its endpoint and the fixture file that holds it."""

    name: str
    endpoint: Endpoint
    fixture: str

    def load(self, fixtures: Path) -> Mapping[str, Any]:
        """The response body, decoded as the client hands it to the transform."""
        decoded = json.loads((fixtures / self.fixture).read_text(encoding="utf-8"))
        if isinstance(decoded, list):  # a bare array of measure groups
            return {"measuregrps": decoded, "timezone": "Europe/Amsterdam"}
        body: Mapping[str, Any] = decoded["body"]
        return body


WORKLOADS: Final = (
    Workload("sleep summaries", Endpoint.SLEEP_GETSUMMARY, "sleep_summary.json"),
    Workload("measure groups", Endpoint.GETMEAS, "measurement_list.json"),
    Workload("workouts", Endpoint.GETWORKOUTS, "workouts.json"),
)
"""The three captured workloads: nightly summaries, measure groups and workouts."""


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

    def figures(self) -> dict[str, float | int]:
        return {
            "documents": self.documents,
            "cpu_s": round(self.cpu_s, 3),
            "wall_s": round(self.wall_s, 3),
            "docs_per_cpu_s": round(self.per_cpu_second),
            "docs_per_wall_s": round(self.per_wall_second),
        }


def run_once(endpoint: Endpoint, body: Mapping[str, Any], ctx: UserContext) -> int:
    """Transform one response and serialise every document; the document count."""
    produced = transform_response(endpoint, body, ctx)
    for item in produced:
        item.document.model_dump_json()
    return len(produced)


def measure(workload: Workload, fixtures: Path, ctx: UserContext, seconds: float) -> Result:
    body = workload.load(fixtures)
    run_once(workload.endpoint, body, ctx)  # warm caches (zones, pydantic validators)
    documents = 0
    gc.collect()
    cpu_start = time.process_time()
    wall_start = time.perf_counter()
    wall = 0.0
    while wall < seconds:
        documents += run_once(workload.endpoint, body, ctx)
        wall = time.perf_counter() - wall_start
    return Result(workload.name, documents, time.process_time() - cpu_start, wall)


def overall(results: list[Result]) -> Result:
    """All workloads together: total documents over total time."""
    return Result(
        "overall",
        sum(result.documents for result in results),
        sum(result.cpu_s for result in results),
        sum(result.wall_s for result in results),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per workload")
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES)
    parser.add_argument("--output", type=Path, default=RESULTS, help="where the JSON goes")
    args = parser.parse_args()
    ctx = UserContext(client_uuid="bench-client", user_id="bench-user")
    tune_gc()
    load_before = os.getloadavg()[0]
    results = [measure(workload, args.fixtures, ctx, args.seconds) for workload in WORKLOADS]
    load_after = os.getloadavg()[0]
    total = overall(results)
    header = f"{'workload':<18}{'documents':>10}{'cpu s':>8}{'docs/cpu s':>12}{'docs/wall s':>13}"
    print(header)
    for result in [*results, total]:
        print(
            f"{result.name:<18}{result.documents:>10}{result.cpu_s:>8.2f}"
            f"{result.per_cpu_second:>12,.0f}{result.per_wall_second:>13,.0f}"
        )
    figure = total.per_cpu_second
    verdict = "meets" if figure >= GOAL_DOCS_PER_S else "misses"
    print(f"overall {figure:,.0f} documents per CPU second; goal {GOAL_DOCS_PER_S:,}: {verdict}")
    print(f"load average (1 min) {load_before:.2f} before, {load_after:.2f} after")
    report = {
        "workloads": {result.name: result.figures() for result in results},
        "overall": total.figures(),
        "goal_docs_per_cpu_s": GOAL_DOCS_PER_S,
        "meets_goal": figure >= GOAL_DOCS_PER_S,
        "seconds_per_workload": args.seconds,
        "load_average_1m_before": round(load_before, 2),
        "load_average_1m_after": round(load_after, 2),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "pydantic": pydantic.VERSION,
        "gc": f"as in a worker: tune_gc(), thresholds {GC_THRESHOLDS}, one response at a time",
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
