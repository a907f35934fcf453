"""The whole deployment on loopback for the pipeline's end-to-end tests and its benchmark:
the Withings sandbox, Rookery's HTTP server, a worker (with the delivery sender) and a webhook
receiver, each a real server or loop in its own thread, talking real HTTP.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx2
from sqlalchemy.ext.asyncio import AsyncSession

from rookery.app import create_app, open_resources
from rookery.config import Settings
from rookery.connections import jobs as connection_jobs
from rookery.delivery.sender import open_sender
from rookery.jobs.handlers import all_handlers
from rookery.jobs.kinds import JobKind
from rookery.jobs.registry import Registry
from rookery.jobs.worker import run_jobs
from rookery.pipeline.status import work_due
from rookery.sandbox.server import create_sandbox_app
from rookery.sandbox.settings import SandboxSettings
from rookery.sandbox.synth import Population
from rookery.store.clients import NewClient, create_client, set_data_source_enabled
from rookery.store.engine import create_engine, session_factory
from rookery.store.enums import DataSource
from rookery.store.migrate import upgrade
from tests.delivery.receiver import Receiver
from tests.jobs.conftest import process_environ
from tests.sandbox.servers import loopback_listener, serve_on

T = TypeVar("T")

REPOSITORY = Path(__file__).resolve().parents[2]
DATA_PATH = "/data"
EVENTS_PATH = "/events"


def registry() -> Registry:
    """Every handler the pipeline needs: the deployment's, plus the linking package's
    subscribe/revoke jobs for as long as `all_handlers` does not list them itself."""
    handlers = all_handlers()
    if JobKind.WITHINGS_SUBSCRIBE not in handlers.handlers:
        connection_jobs.register_jobs(handlers)
    return handlers


class WorkerThread:
    """A Rookery worker, scheduler and delivery sender in their own thread and loop."""

    def __init__(self, settings: Settings, *, concurrency: int = 4) -> None:
        self._settings = settings
        self._concurrency = concurrency
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> WorkerThread:
        self._thread.start()
        if not self._started.wait(15):
            raise RuntimeError("the worker did not start")
        return self

    def __exit__(self, *_: object) -> None:
        if self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(timeout=15)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._task = self._loop.create_task(self._main())
        try:
            self._loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        finally:
            self._loop.close()

    async def _main(self) -> None:
        async with open_resources(self._settings) as resources, open_sender(resources):
            self._started.set()
            await run_jobs(resources, registry=registry(), concurrency=self._concurrency)


@dataclass
class Deployment:
    """Everything running, with the handles a test needs."""

    settings: Settings
    population: Population
    sandbox_url: str
    rookery_url: str
    receiver: Receiver
    client: NewClient
    http: httpx2.Client
    environ: dict[str, str]
    """The environment of a child process that runs with these settings (`rookery worker`)."""

    @property
    def auth(self) -> tuple[str, str]:
        """The client's Basic-auth credentials."""
        return str(self.client.client_uuid), self.client.secret_key

    def control(self, method: str, endpoint: str, /, **json: Any) -> Any:
        """Call a sandbox control endpoint; the decoded answer."""
        response = self.http.request(
            method, f"{self.sandbox_url}/_sandbox/{endpoint}", json=json or None
        )
        assert response.status_code == 200, response.text
        return response.json()

    def link(self, user_id: str, withings_userid: int) -> None:
        """Link `user_id` to sandbox account `withings_userid` through the real consent flow:
        Rookery's authorizer, the sandbox consent form, Rookery's OAuth callback."""
        answer = self.http.get(
            f"{self.rookery_url}/api/v1/user_id/{user_id}/data_source/Withings/authorizer",
            auth=self.auth,
        )
        assert answer.status_code == 200, answer.text
        consent = urlsplit(answer.json()["authorization_url"])
        query = {key: values[0] for key, values in parse_qs(consent.query).items()}
        form: dict[str, Any] = {
            **query,
            "userid": str(withings_userid),
            "decision": "allow",
            "granted": query["scope"].split(","),
        }
        decided = self.http.post(f"{self.sandbox_url}{consent.path}", data=form)
        assert decided.status_code == 302, decided.text
        landed = self.http.get(decided.headers["location"])
        assert landed.status_code == 303, landed.text
        assert "result=connected" in landed.headers["location"], landed.headers["location"]

    def query(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run `work(session)` in one committed transaction on the deployment's database."""

        async def run() -> T:
            engine = create_engine(self.settings.database_url)
            try:
                async with session_factory(engine).begin() as session:
                    return await work(session)
            finally:
                await engine.dispose()

        result: T = _run(run())
        return result

    def calls(self) -> list[dict[str, Any]]:
        """The sandbox's call log (only Rookery calls it; faulted calls name no client)."""
        answer = self.control("GET", "calls")
        return list(answer["calls"])

    def subscriptions(self, withings_userid: int) -> list[dict[str, Any]]:
        """The sandbox's subscriptions of one account."""
        users = self.control("GET", "users")["users"]
        (user,) = [user for user in users if user["userid"] == withings_userid]
        return list(user["subscriptions"])

    def sync(self, user_id: str) -> dict[str, Any]:
        """Rookery's sync status of the client's user."""
        answer = self.http.get(
            f"{self.rookery_url}/api/v1/client/users/{user_id}/sync", auth=self.auth
        )
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def wait_backfill(self, user_id: str, *, timeout_s: float = 120.0) -> None:
        """Wait until the user's backfill is done."""
        self.wait_for(
            lambda: self.sync(user_id)["backfill"]["status"] == "done",
            timeout_s=timeout_s,
            what="the backfill",
        )

    def data(self) -> list[dict[str, Any]]:
        """The documents the receiver got, decoded, in arrival order."""
        import json

        return [json.loads(r.body) for r in self.receiver.received(DATA_PATH)]

    def events(self) -> list[dict[str, Any]]:
        """The client events the receiver got, decoded."""
        import json

        return [json.loads(r.body) for r in self.receiver.received(EVENTS_PATH)]

    def settle(self, *, timeout_s: float = 120.0) -> None:
        """Wait until no fetch is queued or running and no delivery is waiting to be sent."""
        self.wait_for(lambda: _run(self._busy()) == 0, timeout_s=timeout_s, what="quiet")

    async def _busy(self) -> int:
        engine = create_engine(self.settings.database_url)
        try:
            async with session_factory(engine)() as session:
                return await work_due(session)
        finally:
            await engine.dispose()

    def wait_for(
        self, predicate: Callable[[], bool], *, timeout_s: float = 30.0, what: str = "condition"
    ) -> None:
        """Poll `predicate` until it holds; fail after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
            time.sleep(0.05)


def start_worker(
    stack: Deployment, *, lease_s: float = 3.0, wait_ready: bool = True
) -> subprocess.Popen[bytes]:
    """A worker process (`tests.pipeline.worker_process`) on the deployment's database; with
    `wait_ready`, once it runs (otherwise it may still be starting: killing it then is a
    kill during start-up)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.pipeline.worker_process", str(lease_s)],
        cwd=REPOSITORY,
        env=stack.environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    if wait_ready:
        assert process.stdout.readline() == b"ready\n"
    return process


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    """Stop a worker process (SIGTERM, then SIGKILL), if it still runs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)
    if process.stdout is not None:
        process.stdout.close()


def _run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def _new_client(settings: Settings, receiver_url: str) -> NewClient:
    from rookery.store.crypto import load_cipher

    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine).begin() as session:
            client = await create_client(
                session,
                load_cipher(settings),
                name="pipeline test",
                data_webhook_url=receiver_url + DATA_PATH,
                notification_webhook_url=receiver_url + EVENTS_PATH,
            )
            await set_data_source_enabled(
                session, client.client_uuid, DataSource.WITHINGS, True, actor="test"
            )
        return client
    finally:
        await engine.dispose()


@contextmanager
def deployment(
    make_settings: Callable[..., Settings],
    database_url: str,
    population: Population,
    *,
    sandbox_rate_limit: int = 120,
    with_worker: bool = True,
    **overrides: Any,
) -> Iterator[Deployment]:
    """Start the sandbox (clock running from `population.now_utc`), Rookery against it, a
    worker and a receiver; stop them all on exit."""
    with ExitStack() as stack:
        sandbox_sock, sandbox_url = loopback_listener()
        rookery_sock, rookery_url = loopback_listener()
        receiver_sock, receiver_url = loopback_listener()
        fields = {
            "public_url": rookery_url,
            "withings_api_url": sandbox_url,
            "withings_authorize_url": f"{sandbox_url}/oauth2_user/authorize2",
            **overrides,
        }
        settings = make_settings(database_url, **fields)
        _run(upgrade(settings.database_url))
        sandbox_settings = SandboxSettings(
            clock_speed=1.0,
            start_at_epoch=population.now_utc.timestamp(),
            rate_limit_per_minute=sandbox_rate_limit,
            seed=population.seed,
        )
        stack.enter_context(
            serve_on(create_sandbox_app(sandbox_settings, population), sandbox_sock)
        )
        receiver = Receiver()
        stack.enter_context(serve_on(receiver, receiver_sock))
        stack.enter_context(serve_on(create_app(settings), rookery_sock))
        if with_worker:
            stack.enter_context(WorkerThread(settings))
        http = stack.enter_context(httpx2.Client(timeout=30))
        client = _run(_new_client(settings, receiver_url))
        yield Deployment(
            settings=settings,
            population=population,
            sandbox_url=sandbox_url,
            rookery_url=rookery_url,
            receiver=receiver,
            client=client,
            http=http,
            environ={
                **process_environ(settings),
                **{f"ROOKERY_{name.upper()}": str(value) for name, value in fields.items()},
            },
        )


def weights(documents: list[dict[str, Any]]) -> dict[str, float]:
    """datetime_string → weight of the delivered body_metrics events (the latest version)."""
    out: dict[str, float] = {}
    for document in documents:
        if document.get("data_structure") != "body_metrics_event":
            continue
        for event in document["body_health"]["events"]["body_metrics_event"]:
            weight = event["body_metrics"]["weight_kg_float"]
            if weight is not None:
                out[event["metadata"]["datetime_string"]] = weight
    return out


def sandbox_weights(population: Population, withings_userid: int, since_s: float) -> list[Decimal]:
    """The sandbox account's weigh-ins (kg) since `since_s` that Rookery keeps (the user's own,
    not ambiguous), sorted."""
    user = population.user(withings_userid)
    return sorted(
        Decimal(m["value"]).scaleb(m["unit"])
        for group in user.measuregrps
        if group["date"] >= since_s and group["attrib"] in (0, 2, 4, 8)
        for m in group["measures"]
        if m["type"] == 1
    )


def delivered_weights(documents: list[dict[str, Any]]) -> list[Decimal]:
    """The delivered weigh-ins (kg), sorted."""
    return sorted(Decimal(str(w)) for w in weights(documents).values())


def now_utc() -> datetime:
    """The current instant, whole seconds (what the sandbox population is generated at)."""
    return datetime.fromtimestamp(int(time.time()), UTC)


def new_user_id() -> str:
    """A fresh client user id."""
    return f"user-{uuid.uuid4().hex[:12]}"
