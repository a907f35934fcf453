"""The benchmarks run end to end at tiny sizes and write figures that add up.

Each script runs as `make bench` runs it (its own process, real subprocesses, SQLite); the
assertions are on counts and consistency, never on speed (the machine is shared).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
TIMEOUT_S = 110


def run(script: str, output: Path, *args: str) -> dict[str, Any]:
    """Run a bench script with `args`; the JSON it wrote."""
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args, "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    figures: dict[str, Any] = json.loads(output.read_text())
    return figures


@pytest.mark.timeout(TIMEOUT_S + 10)
def test_pipeline_delivers_every_notification_and_reports_memory(tmp_path: Path) -> None:
    figures = run(
        "pipeline.py", tmp_path / "pipeline.json", "--users", "2", "--rate", "5", "--seconds", "2"
    )
    assert figures["notifications"] == 10
    # The whole report on failure: which notifications were lost, and what the queue held.
    assert figures["delivered"] == 10, json.dumps(figures, indent=1)
    assert figures["latency_p50_s"] <= figures["latency_p95_s"] <= figures["latency_p99_s"]
    assert figures["resident_mb_at_end"]["serve"]["rss"] > 0
    stored = figures["rookery"]
    assert stored["rows"]["withings_notifications"] == stored["notifications_stored"] >= 10
    assert stored["database_bytes"] > 0


@pytest.mark.timeout(TIMEOUT_S + 10)
def test_query_fills_once_then_reuses_the_filled_database(tmp_path: Path) -> None:
    common = ("--documents", "500", "--days", "20", "--requests", "30", "--rounds", "2")
    cache = ("--cache", str(tmp_path / "cache"))
    first = run("query.py", tmp_path / "first.json", *common, *cache)
    assert first["users"] == 5  # 500 documents ÷ (20 days × 5 structures)
    # Every request answered 200 with a document (the client fails on anything else).
    assert first["summary"]["requests"] == first["trivial"]["requests"] == 60
    assert first["ratio_summary_to_trivial"] > 0
    assert first["stored_bytes"]["database"] > 0
    assert first["resident_mb_at_end"]["serve"]["rss"] > 0
    assert len(list((tmp_path / "cache").glob("*.db"))) == 1
    second = run("query.py", tmp_path / "second.json", *common, *cache)
    assert second["fill_s"] == first["fill_s"]  # the cached fill, not a new one
    assert len(list((tmp_path / "cache").glob("*.db"))) == 1


@pytest.mark.timeout(TIMEOUT_S + 10)
def test_backfill_counts_calls_per_user_within_the_limit(tmp_path: Path) -> None:
    figures = run(
        "backfill.py", tmp_path / "backfill.json", "--users", "1", "--days", "3", "--rate", "600"
    )
    assert figures["users_with_data_calls"] == 1
    assert figures["refused_601"] == 0
    assert figures["busiest_minute_calls"] <= 600
    # One ranged call at least per data domain the consent grants (measures, activity ×2,
    # sleep, heart); granular calls for the nights and days with data.
    assert figures["ranged_per_user_max"] >= 5
    if figures["users_notified_during_run"] == 0:
        assert figures["backfill_ranged_per_user_max"] == figures["ranged_per_user_max"]
    assert figures["admitted"] == figures["calls"]
    assert figures["elapsed_s"] > 0
    assert figures["ideal_s"] == pytest.approx(60 * figures["admitted"] / 600, abs=0.1)


@pytest.mark.timeout(TIMEOUT_S + 10)
def test_suite_tables_a_quick_step_against_its_goal(tmp_path: Path) -> None:
    report = run("suite.py", tmp_path / "suite.json", "--quick", "--only", "transform")
    assert report["quick"] is True
    assert report["steps"]["transform"]["ok"] is True
    assert "reused" not in report["steps"]["transform"]
    rows = {row["benchmark"]: row for row in report["table"]}
    transform = rows["transform: documents per CPU second"]
    assert transform["goal"] == "≥ 20,000"
    assert isinstance(transform["met"], bool)
