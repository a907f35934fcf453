"""The benchmark suite (`make bench`): every benchmark, one table of figures against the issue's
goals, and bench/results/suite.json.

Runs each benchmark as its own process (each is also runnable alone; see its docstring), its
output streamed as it goes, its JSON written under bench/results/:

* transform: Withings → ROOK documents per CPU second (bench/transform.py);
* sandbox: the Withings sandbox's calls per second and start-up (bench/sandbox.py);
* pipeline on SQLite at 50 notifications/s (and a run three times longer at 25/s, for memory as
  the run goes on), on PostgreSQL at 100/s with 2 workers, and with 1 worker for the scaling
  figure (bench/pipeline.py);
* the query API with a million stored documents on SQLite and PostgreSQL, and with 100,000 on
  SQLite so that the server's memory can be compared as stored data grows (bench/query.py);
* the 90-day backfill under the rate limit, on PostgreSQL with 2 workers (bench/backfill.py).

Then regenerates the figures of docs/scaling.md (bench/scaling.py). PostgreSQL steps are skipped,
and said so, when `--postgres-url` does not answer. `--quick` runs every step at a tiny size (a
smoke test of the suite, not figures, written under bench/results/quick/); `--only NAME,...`
runs some steps, and the table shows the others' latest figures (marked reused in the JSON).

    .venv/bin/python bench/suite.py [--quick] [--only pipeline-sqlite,query-sqlite]
        [--postgres-url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

BENCH: Final = Path(__file__).resolve().parent
RESULTS: Final = BENCH / "results"
QUICK_RESULTS: Final = RESULTS / "quick"
DEFAULT_POSTGRES_URL: Final = "postgresql://postgres@127.0.0.1:5432/postgres"

Figures = dict[str, Any]
Row = tuple[str, str, str, bool | None]
"""benchmark, figure, goal, met (None: no goal, a figure to read)."""


@dataclass(frozen=True)
class Step:
    """One benchmark run: its script and arguments, full and quick, and where its JSON goes."""

    name: str
    script: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    postgresql: bool = False

    def output(self, *, quick: bool) -> Path:
        """Quick runs write apart, so that they never replace real figures."""
        return (QUICK_RESULTS if quick else RESULTS) / f"{self.name}.json"

    def argv(self, *, quick: bool, postgres_url: str) -> list[str]:
        argv = [sys.executable, str(BENCH / self.script), *(self.quick if quick else self.full)]
        if self.postgresql:
            argv += ["--postgres-url", postgres_url]
        return [*argv, "--output", str(self.output(quick=quick))]


# The loads: 50 notifications/s on SQLite, 100/s on PostgreSQL, 20 s each.
PIPELINE_SQLITE: Final = ("--users", "20", "--rate", "50", "--seconds", "20")
PIPELINE_POSTGRESQL: Final = ("--users", "20", "--rate", "100", "--seconds", "20")
PIPELINE_QUICK: Final = ("--users", "3", "--rate", "10", "--seconds", "3")
# Three times the notifications of the SQLite run, at a rate one machine keeps up with: does
# the server's memory stay flat as the run goes on?
PIPELINE_LONG: Final = ("--users", "20", "--rate", "25", "--seconds", "120")
QUERY_QUICK: Final = ("--documents", "5000", "--requests", "200", "--rounds", "1")
STEPS: Final = (
    Step("transform", "transform.py", (), ("--seconds", "0.3")),
    Step("sandbox", "sandbox.py", (), ("--users", "5", "--calls", "300")),
    Step(
        "pipeline-sqlite",
        "pipeline.py",
        ("--database", "sqlite", *PIPELINE_SQLITE),
        ("--database", "sqlite", *PIPELINE_QUICK),
    ),
    Step(
        "pipeline-sqlite-long",
        "pipeline.py",
        ("--database", "sqlite", *PIPELINE_LONG),
        ("--database", "sqlite", "--users", "3", "--rate", "10", "--seconds", "6"),
    ),
    Step(
        "pipeline-postgresql-2w",
        "pipeline.py",
        ("--database", "postgresql", "--workers", "2", *PIPELINE_POSTGRESQL),
        ("--database", "postgresql", "--workers", "2", *PIPELINE_QUICK),
        postgresql=True,
    ),
    Step(
        "pipeline-postgresql-1w",
        "pipeline.py",
        ("--database", "postgresql", "--workers", "1", *PIPELINE_POSTGRESQL),
        ("--database", "postgresql", "--workers", "1", *PIPELINE_QUICK),
        postgresql=True,
    ),
    Step(
        "query-sqlite", "query.py", ("--database", "sqlite"), ("--database", "sqlite", *QUERY_QUICK)
    ),
    Step(
        "query-sqlite-100k",
        "query.py",
        ("--database", "sqlite", "--documents", "100000"),
        ("--database", "sqlite", "--documents", "1000", "--requests", "200", "--rounds", "1"),
    ),
    Step(
        "query-postgresql",
        "query.py",
        ("--database", "postgresql"),
        ("--database", "postgresql", *QUERY_QUICK),
        postgresql=True,
    ),
    Step(
        "backfill",
        "backfill.py",
        ("--database", "postgresql", "--workers", "2"),
        ("--database", "postgresql", "--workers", "2", "--users", "1", "--days", "3"),
        postgresql=True,
    ),
)


# ----------------------------------------------------------------------------- rows


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f} s"


def transform_rows(figures: Figures) -> list[Row]:
    rate = figures["overall"]["docs_per_cpu_s"]
    return [("transform: documents per CPU second", f"{rate:,}", "≥ 20,000", rate >= 20_000)]


def sandbox_rows(figures: Figures) -> list[Row]:
    return [
        ("sandbox: data calls per second", f"{figures['calls_per_s_wall']:,}", "≥ 500",
         figures["calls_per_s_wall"] >= figures["goal_calls_per_s"]),
        (f"sandbox: start-up with {figures['users']} users", f"{figures['startup_wall_s']} s",
         "< 2 s", figures["startup_wall_s"] < figures["goal_startup_s"]),
    ]  # fmt: skip


def pipeline_rows(label: str) -> Callable[[Figures], list[Row]]:
    def rows(figures: Figures) -> list[Row]:
        p99 = figures["latency_p99_s"]
        lost = figures["lost"]
        memory = figures.get("resident_mb_at_end", {})
        rss = ", ".join(
            f"{name} {value['rss']:.0f}"
            for name, value in memory.items()
            if name == "serve" or name.startswith("worker")
        )
        return [
            (f"{label}: latency p50 / p95 / p99",
             " / ".join(_seconds(figures[f"latency_{p}_s"]) for p in ("p50", "p95", "p99")),
             "p99 < 1 s", p99 is not None and p99 < 1.0 and lost == 0),
            (f"{label}: throughput (sent {figures['rate_per_s']:g}/s), lost",
             f"{figures['throughput_per_s']}/s, {lost} lost", "", None),
            (f"{label}: Withings calls ÷ fewest", f"{figures['calls_ratio_to_fewest']}", "≤ 1.0",
             figures["calls_ratio_to_fewest"] is not None
             and figures["calls_ratio_to_fewest"] <= 1.0),
            (f"{label}: resident MB at the end", rss or "—", "flat", None),
        ]  # fmt: skip

    return rows


def query_rows(label: str) -> Callable[[Figures], list[Row]]:
    def rows(figures: Figures) -> list[Row]:
        summary, trivial = figures["summary"], figures["trivial"]
        return [
            (f"{label}: summary req/s, p50 / p99 ms",
             f"{summary['requests_per_s']}, {summary['latency_p50_ms']} / "
             f"{summary['latency_p99_ms']}", "", None),
            (f"{label}: /healthz req/s, p50 / p99 ms",
             f"{trivial['requests_per_s']}, {trivial['latency_p50_ms']} / "
             f"{trivial['latency_p99_ms']}", "", None),
            (f"{label}: summary ÷ trivial (req/s)", f"{figures['ratio_summary_to_trivial']}",
             "≥ 0.6", figures["meets_goal"]),
            (f"{label}: fill of {figures['documents']:,} documents", f"{figures['fill_s']} s",
             "", None),
            (f"{label}: serve resident MB", f"{figures['resident_mb_at_end']['serve']['rss']}",
             "flat", None),
        ]  # fmt: skip

    return rows


def backfill_rows(figures: Figures) -> list[Row]:
    return [
        ("backfill: ranged calls per user (mean / max)",
         f"{figures['backfill_ranged_per_user_mean']} / "
         f"{figures['backfill_ranged_per_user_max']}", "≤ 6", figures["meets_calls_goal"]),
        ("backfill: granular calls per user", f"{figures['granular_per_user_mean']}", "", None),
        (f"backfill: {figures['users']} users at {figures['rate_per_minute']}/min, ÷ ideal",
         f"{figures['elapsed_s']} s ÷ {figures['ideal_s']} s = {figures['elapsed_over_ideal']}",
         "within 10 %", figures["meets_time_goal"]),
        ("backfill: rate limit held at the sandbox (601s)", f"{figures['refused_601']}", "0",
         figures["limit_held"]),
    ]  # fmt: skip


ROWS: Final[dict[str, Callable[[Figures], list[Row]]]] = {
    "transform": transform_rows,
    "sandbox": sandbox_rows,
    "pipeline-sqlite": pipeline_rows("pipeline SQLite"),
    "pipeline-sqlite-long": pipeline_rows("pipeline SQLite, longer"),
    "pipeline-postgresql-2w": pipeline_rows("pipeline PostgreSQL 2 workers"),
    "pipeline-postgresql-1w": pipeline_rows("pipeline PostgreSQL 1 worker"),
    "query-sqlite": query_rows("query SQLite"),
    "query-sqlite-100k": query_rows("query SQLite 100k"),
    "query-postgresql": query_rows("query PostgreSQL"),
    "backfill": backfill_rows,
}


def cross_rows(results: dict[str, Figures]) -> list[Row]:
    """Figures that compare two runs: worker scaling, memory as stored data grows."""
    rows: list[Row] = []
    one, two = results.get("pipeline-postgresql-1w"), results.get("pipeline-postgresql-2w")
    if one and two and one.get("throughput_per_s") and two.get("throughput_per_s"):
        rows.append(
            ("scaling: throughput 1 → 2 workers (PostgreSQL)",
             f"{one['throughput_per_s']} → {two['throughput_per_s']}/s "
             f"(× {two['throughput_per_s'] / one['throughput_per_s']:.2f})", "", None)
        )  # fmt: skip
    short, long = results.get("pipeline-sqlite"), results.get("pipeline-sqlite-long")
    if short and long:
        before = short["resident_mb_at_end"]["serve"]["rss"]
        after = long["resident_mb_at_end"]["serve"]["rss"]
        rows.append(
            (f"memory: serve MB after {short['notifications']:,} → "
             f"{long['notifications']:,} notifications", f"{before} → {after}",
             "flat (≤ +10 %)", after <= 1.1 * before)
        )  # fmt: skip
    small, large = results.get("query-sqlite-100k"), results.get("query-sqlite")
    if small and large:
        before = small["resident_mb_at_end"]["serve"]["rss"]
        after = large["resident_mb_at_end"]["serve"]["rss"]
        rows.append(
            (f"memory: serve MB at {small['documents']:,} → {large['documents']:,} documents",
             f"{before} → {after}", "flat (≤ +10 %)", after <= 1.1 * before)
        )  # fmt: skip
    return rows


# ----------------------------------------------------------------------------- running


def postgres_answers(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=5):
            return True
    except psycopg.Error:
        return False


def run_step(step: Step, *, quick: bool, postgres_url: str) -> dict[str, Any]:
    """Run one benchmark, its output streamed; what it wrote, or why it failed."""
    argv = step.argv(quick=quick, postgres_url=postgres_url)
    shown = " ".join(Path(part).name if part.endswith(".py") else part for part in argv[1:])
    print(f"\n=== {step.name}: {shown}", flush=True)
    output = step.output(quick=quick)
    output.unlink(missing_ok=True)
    started = time.monotonic()
    done = subprocess.run(argv, check=False)
    seconds = round(time.monotonic() - started, 1)
    if done.returncode != 0 or not output.exists():
        return {"ok": False, "seconds": seconds, "error": f"exit status {done.returncode}"}
    return {"ok": True, "seconds": seconds, "figures": json.loads(output.read_text())}


def print_table(rows: list[Row]) -> None:
    width = max(len(row[0]) for row in rows)
    value_width = max(len(row[1]) for row in rows)
    print(f"\n{'benchmark':<{width}}  {'figure':<{value_width}}  {'goal':<15}  met?")
    for name, figure, goal, met in rows:
        verdict = "" if met is None else ("yes" if met else "NO")
        print(f"{name:<{width}}  {figure:<{value_width}}  {goal:<15}  {verdict}")


def main() -> None:
    """Run the suite (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--only", help="comma-separated step names: " + ", ".join(ROWS))
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--output", type=Path, help="default bench/results/[quick/]suite.json")
    args = parser.parse_args()
    output: Path = args.output or (QUICK_RESULTS if args.quick else RESULTS) / "suite.json"
    chosen: tuple[Step, ...] = STEPS
    if args.only:
        names = {name.strip() for name in args.only.split(",")}
        unknown = names - set(ROWS)
        if unknown:
            parser.error(f"unknown steps {', '.join(sorted(unknown))}; known: {', '.join(ROWS)}")
        chosen = tuple(step for step in STEPS if step.name in names)
    postgres_ok = postgres_answers(args.postgres_url)
    started = time.monotonic()
    steps: dict[str, dict[str, Any]] = {}
    rows: list[Row] = []
    for step in STEPS:
        if step not in chosen:
            # Not run this time: its latest figures, if any, keep the table whole.
            earlier = step.output(quick=args.quick)
            if earlier.exists():
                figures = json.loads(earlier.read_text())
                steps[step.name] = {"ok": True, "reused": True, "figures": figures}
        elif step.postgresql and not postgres_ok:
            steps[step.name] = {
                "ok": False,
                "error": f"skipped: {args.postgres_url} does not answer",
            }
        else:
            steps[step.name] = run_step(step, quick=args.quick, postgres_url=args.postgres_url)
        outcome = steps.get(step.name)
        if outcome is None:
            continue
        if outcome["ok"]:
            try:
                rows.extend(ROWS[step.name](outcome["figures"]))
            except KeyError as missing:
                # Figures an older version of the step wrote: not comparable, run it again.
                rows.append((step.name, f"stale figures (no {missing}): rerun", "runs", False))
        else:
            rows.append((step.name, outcome["error"], "runs", False))
    results = {name: outcome["figures"] for name, outcome in steps.items() if outcome["ok"]}
    rows.extend(cross_rows(results))
    if not args.quick:
        from scaling import regenerate

        regenerate()
    print_table(rows)
    report = {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "seconds": round(time.monotonic() - started, 1),
        "cpus": os.cpu_count(),
        "load_average_after": [round(value, 2) for value in os.getloadavg()],
        "table": [
            {"benchmark": name, "figure": figure, "goal": goal, "met": met}
            for name, figure, goal, met in rows
        ],
        "steps": {
            name: {key: value for key, value in outcome.items() if key != "figures"}
            for name, outcome in steps.items()
        },
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"\n{len(chosen)} steps in {report['seconds']:.0f} s; written to {output}")
    if not all(steps[step.name]["ok"] for step in chosen):
        sys.exit(1)


if __name__ == "__main__":
    main()
