"""Fixtures: a sandbox and a webhook receiver, each on a real loopback port.

The ports belong to a session-wide `ServerPool` (one per xdist worker); every test still gets
fresh apps, so tests share no state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from rookery.sandbox.server import Sandbox, create_sandbox_app
from rookery.sandbox.settings import SandboxSettings
from rookery.sandbox.world import SandboxWorld
from tests.sandbox.factories import T0, make_world
from tests.sandbox.servers import Receiver, ServerPool

CLIENT_ID = SandboxSettings().client_id
CLIENT_SECRET = SandboxSettings().client_secret
REDIRECT_URI = "http://127.0.0.1:9/callback"
ALL_SCOPES = "user.info,user.metrics,user.activity,user.sleepevents"


@dataclass
class SandboxClient:
    """An HTTP client of a sandbox served at `url` (in this process or another)."""

    url: str
    http: httpx2.Client

    def api(self, path: str, token: str | None = None, **params: Any) -> dict[str, Any]:
        """POST a form to an API path; the decoded Withings envelope."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self.http.post(path, data=params, headers=headers)
        assert response.status_code == 200
        result: dict[str, Any] = response.json()
        return result

    def control(self, method: str, endpoint: str, /, **json: Any) -> dict[str, Any]:
        """Call a control endpoint."""
        response = self.http.request(method, f"/_sandbox/{endpoint}", json=json or None)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def authorize(
        self, userid: int = 1001, scopes: str = ALL_SCOPES, granted: list[str] | None = None
    ) -> str:
        """Consent as `userid` to `scopes` (ticking `granted`, default all); the code."""
        form: dict[str, str | list[str]] = {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "state": "st4te",
            "scope": scopes,
            "userid": str(userid),
            "decision": "allow",
            "granted": scopes.split(",") if granted is None else granted,
        }
        response = self.http.post("/oauth2_user/authorize2", data=form)
        assert response.status_code == 302, response.text
        query = parse_qs(urlsplit(response.headers["location"]).query)
        assert query["state"] == ["st4te"]
        return query["code"][0]

    def tokens(self, userid: int = 1001, scopes: str = ALL_SCOPES) -> dict[str, Any]:
        """Link `userid`: the requesttoken body."""
        answer = self.api(
            "/v2/oauth2",
            action="requesttoken",
            grant_type="authorization_code",
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            code=self.authorize(userid, scopes),
            redirect_uri=REDIRECT_URI,
        )
        assert answer["status"] == 0, answer
        body: dict[str, Any] = answer["body"]
        return body

    def advance(self, seconds: float) -> None:
        """Move the sandbox clock (and run what falls due)."""
        self.control("POST", "clock", advance_s=seconds)


@dataclass
class Running(SandboxClient):
    """A sandbox served by this process, with its state at hand."""

    sandbox: Sandbox


RunSandbox = Callable[..., Running]


@pytest.fixture(scope="session")
def server_pool() -> Iterator[ServerPool]:
    """Loopback servers kept for the session and lent to one test at a time."""
    with ServerPool() as pool:
        yield pool


@pytest.fixture
def run_sandbox(server_pool: ServerPool) -> Iterator[RunSandbox]:
    """Start sandboxes: `run_sandbox(world=None, **settings)`; all stop at teardown."""
    with ExitStack() as stack:

        def start(world: SandboxWorld | None = None, **settings: Any) -> Running:
            options: dict[str, Any] = {"clock_speed": 0.0, "start_at_epoch": T0 + 3600.0}
            options.update(settings)
            app = create_sandbox_app(SandboxSettings(**options), world or make_world())
            url = stack.enter_context(server_pool.serving(app))
            http = stack.enter_context(httpx2.Client(base_url=url, timeout=10))
            return Running(url, http, app.sandbox)

        yield start


@pytest.fixture
def sandbox(run_sandbox: RunSandbox) -> Running:
    """A sandbox with the default settings and a frozen clock at T0 + 1 h."""
    return run_sandbox()


@pytest.fixture
def receiver(server_pool: ServerPool) -> Iterator[tuple[Receiver, str]]:
    """A webhook receiver on loopback and its callback URL."""
    hooks = Receiver()
    with server_pool.serving(hooks) as url:
        yield hooks, f"{url}/withings/webhook?token=s3cret"
