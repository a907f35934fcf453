"""A real Withings client nobody here wrote (aiowithings) reads everything the sandbox serves.

aiowithings always calls https://<api_host>:443, so the sandbox is served over TLS with a
throwaway certificate and aiohttp's resolver sends the sandbox host name to the loopback port.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx2
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from aiowithings import (
    ActivityDataFields,
    MeasurementType,
    NotificationCategory,
    SleepDataFields,
    SleepSummaryDataFields,
    WithingsClient,
    WorkoutDataFields,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from rookery.sandbox.server import create_sandbox_app
from rookery.sandbox.settings import SandboxSettings
from rookery.sandbox.synth import generate_population
from tests.sandbox.conftest import ALL_SCOPES, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, Running
from tests.sandbox.servers import Receiver, serve

HOST = "wbsapi.sandbox.test"
NOW = dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC)


def _certificate(folder: Path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
        .not_valid_after(dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = folder / "key.pem", folder / "cert.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(key_path), str(cert_path)


class _ToLoopback(AbstractResolver):
    def __init__(self, port: int) -> None:
        self._port = port

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        assert host == HOST
        return [
            {
                "hostname": host,
                "host": "127.0.0.1",
                "port": self._port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        return None


@pytest.fixture(scope="module")
def tls_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    keyfile, certfile = _certificate(tmp_path_factory.mktemp("tls"))
    population = generate_population(3, seed=7, now_utc=NOW, history_days=30)
    settings = SandboxSettings(clock_speed=0.0, start_at_epoch=NOW.timestamp())
    app = create_sandbox_app(settings, population)
    with (
        serve(app, ssl_keyfile=keyfile, ssl_certfile=certfile) as url,
        httpx2.Client(base_url=url, verify=False, timeout=10) as http,
    ):
        yield Running(url, http, app.sandbox)


async def _read_everything(port: int, token: str, callback: str) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(resolver=_ToLoopback(port), ssl=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        client = WithingsClient(session=session, api_host=HOST)
        client.authenticate(token)
        start, end = NOW - dt.timedelta(days=30), NOW
        await client.subscribe_notification(callback, NotificationCategory.WEIGHT)
        return {
            "devices": await client.get_devices(),
            "goals": await client.get_goals(),
            "measures_since": await client.get_measurement_since(start),
            "measures_period": await client.get_measurement_in_period(start, end),
            "activities_since": await client.get_activities_since(start),
            "activities_period": await client.get_activities_in_period(start.date(), end.date()),
            "workouts_since": await client.get_workouts_since(start),
            "workouts_period": await client.get_workouts_in_period(start.date(), end.date()),
            "sleep": await client.get_sleep(end - dt.timedelta(hours=20), end),
            "sleep_summary_since": await client.get_sleep_summary_since(start),
            "sleep_summary_period": await client.get_sleep_summary_in_period(
                start.date(), end.date()
            ),
            "subscriptions": await client.list_notification_configurations(),
        }


async def _read_every_field(port: int, token: str, callback: str) -> dict[str, Any]:
    """The same reads asking for every data field aiowithings knows (the richest bodies), with
    a type filter, and the rest of the Notify API (list by appli, revoke)."""
    connector = aiohttp.TCPConnector(resolver=_ToLoopback(port), ssl=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        client = WithingsClient(session=session, api_host=HOST)
        client.authenticate(token)
        start, end = NOW - dt.timedelta(days=30), NOW
        await client.subscribe_notification(callback, NotificationCategory.SLEEP)
        listed = await client.list_notification_configurations(NotificationCategory.SLEEP)
        await client.revoke_notification_configurations(callback, NotificationCategory.SLEEP)
        return {
            "weights": await client.get_measurement_since(start, [MeasurementType.WEIGHT]),
            "activities": await client.get_activities_since(start, list(ActivityDataFields)),
            "workouts": await client.get_workouts_since(start, list(WorkoutDataFields)),
            "sleep": await client.get_sleep(
                end - dt.timedelta(hours=20), end, list(SleepDataFields)
            ),
            "sleep_summary": await client.get_sleep_summary_since(
                start, list(SleepSummaryDataFields)
            ),
            "listed": listed,
            "after_revoke": await client.list_notification_configurations(),
        }


def test_aiowithings_parses_every_endpoint(tls_sandbox: Running) -> None:
    sandbox = tls_sandbox
    users = sandbox.control("GET", "users")["users"]
    hooks: list[Any] = []
    for user in users:
        body = sandbox.api(
            "/v2/oauth2",
            action="requesttoken",
            grant_type="authorization_code",
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            code=sandbox.authorize(user["userid"], ALL_SCOPES),
            redirect_uri=REDIRECT_URI,
        )["body"]
        port = urlsplit(sandbox.url).port
        assert port is not None
        with serve(Receiver()) as hook_url:
            read = asyncio.run(_read_everything(port, body["access_token"], f"{hook_url}/hook"))
        hooks.append(read)
        assert read["measures_since"], user
        assert read["measures_period"]
        assert read["activities_since"]
        assert read["sleep_summary_since"]
        assert [s.callback_url for s in read["subscriptions"]] == [f"{hook_url}/hook"]
    # Across the population every kind of data shows up at least once.
    assert any(r["workouts_since"] for r in hooks)
    assert any(r["sleep"] for r in hooks)
    assert any(r["devices"] for r in hooks)


def test_aiowithings_parses_every_field_and_control_added_records(tls_sandbox: Running) -> None:
    sandbox = tls_sandbox
    userid = sandbox.control("GET", "users")["users"][0]["userid"]
    start = int(NOW.timestamp()) - 8 * 3600
    # Records added with only their required fields (as docs/sandbox.md shows) parse too.
    minimal = {
        "sleep_summaries": {
            "startdate": start,
            "enddate": start + 7 * 3600,
            "date": NOW.date().isoformat(),
            "data": {"total_timeinbed": 25_200, "total_sleep_time": 25_200,
                     "lightsleepduration": 25_200},
        },
        "activities": {"date": NOW.date().isoformat(), "steps": 4321},
        "workouts": {"category": 1, "startdate": start - 3600, "enddate": start - 1800,
                     "date": NOW.date().isoformat(), "data": {"calories": 120}},
        "measuregrps": {"date": start, "measures": [{"value": 8125, "type": 1, "unit": -2}]},
    }  # fmt: skip
    for kind, record in minimal.items():
        sandbox.control("POST", f"users/{userid}/records", kind=kind, record=record)
    token = sandbox.tokens(userid)["access_token"]
    raw = {
        "sleep": sandbox.api("/v2/sleep", token, action="get", startdate=start - 12 * 3600,
                             enddate=start + 8 * 3600, data_fields=",".join(SleepDataFields)),
        "workouts": sandbox.api("/v2/measure", token, action="getworkouts", lastupdate=0),
        "activities": sandbox.api("/v2/measure", token, action="getactivity", lastupdate=0),
        "sleep_summary": sandbox.api("/v2/sleep", token, action="getsummary", lastupdate=0),
    }  # fmt: skip
    port = urlsplit(sandbox.url).port
    assert port is not None
    with serve(Receiver()) as hook_url:
        read = asyncio.run(_read_every_field(port, token, f"{hook_url}/hook"))
        assert [c.callback_url for c in read["listed"]] == [f"{hook_url}/hook"]
    assert NotificationCategory.SLEEP not in {c.notification_category for c in read["after_revoke"]}
    assert read["weights"]
    assert all(m.measurement_type is MeasurementType.WEIGHT for g in read["weights"]
               for m in g.measurements)  # fmt: skip
    assert any(s.heart_rate for s in read["sleep"])
    assert len(read["sleep"]) == len(raw["sleep"]["body"]["series"])
    assert start in {int(s.start_date.timestamp()) for s in read["sleep_summary"]}
    assert any(s.average_heart_rate for s in read["sleep_summary"])
    assert 4321 in {a.steps for a in read["activities"]}
    assert len(read["activities"]) == len(raw["activities"]["body"]["activities"])
    assert len(read["workouts"]) == len(raw["workouts"]["body"]["series"])
    assert len(read["sleep_summary"]) == len(raw["sleep_summary"]["body"]["series"])
