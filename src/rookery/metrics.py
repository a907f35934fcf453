"""What a Rookery process counts, for Prometheus (`GET /metrics`, `rookery.api.metrics`).

One `Metrics` per process, built by `rookery.app.open_resources` on a registry of its own (never
prometheus_client's global one, so that two apps in one test process do not share counts):

* `rookery_withings_notifications_total{appli, outcome}` — notifications received;
* `rookery_withings_calls_total{service, action, status_family}` and
  `rookery_withings_call_seconds{service, action}` — every request to Withings;
* `rookery_deliveries_total{kind, verdict}` — webhook attempts judged, and
  `rookery_delivery_latency_seconds{kind}` — from a delivery's creation to its successful send;
* `rookery_documents_total{result}` — documents stored as a new version or found unchanged;
* `rookery_jobs_total{kind, outcome}`, `rookery_job_queue_lag_seconds{kind}` (`JobMetrics`).

Counts are per process. `rookery serve` runs the API, the workers and the sender in one process
by default, so its `/metrics` covers everything. A deployment that also runs `rookery worker`
processes sees only the serving process's counts here (notifications, and whatever work that
process did itself): each worker keeps its own in memory, and serving them needs an exporter in
that process. prometheus_client's multiprocess mode is not used: it does not carry custom
collectors such as `JobMetrics`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram

from rookery.jobs.metrics import JobMetrics
from rookery.withings.client import Exchange
from rookery.withings.codes import status_family

# Withings puts `status` first in its envelope; reading the first bytes spares parsing the
# whole body (pages run to megabytes) a second time just to count it.
_ENVELOPE_STATUS: Final = re.compile(r'^\s*\{\s*"status"\s*:\s*(-?\d+)')
_STATUS_PREFIX_CHARS: Final = 64
NO_RESPONSE: Final = "no_response"
UNREADABLE: Final = "unreadable"

_LATENCY_BUCKETS_S: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)
_CALL_BUCKETS_S: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The process's instruments on `registry`; the `record_*` methods are what the code calls."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.jobs = JobMetrics()
        self.registry.register(self.jobs)
        self._notifications = Counter(
            "rookery_withings_notifications",
            "Withings notifications received, by appli and what was done with them.",
            ["appli", "outcome"],
            registry=self.registry,
        )
        self._withings_calls = Counter(
            "rookery_withings_calls",
            "Requests to Withings, by service, action and Withings status family.",
            ["service", "action", "status_family"],
            registry=self.registry,
        )
        self._withings_seconds = Histogram(
            "rookery_withings_call_seconds",
            "Duration of requests to Withings.",
            ["service", "action"],
            buckets=_CALL_BUCKETS_S,
            registry=self.registry,
        )
        self._deliveries = Counter(
            "rookery_deliveries",
            "Webhook delivery attempts, by delivery kind and verdict (delivered, retry, dead).",
            ["kind", "verdict"],
            registry=self.registry,
        )
        self._delivery_latency = Histogram(
            "rookery_delivery_latency_seconds",
            "Time from a delivery being created to the client accepting it.",
            ["kind"],
            buckets=_LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self._documents = Counter(
            "rookery_documents",
            "Documents stored: a new version, or unchanged (same fingerprint, nothing written).",
            ["result"],
            registry=self.registry,
        )

    def record_notification(self, appli: str, outcome: str) -> None:
        """Count one notification of `appli` (its code as sent) and what became of it."""
        self._notifications.labels(appli, outcome).inc()

    async def record_withings_call(self, exchange: Exchange) -> None:
        """Count one request to Withings (an `ExchangeRecorder`)."""
        self._withings_calls.labels(exchange.service, exchange.action, _family(exchange)).inc()
        self._withings_seconds.labels(exchange.service, exchange.action).observe(exchange.elapsed_s)

    def record_delivery(self, kind: str, verdict: str, latency: timedelta | None) -> None:
        """Count one judged attempt; `latency` (creation to acceptance) for a delivered one."""
        self._deliveries.labels(kind, verdict).inc()
        if latency is not None:
            self._delivery_latency.labels(kind).observe(max(latency.total_seconds(), 0.0))

    def record_documents(self, *, new_versions: int, unchanged: int) -> None:
        """Count documents stored as new versions and documents found unchanged."""
        if new_versions:
            self._documents.labels("new_version").inc(new_versions)
        if unchanged:
            self._documents.labels("unchanged").inc(unchanged)


def _family(exchange: Exchange) -> str:
    """The Withings status family of an exchange's answer (`ok`, `auth`, ...), or why none."""
    if exchange.http_status is None or exchange.response_text is None:
        return NO_RESPONSE
    match = _ENVELOPE_STATUS.match(exchange.response_text[:_STATUS_PREFIX_CHARS])
    if match is None:
        return UNREADABLE if exchange.http_status < 300 else f"http_{exchange.http_status // 100}xx"
    return status_family(int(match.group(1))).value
