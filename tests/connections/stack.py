"""Rookery and the Withings sandbox, each served over real HTTP on loopback, wired together.

`start_stack` serves the sandbox (frozen clock, started at the real time so that both sides
agree on token expiry), then Rookery with its public URL, Withings API URL and consent page
pointing at them. Helpers drive what a user's browser does (page, Connect, consent, callback),
run the connection jobs, and read the database.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
from fastapi import FastAPI, Response
from sqlalchemy import select

from rookery.app import Resources, create_app
from rookery.config import Settings
from rookery.connections.context import ConnectionContext
from rookery.connections.jobs import register_jobs
from rookery.jobs import queue, ratelimit
from rookery.jobs.kinds import JobKind
from rookery.jobs.registry import JobContext, Park, Registry, Retry
from rookery.sandbox.server import Sandbox, create_sandbox_app
from rookery.sandbox.settings import SandboxSettings
from rookery.store.clients import NewClient, create_client
from rookery.store.migrate import upgrade
from rookery.store.tables import Delivery, Job, RateLimit, User, WithingsConnection
from tests.jobs.conftest import process_environ
from tests.sandbox.factories import make_world
from tests.sandbox.servers import loopback_listener, serve, serve_on

SettingsFactory = Callable[..., Settings]
CONNECTION_KINDS = (JobKind.WITHINGS_SUBSCRIBE, JobKind.WITHINGS_REVOKE)
WITHINGS_USER = 1001


@dataclass
class Stack:
    """Rookery and the sandbox, running."""

    rookery_url: str
    sandbox_url: str
    sandbox: Sandbox
    settings: Settings

    def sandbox_now(self) -> datetime:
        """The sandbox's clock, as an aware datetime (Rookery's clock in token tests)."""
        return datetime.fromtimestamp(self.sandbox.clock.now(), UTC)

    def advance(self, seconds: float) -> None:
        """Move the sandbox clock."""
        response = httpx2.post(f"{self.sandbox_url}/_sandbox/clock", json={"advance_s": seconds})
        assert response.status_code == 200, response.text

    def control(self, method: str, endpoint: str, **json: Any) -> dict[str, Any]:
        """Call a sandbox control endpoint."""
        response = httpx2.request(
            method, f"{self.sandbox_url}/_sandbox/{endpoint}", json=json or None
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def calls(self, action: str, path: str = "/v2/oauth2") -> list[dict[str, Any]]:
        """The sandbox's logged calls of `action` on `path`."""
        return [
            call
            for call in self.control("GET", "calls")["calls"]
            if call["action"] == action and call["path"] == path
        ]

    def sandbox_user(self, userid: int = WITHINGS_USER) -> dict[str, Any]:
        """The sandbox's view of a user: live tokens and subscriptions."""
        users = self.control("GET", "users")["users"]
        found: dict[str, Any] = next(user for user in users if user["userid"] == userid)
        return found

    def process_environ(self) -> dict[str, str]:
        """The environment of a child Rookery process on this stack's database, keys and sandbox."""
        return {
            **process_environ(self.settings),
            "ROOKERY_PUBLIC_URL": self.rookery_url,
            "ROOKERY_WITHINGS_API_URL": self.sandbox_url,
        }

    def context(self, resources: Resources) -> ConnectionContext:
        """A connection context on `resources` whose clock is the sandbox's."""
        return ConnectionContext.from_resources(resources, clock=self.sandbox_now)


def _notify_stand_in(app: FastAPI) -> None:
    """Withings HEAD-probes the callback on every subscribe. The notify endpoint belongs to the
    pipeline; until the app has one, a stand-in answers the probe (and nothing else)."""
    if any(getattr(route, "path", None) == "/withings/notify" for route in app.routes):
        return

    async def probe() -> Response:
        return Response(status_code=200)

    app.add_api_route("/withings/notify", probe, methods=["HEAD", "GET"])


def start_stack(
    stack: ExitStack, make_settings: SettingsFactory, database_url: str, **overrides: Any
) -> Stack:
    """Serve the sandbox and Rookery (on `database_url`, migrated) until `stack` closes."""
    sandbox_app = create_sandbox_app(
        SandboxSettings(clock_speed=0.0, start_at_epoch=time.time()), make_world()
    )
    sandbox_url = stack.enter_context(serve(sandbox_app))
    sock, rookery_url = loopback_listener()
    settings = make_settings(
        database_url,
        public_url=rookery_url,
        withings_api_url=sandbox_url,
        withings_authorize_url=f"{sandbox_url}/oauth2_user/authorize2",
        **overrides,
    )
    try:
        asyncio.run(upgrade(settings.database_url))
        app = create_app(settings)
        _notify_stand_in(app)
    except BaseException:
        sock.close()
        raise
    stack.enter_context(serve_on(app, sock))
    return Stack(rookery_url, sandbox_url, sandbox_app.sandbox, settings)


async def new_client(resources: Resources, name: str = "Acme Health") -> NewClient:
    """A committed client."""
    async with resources.sessions.begin() as session:
        return await create_client(session, resources.cipher, name=name)


async def enable_withings(stack: Stack, client: NewClient, enabled: bool = True) -> None:
    """Step 1: the client enables Withings through the API."""
    async with httpx2.AsyncClient(base_url=stack.rookery_url) as http:
        response = await http.put(
            "/api/v1/client/data_sources/Withings",
            json={"enabled": enabled},
            auth=(str(client.client_uuid), client.secret_key),
        )
    assert response.status_code == 200, response.text


def page_path(client: NewClient, user_id: str) -> str:
    """The connections page of a user."""
    return f"/connections/client_uuid/{client.client_uuid}/user_id/{user_id}"


def form_token_of(html: str) -> str:
    """The form token in a rendered page."""
    match = re.search(r'name="token" value="([^"]+)"', html)
    assert match is not None, html
    return match.group(1)


@dataclass
class Browser:
    """What a user's browser does, without JavaScript: follows no redirect by itself."""

    stack: Stack
    http: httpx2.AsyncClient

    async def open_page(self, client: NewClient, user_id: str, **query: str) -> httpx2.Response:
        """GET the connections page."""
        return await self.http.get(
            self.stack.rookery_url + page_path(client, user_id), params=query
        )

    async def connect(self, client: NewClient, user_id: str, **query: str) -> str:
        """Open the page and press Connect: the consent page URL Rookery sends the user to."""
        page = await self.open_page(client, user_id, **query)
        assert page.status_code == 200, page.text
        form = {"token": form_token_of(page.text), **query}
        response = await self.http.post(
            self.stack.rookery_url + page_path(client, user_id) + "/connect", data=form
        )
        assert response.status_code == 303, response.text
        location = response.headers["location"]
        assert location.startswith(self.stack.sandbox_url + "/oauth2_user/authorize2?")
        return location

    async def consent(
        self, authorize_url: str, decision: str = "allow", granted: list[str] | None = None
    ) -> str:
        """Decide on the sandbox's consent page (granting `granted`, by default every scope
        asked for): the callback URL Withings redirects to."""
        params = {key: values[0] for key, values in parse_qs(urlsplit(authorize_url).query).items()}
        form: dict[str, str | list[str]] = {
            **params,
            "userid": str(WITHINGS_USER),
            "decision": decision,
            "granted": params["scope"].split(",") if granted is None else granted,
        }
        response = await self.http.post(
            f"{self.stack.sandbox_url}/oauth2_user/authorize2", data=form
        )
        assert response.status_code == 302, response.text
        location: str = response.headers["location"]
        return location

    async def callback(self, callback_url: str) -> httpx2.Response:
        """Arrive at Rookery's callback."""
        return await self.http.get(callback_url)

    async def link(
        self, client: NewClient, user_id: str, decision: str = "allow", **query: str
    ) -> str:
        """The whole consent: where the callback finally sends the user."""
        callback = await self.callback(
            await self.consent(await self.connect(client, user_id, **query), decision)
        )
        assert callback.status_code == 303, callback.text
        location: str = callback.headers["location"]
        return location


async def run_connection_jobs(resources: Resources) -> list[str]:
    """Run every due job of the connection kinds once, as a worker would; the outcomes."""
    registry = Registry()
    register_jobs(registry)
    outcomes: list[str] = []
    owner = f"test-{uuid.uuid4()}"
    async with resources.sessions.begin() as session:
        jobs = await queue.claim(
            session, owner=owner, kinds=[str(k) for k in CONNECTION_KINDS], limit=100, lease_s=60
        )
    for job in jobs:
        ctx = JobContext(resources, job_id=job.id, owner=owner)
        try:
            await registry.handlers[job.kind].handler(ctx, job)
        except Retry as retry:
            async with resources.sessions.begin() as session:
                await queue.defer(
                    session, job.id, owner=owner, after_s=retry.after_s, reason=retry.reason
                )
            outcomes.append(f"{job.kind}: retry ({retry.reason})")
            continue
        except Park as parked:
            async with resources.sessions.begin() as session:
                await queue.park(session, job.id, owner=owner, reason=parked.reason)
            outcomes.append(f"{job.kind}: parked ({parked.reason})")
            continue
        except Exception as failure:
            async with resources.sessions.begin() as session:
                await queue.fail(session, job, owner=owner, error=repr(failure), retry_after_s=0)
            outcomes.append(f"{job.kind}: failed ({type(failure).__name__})")
            continue
        async with resources.sessions.begin() as session:
            await queue.complete(session, job.id, owner=owner)
        outcomes.append(f"{job.kind}: done")
    return outcomes


async def connection_row(
    resources: Resources, client: NewClient, user_id: str
) -> WithingsConnection | None:
    """The stored connection of a client's user."""
    async with resources.sessions() as session:
        return await session.scalar(
            select(WithingsConnection)
            .join(User, User.id == WithingsConnection.user_pk)
            .where(User.client_id == client.client_uuid, User.user_id == user_id)
        )


async def client_events(resources: Resources, client: NewClient) -> list[tuple[str, str]]:
    """(user_id, event) of the client's notification-webhook deliveries, oldest first."""
    async with resources.sessions() as session:
        rows = await session.execute(
            select(Delivery.user_id, Delivery.event)
            .where(Delivery.client_id == client.client_uuid, Delivery.event.is_not(None))
            .order_by(Delivery.created_at)
        )
        return [(user_id, str(event)) for user_id, event in rows.all()]


async def window_grants(resources: Resources) -> int:
    """How many Withings calls the deployment's rate limit counts in its current window."""
    async with resources.sessions() as session:
        grants = await session.scalar(
            select(RateLimit.recent_grants_epoch_s).where(RateLimit.name == ratelimit.WITHINGS)
        )
    return ratelimit.used_in_window(grants or [], time.time())


async def queued_kinds(resources: Resources) -> list[str]:
    """The kinds of the queued jobs."""
    async with resources.sessions() as session:
        return sorted((await session.scalars(select(Job.kind).where(Job.status == "queued"))).all())
