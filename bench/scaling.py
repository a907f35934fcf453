"""Regenerate the figures of docs/scaling.md from the benchmark results under bench/results/.

The document's numbers live between two markers (`<!-- figures:begin -->`, `<!-- figures:end -->`):
the measured per-core costs, then what 10,000, 1 million and 10 million linked users need under
the usage model below. `make bench` (bench/suite.py) calls this after its runs; run it alone
after any benchmark: `.venv/bin/python bench/scaling.py`. A figure whose result file is missing
is shown with its placeholder value and marked so.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

BENCH: Final = Path(__file__).resolve().parent
RESULTS: Final = BENCH / "results"
DOCUMENT: Final = BENCH.parent / "docs" / "scaling.md"
BEGIN: Final = "<!-- figures:begin -->"
END: Final = "<!-- figures:end -->"

# The usage model (assumptions, not measurements): a linked user with a scale, a watch and a
# sleep monitor. Withings notifies activity each time the watch syncs.
NOTIFICATIONS_PER_USER_DAY: Final = {"measure": 1.0, "activity": 6.0, "sleep": 1.0}
# The fewest calls each notification needs (bench/pipeline.py's FEWEST), plus the day's close
# (getactivity and getintradayactivity once the day has ended).
CALLS_PER_NOTIFICATION: Final = {"measure": 1, "activity": 2, "sleep": 2}
DAY_CLOSE_CALLS: Final = 2
# Stored documents per user-day (sleep, physical and body summaries, a weigh-in, an activity or
# heart event), and new versions delivered per document (late data, a day's close).
DOCUMENTS_PER_USER_DAY: Final = 5
DELIVERIES_PER_DOCUMENT: Final = 1.2
# Notifications bunch (mornings, after the night's sync): the peak second over the mean.
PEAK_TO_MEAN: Final = 3.0
# A core run at most this busy, to leave room for bursts and retries.
TARGET_UTILISATION: Final = 0.6
# Query API reads per user per day (an app showing the day's summaries).
QUERIES_PER_USER_DAY: Final = 10
WITHINGS_RATE_PER_MINUTE: Final = 120
USERS: Final = (10_000, 1_000_000, 10_000_000)

# Used when a result file is missing; marked as placeholders in the document.
PLACEHOLDERS: Final = {
    "rookery_cpu_ms_per_notification": 20.0,
    "query_cpu_ms_per_request": 2.0,
    "document_bytes": 3500.0,
    "delivery_bytes": 3000.0,
    "raw_exchange_bytes": 1000.0,
    "notification_bytes": 300.0,
    "backfill_calls_per_user": 190.0,
}


@dataclass(frozen=True)
class Figure:
    """A measured per-unit cost, where it came from, and whether it is a placeholder."""

    value: float
    source: str

    @property
    def placeholder(self) -> bool:
        return self.source == "placeholder"


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    if not path.exists():
        return None
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def measured() -> dict[str, Figure]:
    """The per-unit costs from the latest results (placeholders where a result is missing)."""
    figures = {name: Figure(value, "placeholder") for name, value in PLACEHOLDERS.items()}
    pipeline = _load("pipeline-postgresql-2w")
    if pipeline and pipeline.get("cpu_ms_per_notification"):
        rookery = sum(
            value
            for name, value in pipeline["cpu_ms_per_notification"].items()
            if name == "serve" or name.startswith("worker")
        )
        figures["rookery_cpu_ms_per_notification"] = Figure(
            rookery, "pipeline-postgresql-2w: serve + workers CPU ÷ notifications"
        )
        rows = pipeline["rookery"].get("rows", {})
        sizes = pipeline["rookery"].get("table_bytes_with_indexes", {})
        for table, name in (
            ("deliveries", "delivery_bytes"),
            ("raw_exchanges", "raw_exchange_bytes"),
            ("withings_notifications", "notification_bytes"),
        ):
            if rows.get(table) and sizes.get(table):
                figures[name] = Figure(
                    sizes[table] / rows[table], f"pipeline-postgresql-2w: {table} bytes ÷ rows"
                )
    query = _load("query-postgresql")
    if query:
        figures["query_cpu_ms_per_request"] = Figure(
            query["summary"]["server_cpu_ms_per_request"], "query-postgresql: serve CPU ÷ requests"
        )
        per_document = query.get("stored_bytes_per_document", {}).get("documents_table")
        if per_document:
            figures["document_bytes"] = Figure(
                per_document, "query-postgresql: documents table ÷ documents"
            )
    backfill = _load("backfill")
    if backfill and backfill.get("users_with_data_calls"):
        figures["backfill_calls_per_user"] = Figure(
            backfill["admitted"] / backfill["users"], "backfill: calls admitted ÷ users"
        )
    return figures


def _quantity(value: float) -> str:
    for limit, suffix in ((1e12, " T"), (1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def render(figures: dict[str, Figure]) -> str:
    """The markdown between the markers."""
    lines = [
        "Measured per-unit costs (`make bench`; regenerate with `.venv/bin/python "
        "bench/scaling.py`):",
        "",
        "| cost | value | from |",
        "|---|---|---|",
    ]
    labels = {
        "rookery_cpu_ms_per_notification": "Rookery CPU per notification (ms)",
        "query_cpu_ms_per_request": "server CPU per query API request (ms)",
        "document_bytes": "stored document, with indexes (bytes)",
        "delivery_bytes": "delivery row, body and indexes (bytes)",
        "raw_exchange_bytes": "archived Withings exchange (bytes)",
        "notification_bytes": "stored notification (bytes)",
        "backfill_calls_per_user": "Withings calls to link and backfill one user (90 days)",
    }
    for name, label in labels.items():
        figure = figures[name]
        source = (
            "**placeholder: refresh with `make bench`**" if figure.placeholder else figure.source
        )
        lines.append(f"| {label} | {figure.value:,.1f} | {source} |")
    notifications_per_day = sum(NOTIFICATIONS_PER_USER_DAY.values())
    calls_per_day = DAY_CLOSE_CALLS + sum(
        NOTIFICATIONS_PER_USER_DAY[kind] * CALLS_PER_NOTIFICATION[kind]
        for kind in NOTIFICATIONS_PER_USER_DAY
    )
    deliveries_per_day = DOCUMENTS_PER_USER_DAY * DELIVERIES_PER_DOCUMENT
    rows_per_year = 365 * (
        DOCUMENTS_PER_USER_DAY + deliveries_per_day + calls_per_day + notifications_per_day
    )
    bytes_per_year = 365 * (
        DOCUMENTS_PER_USER_DAY * figures["document_bytes"].value
        + deliveries_per_day * figures["delivery_bytes"].value
        + calls_per_day * figures["raw_exchange_bytes"].value
        + notifications_per_day * figures["notification_bytes"].value
    )
    lines += [
        "",
        f"Per linked user: {notifications_per_day:g} notifications and {calls_per_day:g} "
        f"Withings calls a day; {rows_per_year:,.0f} database rows and "
        f"{_quantity(bytes_per_year)}B a year (documents, deliveries, raw exchanges, "
        "notifications; nothing is pruned yet but finished jobs).",
        "",
        "| linked users | notifications/day | peak/s | Withings calls/min (× the 120 limit) "
        "| onboarding at 120/min | worker cores | query cores | rows/year | PostgreSQL/year |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for users in USERS:
        per_day = users * notifications_per_day
        peak = per_day / 86_400 * PEAK_TO_MEAN
        calls_per_minute = users * calls_per_day / 1440
        onboarding_days = (
            users * figures["backfill_calls_per_user"].value / WITHINGS_RATE_PER_MINUTE / 1440
        )
        worker_cores = peak * figures["rookery_cpu_ms_per_notification"].value / 1000
        query_peak = users * QUERIES_PER_USER_DAY / 86_400 * PEAK_TO_MEAN
        query_cores = query_peak * figures["query_cpu_ms_per_request"].value / 1000
        lines.append(
            f"| {users:,} | {_quantity(per_day)} | {peak:,.0f} "
            f"| {calls_per_minute:,.0f} (× {calls_per_minute / WITHINGS_RATE_PER_MINUTE:,.1f}) "
            f"| {onboarding_days:,.0f} days "
            f"| {math.ceil(worker_cores / TARGET_UTILISATION)} "
            f"| {math.ceil(query_cores / TARGET_UTILISATION)} "
            f"| {_quantity(users * rows_per_year)} | {_quantity(users * bytes_per_year)}B |"
        )
    lines += [
        "",
        "Model: notifications a user-day "
        + ", ".join(f"{kind} {count:g}" for kind, count in NOTIFICATIONS_PER_USER_DAY.items())
        + "; Withings calls per notification "
        + ", ".join(f"{kind} {count}" for kind, count in CALLS_PER_NOTIFICATION.items())
        + f", and {DAY_CLOSE_CALLS} at each day's close; "
        f"{DOCUMENTS_PER_USER_DAY} documents a user-day delivered {DELIVERIES_PER_DOCUMENT:g} "
        f"times each, peak {PEAK_TO_MEAN:g}× the mean, cores at most "
        f"{TARGET_UTILISATION:.0%} busy, {QUERIES_PER_USER_DAY} query API reads a user-day. "
        "Worker cores count Rookery's processes only; PostgreSQL's own CPU comes on top.",
    ]
    return "\n".join(lines)


def regenerate(document: Path = DOCUMENT) -> None:
    """Write the figures into `document` between its markers."""
    text = document.read_text(encoding="utf-8")
    before, found, rest = text.partition(BEGIN)
    _, found_end, after = rest.partition(END)
    if not found or not found_end:
        raise SystemExit(f"{document} has no {BEGIN} … {END} block")
    document.write_text(f"{before}{BEGIN}\n{render(measured())}\n{END}{after}", encoding="utf-8")
    print(f"figures written to {document}")


if __name__ == "__main__":
    regenerate()
