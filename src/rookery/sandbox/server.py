"""The sandbox application: one base URL serving the consent page, the API and `/_sandbox/`.

API calls go through a small raw-ASGI path (no framework routing on the hot path); the consent page
and the control endpoints are Starlette routes. `create_sandbox_app` builds everything; nothing is
built at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any, Final

import httpx2
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from rookery.sandbox import api, consent, control
from rookery.sandbox.calls import CallLog, CallRecord, RateLimiter
from rookery.sandbox.clock import SandboxClock
from rookery.sandbox.faults import Fault, FaultKind, FaultPlan
from rookery.sandbox.notify import Notification, Notifier, NotifyService, SubscriptionStore
from rookery.sandbox.oauth import AccessGrant, AuthStore, OAuthService
from rookery.sandbox.protocol import (
    AUTH_FAILED,
    INVALID_BEARER_ERROR,
    NOT_IMPLEMENTED,
    TOO_MANY_REQUESTS,
    WithingsStatusError,
    bearer_token,
    envelope,
    error_envelope,
    parse_params,
)
from rookery.sandbox.records import Account, Change, SandboxUser
from rookery.sandbox.settings import SandboxSettings
from rookery.sandbox.state import Edit, Resume, Snapshot, StateError, StateFile
from rookery.sandbox.world import SandboxWorld
from rookery.withings.codes import Scope as DataScope

OAUTH_PATHS: Final = frozenset({"/v2/oauth2", "/v2/signature"})
NOTIFY_PATH: Final = "/notify"
# How often live mode runs while the clock runs by itself, in real seconds.
LIVE_TICK_S: Final = 1.0
# How often, in real seconds at most, the state file is rewritten only because time went on.
# Grants, subscriptions and edits are saved at once (they cannot be regenerated); time lost to a
# SIGKILL only makes the next start notify the last few seconds of live data again.
PROGRESS_SAVE_S: Final = 5.0
_JSON_HEADERS: Final = [(b"content-type", b"application/json")]


class Sandbox:
    """The sandbox's state and behaviour, shared by the API, the consent page and the controls.

    With a `state` file, `resume` says where to start (its clock start overrides the settings')
    and what to restore; every change that matters is saved to the file before it is answered.
    """

    def __init__(
        self,
        settings: SandboxSettings,
        world: SandboxWorld,
        http: httpx2.AsyncClient,
        *,
        state: StateFile | None = None,
        resume: Resume | None = None,
    ) -> None:
        self.settings = settings
        self.world = world
        self.accounts: dict[int, Account] = {a.userid: a for a in world.accounts}
        self.clock = SandboxClock(
            speed=settings.clock_speed,
            start_at_epoch=settings.start_at_epoch if resume is None else resume.clock_at,
        )
        self._state = state
        self._generated_at = int(self.clock.now()) if resume is None else resume.generated_at
        self._edits: list[Edit] = []
        self._world_at = self.clock.now_utc()
        self._saved_world_at: datetime | None = None
        self._saved_real = time.monotonic()
        self.auth = AuthStore(self.clock, self.save)
        self.subscriptions = SubscriptionStore(self.save)
        self.faults = FaultPlan(settings.seed)
        self.notifier = Notifier(
            http, self.clock, settings, self.subscriptions, self.faults.draw_duplicate
        )
        demo = next(iter(self.accounts), None)
        self.oauth = OAuthService(
            settings, self.auth, self.clock, self._forget_subscriptions, demo_userid=demo
        )
        self.notify_api = NotifyService(settings, self.subscriptions, self.notifier)
        self.limiter = RateLimiter(self.clock, settings.rate_limit_per_minute)
        self.calls = CallLog(settings.call_log_size)
        if resume is not None and resume.snapshot is not None:
            self._restore(resume.snapshot)
        self.clock.on_change(self.notifier.wakeup.set)
        self.clock.on_change(self.save)

    def _restore(self, snapshot: Snapshot) -> None:
        """Rebuild the saved state: the edits replayed at their times (their notifications went
        out in the earlier run), live mode up to where it had got, then grants and
        subscriptions. Subscribed users are woken, so what arrived while the sandbox was down
        is notified by the first round of live mode, as Withings would have."""
        try:
            for edit in snapshot.edits:
                self.world.advance(edit.at_utc)
                edit.apply(self.world)
            self.world.advance(snapshot.world_at_utc)
            self.auth.restore(snapshot.grants)
            self.subscriptions.restore(snapshot.subscriptions)
            for userid in self.subscriptions.userids:
                self.world.user(userid)
        except (LookupError, TypeError, ValueError) as error:
            where = self._state.path if self._state is not None else "the saved state"
            raise StateError(
                f"{where} does not fit this sandbox ({type(error).__name__}: {error}); "
                "delete it to start afresh"
            ) from None
        self._world_at = snapshot.world_at_utc
        self._edits = list(snapshot.edits)

    def save(self) -> None:
        """Write the state file (if any), atomically: called on every change a restart must
        keep (grants, subscriptions, edits, clock jumps), before it is answered."""
        if self._state is None:
            return
        self._state.write(
            {
                "generated_at": self._generated_at,
                "clock_now": self.clock.now(),
                "world_at": self._world_at.timestamp(),
                "grants": self.auth.export(),
                "subscriptions": self.subscriptions.export(),
                "edits": [edit.as_json() for edit in self._edits],
            }
        )
        self._saved_world_at = self._world_at
        self._saved_real = time.monotonic()

    def _save_progress(self) -> None:
        """Save how far time went, at most every `PROGRESS_SAVE_S` real seconds."""
        if (
            self._world_at != self._saved_world_at
            and time.monotonic() - self._saved_real >= PROGRESS_SAVE_S
        ):
            self.save()

    def edit(self, edit: Edit) -> Change:
        """Make a control endpoint's record change and journal it; the change to notify.

        Live mode is first brought up to the edit's time (and what it adds is notified), so
        that a restart, replaying the edit after advancing to that time, gets the same records.
        """
        self.publish(self._advance_world(edit.at_utc))
        change = edit.apply(self.world)
        self._edits.append(edit)
        self.save()
        return change

    def _advance_world(self, until_utc: datetime) -> list[Change]:
        changes = self.world.advance(until_utc)
        self._world_at = until_utc
        return changes

    def user(self, userid: int) -> SandboxUser:
        """A user with its data (generated on first use); 401 for a token of no known user."""
        try:
            return self.world.user(userid)
        except LookupError:
            raise WithingsStatusError(AUTH_FAILED, INVALID_BEARER_ERROR) from None

    def _forget_subscriptions(self, userid: int) -> None:
        # Withings removes a user's subscriptions when the app revokes the user's tokens.
        self.subscriptions.remove(userid)

    async def call(
        self,
        path: str,
        params: Mapping[str, str],
        authorization: str | None,
        *,
        fault: Fault | None = None,
    ) -> tuple[bytes, CallRecord]:
        """Answer one API call (Withings envelope) and say how it went, for the call log.

        `fault` is the transport fault (a hang, a truncated body) the answer is delivered with:
        the call is served and logged once, with the fault named."""
        action = params.get("action", "")
        client_id: str | None = None
        userid: int | None = None
        try:
            if path in OAUTH_PATHS:
                client_id = params.get("client_id")
                if client_id == self.settings.client_id:
                    self.limiter.admit(client_id)
                body = (
                    self.oauth.oauth2(params)
                    if path == "/v2/oauth2"
                    else self.oauth.signature(params)
                )
            else:
                route = api.DATA_ACTIONS.get((path, action))
                if route is None and path != NOTIFY_PATH:
                    raise WithingsStatusError(
                        NOT_IMPLEMENTED, f"Unknown service or action: {path} action={action!r}"
                    )
                grant = self.auth.authenticate(bearer_token(authorization, params))
                client_id, userid = self.settings.client_id, grant.userid
                self.limiter.admit(client_id)
                # Touching a user generates its history, so live mode covers it from now on.
                user = self.user(grant.userid)
                if route is None:
                    body = await self.notify_api.handle(grant, params)
                else:
                    body = self._data(route, grant, user, params, action)
        except WithingsStatusError as error:
            return error_envelope(error), self._record(
                path, action, client_id, userid, error.status, fault=fault
            )
        return envelope(body), self._record(path, action, client_id, userid, 0, fault=fault)

    def _data(
        self,
        route: tuple[DataScope | None, api.Handler],
        grant: AccessGrant,
        user: SandboxUser,
        params: Mapping[str, str],
        action: str,
    ) -> dict[str, Any]:
        scope, handler = route
        if scope is not None and scope not in grant.scopes:
            raise WithingsStatusError(
                self.settings.scope_miss_status, f"Insufficient scope: {action} needs {scope}"
            )
        return handler(api.DataCall(user, self.world, self.settings, self.clock.now()), params)

    def _record(
        self,
        path: str,
        action: str,
        client_id: str | None,
        userid: int | None,
        status: int | None,
        *,
        http_status: int = 200,
        fault: Fault | None = None,
    ) -> CallRecord:
        record = CallRecord(
            self.clock.now(),
            client_id,
            userid,
            path,
            action,
            status,
            http_status,
            fault.kind.value if fault else None,
        )
        self.calls.add(record)
        return record

    def publish(self, changes: list[Change]) -> int:
        """Notify every subscriber of these changes; how many deliveries were queued."""
        return sum(len(self.notifier.notify(Notification.from_change(c))) for c in changes)

    async def settle(self) -> None:
        """Run live mode up to now, then every delivery that is due, and wait for them."""
        self.publish(self._advance_world(self.clock.now_utc()))
        await self.notifier.run_due()

    async def run_background(self) -> None:
        """Keep live mode and deliveries running while the server runs."""
        while True:
            self.notifier.wakeup.clear()
            await self.settle()
            self._save_progress()
            due_at = self.notifier.next_due_at()
            wait_s = None if due_at is None else self.clock.real_seconds_until(due_at)
            if self.clock.speed > 0:
                wait_s = LIVE_TICK_S if wait_s is None else min(wait_s, LIVE_TICK_S)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await self.notifier.wakeup.wait()

    def fault_answer(
        self, fault: Fault, path: str, params: Mapping[str, str], token: str | None
    ) -> bytes:
        """The body a status-level call fault answers with, and log it."""
        action = params.get("action", "")
        if fault.kind is FaultKind.RATE_LIMIT:
            error = WithingsStatusError(
                TOO_MANY_REQUESTS, "Too many requests", {"wait_seconds": fault.wait_seconds}
            )
        else:
            if token:
                self.auth.revoke_access(token)
            error = WithingsStatusError(AUTH_FAILED, INVALID_BEARER_ERROR)
        self._record(path, action, None, None, error.status, fault=fault)
        return error_envelope(error)

    def log_fault(
        self, fault: Fault, path: str, params: Mapping[str, str], http_status: int
    ) -> None:
        """Log a call answered by a transport-level fault."""
        self._record(
            path, params.get("action", ""), None, None, None, http_status=http_status, fault=fault
        )


class SandboxApp:
    """The ASGI entry point: API paths on the fast path, everything else through Starlette."""

    def __init__(self, sandbox: Sandbox, starlette: Starlette) -> None:
        self.sandbox = sandbox
        self._starlette = starlette

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection event."""
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith("/_sandbox") or path == consent.PATH:
            await self._starlette(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        params = parse_params(scope.get("query_string", b""), body)
        authorization = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), None
        )
        fault = self.sandbox.faults.draw_call(path)
        if fault is None:
            answer, _ = await self.sandbox.call(path, params, authorization)
            await _send(send, 200, answer)
            return
        await self._faulty(fault, path, params, authorization, receive, send)

    async def _faulty(
        self,
        fault: Fault,
        path: str,
        params: Mapping[str, str],
        authorization: str | None,
        receive: Receive,
        send: Send,
    ) -> None:
        sandbox = self.sandbox
        if fault.kind in (FaultKind.RATE_LIMIT, FaultKind.REVOKED_TOKEN):
            token = bearer_token(authorization, params)
            await _send(send, 200, sandbox.fault_answer(fault, path, params, token))
        elif fault.kind is FaultKind.HTTP_5XX:
            sandbox.log_fault(fault, path, params, fault.http_status)
            await _send(send, fault.http_status, b"Service Unavailable", b"text/plain")
        elif fault.kind is FaultKind.TIMEOUT:
            # Hang until the client gives up (it disconnects) or hang_s passes, then answer.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(fault.hang_s):
                    await _disconnected(receive)
            answer, _ = await sandbox.call(path, params, authorization, fault=fault)
            await _send(send, 200, answer)
        elif fault.kind is FaultKind.MALFORMED_JSON:
            sandbox.log_fault(fault, path, params, 200)
            await _send(send, 200, b'{"status":0,"body":{"measuregrps":[{"grpid":,}')
        else:  # truncated: promise the whole body, send half, drop the connection
            answer, _ = await sandbox.call(path, params, authorization, fault=fault)
            headers = [*_JSON_HEADERS, (b"content-length", str(len(answer)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send(
                {
                    "type": "http.response.body",
                    "body": answer[: len(answer) // 2],
                    "more_body": True,
                }
            )


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _send(
    send: Send, status: int, body: bytes, content_type: bytes = b"application/json"
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_sandbox_app(
    settings: SandboxSettings,
    world: SandboxWorld,
    *,
    http: httpx2.AsyncClient | None = None,
    state: StateFile | None = None,
    resume: Resume | None = None,
) -> SandboxApp:
    """The sandbox as an ASGI app. Notifications and callback probes go through `http`
    (a client of its own, closed at shutdown, when none is given). With a `state` file, the
    sandbox starts as `resume` says (from `state.resume(now)`, with `world` generated at its
    `generated_at`), saves every change that matters and saves once more at shutdown.
    `StateError` when the saved state cannot be restored or the file cannot be written (it is
    written once here, so that a bad path fails at start rather than at the first change)."""
    client = http if http is not None else httpx2.AsyncClient()
    sandbox = Sandbox(settings, world, client, state=state, resume=resume)
    sandbox.save()
    page = consent.ConsentPage(settings, sandbox.auth, list(sandbox.accounts.values()))

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        background = asyncio.create_task(sandbox.run_background())
        try:
            yield
        finally:
            background.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await background
            sandbox.save()
            if http is None:
                await client.aclose()

    routes = [
        Route(consent.PATH, page.endpoint, methods=["GET", "POST"]),
        *control.routes(sandbox),
    ]
    return SandboxApp(sandbox, Starlette(routes=routes, lifespan=lifespan))
