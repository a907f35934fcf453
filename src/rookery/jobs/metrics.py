"""Counts of what a worker did, ready for Prometheus: register a `JobMetrics` with a
`prometheus_client.CollectorRegistry` (it is a collector) when `/metrics` serves them."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from enum import StrEnum

from prometheus_client.core import CounterMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector


class Outcome(StrEnum):
    """What happened to a job a worker claimed."""

    CLAIMED = "claimed"
    DONE = "done"
    # Retry(after_s): deferred on purpose, no failure counted.
    DEFERRED = "deferred"
    # Failed, queued again with backoff.
    RETRIED = "retried"
    PARKED = "parked"
    # Given back unfinished when the worker stopped.
    RELEASED = "released"
    # The lease expired under the worker; another may have taken the job.
    LOST = "lost"


class JobMetrics(Collector):
    """Per-process counters: jobs by (kind, outcome), and queue lag (due → claimed) by kind."""

    def __init__(self) -> None:
        self.outcomes: Counter[tuple[str, Outcome]] = Counter()
        self.lag_count: Counter[str] = Counter()
        self.lag_sum_s: defaultdict[str, float] = defaultdict(float)

    def record(self, kind: str, outcome: Outcome) -> None:
        """Count one `outcome` of a job of `kind`."""
        self.outcomes[kind, outcome] += 1

    def record_lag(self, kind: str, lag_s: float) -> None:
        """Count a claim that came `lag_s` seconds after the job was due."""
        self.lag_count[kind] += 1
        self.lag_sum_s[kind] += max(lag_s, 0.0)

    def collect(self) -> Iterator[Metric]:
        """The counters as Prometheus metric families."""
        jobs = CounterMetricFamily(
            "rookery_jobs", "Jobs handled by this process.", labels=["kind", "outcome"]
        )
        for (kind, outcome), count in sorted(self.outcomes.items()):
            jobs.add_metric([kind, outcome.value], count)
        yield jobs
        lag = SummaryMetricFamily(
            "rookery_job_queue_lag_seconds",
            "Time from a job being due to a worker claiming it.",
            labels=["kind"],
        )
        for kind, count in sorted(self.lag_count.items()):
            lag.add_metric([kind], count_value=count, sum_value=self.lag_sum_s[kind])
        yield lag
