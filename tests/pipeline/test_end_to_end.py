"""End to end over real HTTP on loopback: sandbox → Rookery (server + worker) → webhook receiver."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from rookery.config import Settings
from rookery.sandbox.synth import generate_population
from tests.pipeline.harness import (
    delivered_weights,
    deployment,
    new_user_id,
    now_utc,
    sandbox_weights,
    weights,
)

pytestmark = pytest.mark.timeout(180)

BACKFILL_DAYS = 5


def _when(document: dict[str, Any]) -> str:
    pillar = next(
        key for key in ("body_health", "physical_health", "sleep_health") if key in document
    )
    content = document[pillar]
    if "summary" in content:
        summary = next(iter(content["summary"].values()))
        return str(summary["metadata"]["datetime_string"])
    events = next(iter(content["events"].values()))
    return str(events[0]["metadata"]["datetime_string"])


def test_backfill_then_notifications(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    population = generate_population(2, 7, now_utc=now_utc(), history_days=BACKFILL_DAYS + 10)
    account = population.accounts[0]
    with deployment(make_settings, database_url, population, backfill_days=BACKFILL_DAYS) as stack:
        user_id = new_user_id()
        stack.link(user_id, account.userid)
        stack.wait_for(
            lambda: (
                stack.http.get(
                    f"{stack.rookery_url}/api/v1/client/users/{user_id}/sync", auth=stack.auth
                ).json()["backfill"]["status"]
                == "done"
            ),
            timeout_s=90,
            what="the backfill",
        )
        sync = stack.http.get(
            f"{stack.rookery_url}/api/v1/client/users/{user_id}/sync", auth=stack.auth
        ).json()
        assert sync["timezone"] == account.timezone
        # Field by field against the sandbox's own weigh-ins of the backfilled days.
        start_s = population.now_utc.timestamp() - BACKFILL_DAYS * 86_400
        expected = sandbox_weights(population, account.userid, start_s)
        assert expected, "the sandbox user has weigh-ins in the backfilled days"
        stack.wait_for(
            lambda: delivered_weights(stack.data()) == expected,
            what="every weigh-in delivered",
        )
        stack.settle()
        delivered = stack.data()
        structures = {document["data_structure"] for document in delivered}
        assert {"sleep_summary", "physical_summary", "body_metrics_event"} <= structures
        # Each document once: nothing delivered twice.
        keys = [(d["data_structure"], d["document_version"], _when(d)) for d in delivered]
        assert len(keys) == len(set(keys))


def _body_metrics(documents: list[dict[str, Any]], at: str) -> list[dict[str, Any]]:
    return [d for d in documents if d["data_structure"] == "body_metrics_event" and _when(d) == at]


def test_notifications_are_delivered_once_per_version(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    population = generate_population(1, 11, now_utc=now_utc(), history_days=3)
    account = population.accounts[0]
    with deployment(make_settings, database_url, population, backfill_days=1) as stack:
        user_id = new_user_id()
        stack.link(user_id, account.userid)
        stack.settle()
        before = len(stack.data())
        # A weigh-in taken now, notified twice by Withings (a re-delivery).
        stack.control("POST", "faults", kind="duplicate_notification", count=1)
        taken_s = int(stack.control("GET", "clock")["now"])
        answer = stack.control(
            "POST",
            f"users/{account.userid}/records",
            kind="measuregrps",
            record={"date": taken_s, "measures": [{"value": 81234, "type": 1, "unit": -3}]},
        )
        assert answer["notification"]["appli"] in (1, "1")
        group = population.user(account.userid).measuregrps[-1]
        assert group["date"] == taken_s
        started = time.monotonic()
        stack.wait_for(
            lambda: any(w == 81.234 for w in weights(stack.data()[before:]).values()),
            timeout_s=10,
            what="the new weigh-in",
        )
        latency_s = time.monotonic() - started
        assert latency_s < 5
        stack.settle()
        # The sync status tells when Withings last notified (read from the notifications).
        notified = datetime.fromisoformat(stack.sync(user_id)["last_notification_at"])
        assert abs(notified.timestamp() - time.time()) < 60
        new = stack.data()[before:]
        weighed = [d for d in new if d["data_structure"] == "body_metrics_event"]
        assert len(weighed) == 1, "the duplicate notification delivered nothing more"
        assert weighed[0]["document_version"] == 1
        at = _when(weighed[0])
        # The record changes: version 2, delivered once.
        stack.control(
            "PATCH",
            f"users/{account.userid}/records/measuregrps/{group['grpid']}",
            changes={"measures": [{"value": 80000, "type": 1, "unit": -3}]},
        )
        stack.wait_for(
            lambda: len(_body_metrics(stack.data(), at)) == 2, timeout_s=10, what="version 2"
        )
        stack.settle()
        versions = _body_metrics(stack.data(), at)
        assert [d["document_version"] for d in versions] == [1, 2]
        assert (
            versions[1]["body_health"]["events"]["body_metrics_event"][0]["body_metrics"][
                "weight_kg_float"
            ]
            == 80.0
        )
        # The query API returns what was delivered last.
        day = at[:10]
        read = stack.http.get(
            f"{stack.rookery_url}/v2/processed_data/body_health/events/body_metrics",
            params={"user_id": user_id, "date": day},
            auth=stack.auth,
        )
        assert read.status_code == 200, read.text
        events = read.json()["body_health"]["events"]["body_metrics_event"]
        assert versions[1]["body_health"]["events"]["body_metrics_event"][0] in events
