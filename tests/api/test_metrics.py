"""`GET /metrics`: who may read it, and that what the process does shows in it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx2
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from rookery.app import create_app, open_resources
from rookery.config import Settings
from rookery.connections.context import ConnectionContext
from rookery.connections.deployment import notify_token
from rookery.metrics import Metrics
from rookery.store.crypto import TokenCipher
from rookery.withings.client import Exchange
from rookery.withings.errors import WithingsRateLimited
from tests.conftest import SettingsFactory

pytestmark = pytest.mark.anyio

ADMIN_TOKEN = "operator-only-0123456789"


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture
async def guarded(
    make_settings: SettingsFactory, database_url: str, engine: AsyncEngine
) -> AsyncIterator[tuple[FastAPI, httpx2.AsyncClient]]:
    """The app with `ROOKERY_ADMIN_TOKEN` set, and a client talking to it in-process."""
    app = create_app(make_settings(database_url, admin_token=ADMIN_TOKEN))
    async with (
        app.router.lifespan_context(app),
        httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1:8000"
        ) as client,
    ):
        yield app, client


async def test_without_an_admin_token_only_loopback_peers_are_answered(
    api: httpx2.AsyncClient, app: FastAPI
) -> None:
    local = await api.get("/metrics")
    assert local.status_code == 200
    assert local.headers["content-type"].startswith("text/plain")
    names = {family.name for family in text_string_to_metric_families(local.text)}
    assert {
        "rookery_jobs",
        "rookery_withings_notifications",
        "rookery_withings_calls",
        "rookery_deliveries",
        "rookery_delivery_latency_seconds",
        "rookery_documents",
    } <= names

    remote = httpx2.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx2.AsyncClient(transport=remote, base_url="http://rookery.example") as far:
        refused = await far.get("/metrics")
    assert refused.status_code == 401
    assert "rookery_" not in refused.text


async def test_with_an_admin_token_the_bearer_must_match(
    guarded: tuple[FastAPI, httpx2.AsyncClient],
) -> None:
    _, client = guarded
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {ADMIN_TOKEN}"},
        {"Authorization": f"Bearer {ADMIN_TOKEN}x"},
    ):
        refused = await client.get("/metrics", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.headers["www-authenticate"].startswith("Bearer")
    allowed = await client.get("/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert allowed.status_code == 200
    assert "rookery_jobs" in allowed.text


async def test_a_notification_is_counted_by_appli_and_outcome(
    api: httpx2.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    cipher: TokenCipher,
) -> None:
    async with sessions.begin() as session:
        token = await notify_token(session, cipher)
    for _ in range(2):
        answer = await api.post(
            f"/withings/notify?token={token}",
            data={
                "userid": "424242",
                "appli": "44",
                "startdate": "1699999200",
                "enddate": "1700027400",
            },
        )
        assert answer.status_code == 200

    samples = _samples((await api.get("/metrics")).text)

    key = (
        "rookery_withings_notifications_total",
        (("appli", "44"), ("outcome", "unknown_account")),
    )
    assert samples[key] == 2


async def test_every_withings_call_of_a_connection_context_is_counted(settings: Settings) -> None:
    answers = iter(
        [
            httpx2.Response(200, json={"status": 0, "body": {"devices": []}}),
            httpx2.Response(200, json={"status": 601, "body": {"wait_seconds": 10}}),
        ]
    )
    transport = httpx2.MockTransport(lambda request: next(answers))
    async with open_resources(settings, http_transport=transport) as resources:
        ctx = ConnectionContext.from_resources(resources)
        await ctx.withings.getdevice("token")
        with pytest.raises(WithingsRateLimited):
            await ctx.withings.getdevice("token")
        registry = resources.metrics.registry

    labels = {"service": "/v2/user", "action": "getdevice"}
    assert (
        registry.get_sample_value("rookery_withings_calls_total", {**labels, "status_family": "ok"})
        == 1
    )
    assert (
        registry.get_sample_value(
            "rookery_withings_calls_total", {**labels, "status_family": "too_many_requests"}
        )
        == 1
    )
    assert registry.get_sample_value("rookery_withings_call_seconds_count", labels) == 2


def _exchange(http_status: int | None, text: str | None) -> Exchange:
    return Exchange(
        service="measure",
        action="getmeas",
        params={},
        http_status=http_status,
        response_text=text,
        elapsed_s=0.2,
        started_at_utc=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )


@pytest.mark.parametrize(
    ("http_status", "text", "family"),
    [
        (200, json.dumps({"status": 0, "body": {}}), "ok"),
        (200, '{"status":401,"error":"invalid_token"}', "auth_failed"),
        (200, '  {"status": 293}', "invalid_params"),
        (None, None, "no_response"),
        (502, "<html>Bad gateway</html>", "http_5xx"),
        (200, '{"body": {}, "status": 0}', "unreadable"),
    ],
)
async def test_a_call_is_labelled_by_its_withings_status_family(
    http_status: int | None, text: str | None, family: str
) -> None:
    metrics = Metrics()

    await metrics.record_withings_call(_exchange(http_status, text))

    assert (
        metrics.registry.get_sample_value(
            "rookery_withings_calls_total",
            {"service": "measure", "action": "getmeas", "status_family": family},
        )
        == 1
    )


def test_deliveries_and_documents_are_counted() -> None:
    metrics = Metrics()

    metrics.record_delivery("data", "retry", None)
    metrics.record_delivery("data", "delivered", timedelta(seconds=3))
    metrics.record_documents(new_versions=2, unchanged=5)
    metrics.jobs.record_lag("pipeline.fetch", 1.5)

    get = metrics.registry.get_sample_value
    assert get("rookery_deliveries_total", {"kind": "data", "verdict": "retry"}) == 1
    assert get("rookery_deliveries_total", {"kind": "data", "verdict": "delivered"}) == 1
    assert get("rookery_delivery_latency_seconds_count", {"kind": "data"}) == 1
    assert get("rookery_delivery_latency_seconds_sum", {"kind": "data"}) == 3
    assert get("rookery_documents_total", {"result": "new_version"}) == 2
    assert get("rookery_documents_total", {"result": "unchanged"}) == 5
    assert get("rookery_job_queue_lag_seconds_count", {"kind": "pipeline.fetch"}) == 1
