"""The control endpoints under `/_sandbox/` (JSON): users, records, clock, notifications, faults
and the call log. See docs/sandbox.md for each one with a curl example."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from rookery.sandbox.faults import FaultKind
from rookery.sandbox.notices import RecordKind
from rookery.sandbox.notify import Notification, parse_appli
from rookery.sandbox.protocol import WithingsStatusError
from rookery.sandbox.records import Change, SandboxUser
from rookery.sandbox.state import Edit
from rookery.withings.codes import APPLIS, Appli

if TYPE_CHECKING:
    from rookery.sandbox.server import Sandbox

# What an appli 46 (user event) notification says happened to the account (research §5.2).
USER_ACTIONS: Final = ("update", "unlink", "delete")


class ControlError(Exception):
    """A control request that cannot be served; becomes a JSON error with `http_status`."""

    def __init__(self, message: str, http_status: int = 400) -> None:
        super().__init__(message)
        self.http_status = http_status


def _kind(raw: str) -> RecordKind:
    try:
        return RecordKind(raw)
    except ValueError:
        kinds = ", ".join(k.value for k in RecordKind)
        raise ControlError(f"unknown record kind {raw!r}; one of {kinds}") from None


def _key(raw: str) -> int | str:
    # Activity rows are named by their YYYY-MM-DD date, every other kind by an integer id.
    return int(raw) if raw.isdigit() else raw


class Controls:
    """The handlers, bound to one sandbox."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    def _user(self, request: Request) -> SandboxUser:
        raw = request.path_params["userid"]
        return self._user_by_id(int(raw) if raw.isdigit() else None, raw)

    def _user_by_id(self, userid: int | None, raw: object) -> SandboxUser:
        """The user (its data generated on first use), or a 404."""
        if userid is None or userid not in self._sandbox.accounts:
            raise ControlError(f"no sandbox user {raw}", 404)
        return self._sandbox.world.user(userid)

    async def users(self, request: Request) -> dict[str, Any]:
        """Every user with its live tokens and subscriptions."""
        sandbox = self._sandbox
        return {
            "users": [
                {
                    "userid": user.userid,
                    "display_name": user.display_name,
                    "timezone": user.timezone,
                    **sandbox.auth.tokens_of(user.userid),
                    "subscriptions": [
                        s.as_profile() for s in sandbox.subscriptions.of(user.userid)
                    ],
                }
                for user in sandbox.accounts.values()
            ]
        }

    async def add_record(self, request: Request) -> dict[str, Any]:
        """Store a record `{kind, record}` as arrived now, and notify."""
        user = self._user(request)
        payload = await _json(request)
        kind = _kind(str(payload.get("kind", "")))
        record = payload.get("record")
        if not isinstance(record, dict):
            raise ControlError("record must be a JSON object")
        sandbox = self._sandbox
        change = sandbox.edit(Edit("add", user.userid, kind, sandbox.clock.now(), body=record))
        return await self._published(change)

    async def update_record(self, request: Request) -> dict[str, Any]:
        """Change fields `{changes}` of one record (a `data` object is merged), and notify."""
        user = self._user(request)
        kind, key = _kind(request.path_params["kind"]), _key(request.path_params["key"])
        changes = (await _json(request)).get("changes")
        if not isinstance(changes, dict):
            raise ControlError("changes must be a JSON object")
        sandbox = self._sandbox
        change = sandbox.edit(
            Edit("update", user.userid, kind, sandbox.clock.now(), key, body=changes)
        )
        return await self._published(change)

    async def delete_record(self, request: Request) -> dict[str, Any]:
        """Delete one record by kind and key, and notify."""
        user = self._user(request)
        kind, key = _kind(request.path_params["kind"]), _key(request.path_params["key"])
        sandbox = self._sandbox
        change = sandbox.edit(Edit("delete", user.userid, kind, sandbox.clock.now(), key))
        return await self._published(change)

    async def _published(self, change: Change) -> dict[str, Any]:
        notification = Notification.from_change(change)
        deliveries = self._sandbox.notifier.notify(notification)
        await self._sandbox.settle()
        return {"notification": notification.form(), "deliveries": [d.id for d in deliveries]}

    async def clock(self, request: Request) -> dict[str, Any]:
        """GET reads the clock; POST `{advance_s?, speed?}` moves it, runs live mode and due
        deliveries, then reads it."""
        clock = self._sandbox.clock
        if request.method == "POST":
            payload = await _json(request)
            try:
                if "speed" in payload:
                    clock.set_speed(float(payload["speed"]))
                if "advance_s" in payload:
                    clock.advance(float(payload["advance_s"]))
            except (TypeError, ValueError) as error:
                raise ControlError(str(error)) from None
            await self._sandbox.settle()
        now = clock.now()
        return {
            "now": now,
            "now_utc": datetime.fromtimestamp(now, UTC).isoformat(),
            "speed": clock.speed,
        }

    async def notify(self, request: Request) -> dict[str, Any]:
        """Send a notification as given: `{userid, appli, startdate?, enddate?, date?, action?}`."""
        payload = await _json(request)
        notification = self._notification(payload)
        deliveries = self._sandbox.notifier.notify(notification)
        await self._sandbox.settle()
        return {"payload": notification.form(), "deliveries": [d.id for d in deliveries]}

    async def deliveries(self, request: Request) -> dict[str, Any]:
        """Every notification delivery with its attempts."""
        return {"deliveries": [d.as_json() for d in self._sandbox.notifier.deliveries.values()]}

    async def faults(self, request: Request) -> dict[str, Any]:
        """GET lists armed faults; POST arms one (or runs a one-shot); DELETE disarms all."""
        plan = self._sandbox.faults
        if request.method == "DELETE":
            plan.reset()
        elif request.method == "POST":
            return await self._arm(await _json(request))
        return {"faults": [f.as_json() for f in plan.active]}

    async def calls(self, request: Request) -> dict[str, Any]:
        """The call log, optionally `?client_id=…&since=<epoch>`."""
        since_raw = request.query_params.get("since")
        try:
            since = float(since_raw) if since_raw else None
        except ValueError:
            raise ControlError(f"since must be epoch seconds, got {since_raw!r}") from None
        records = self._sandbox.calls.query(
            client_id=request.query_params.get("client_id"), since=since
        )
        return {
            "rate_limit_per_minute": self._sandbox.settings.rate_limit_per_minute,
            "calls": [r.as_json() for r in records],
        }

    async def _arm(self, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            kind = FaultKind(str(payload.get("kind")))
        except ValueError:
            kinds = ", ".join(k.value for k in FaultKind)
            raise ControlError(
                f"unknown fault kind {payload.get('kind')!r}; one of {kinds}"
            ) from None
        sandbox = self._sandbox
        if kind is FaultKind.LOST_SUBSCRIPTION:
            userid = _int(payload, "userid")
            appli = parse_appli(str(payload["appli"])) if "appli" in payload else None
            removed = sandbox.subscriptions.remove(userid, appli, payload.get("callbackurl"))
            return {"kind": kind.value, "removed": removed}
        if kind is FaultKind.PHANTOM_NOTIFICATION:
            notification = self._phantom(payload)
            deliveries = sandbox.notifier.notify(notification)
            await sandbox.settle()
            return {
                "kind": kind.value,
                "payload": notification.form(),
                "deliveries": [d.id for d in deliveries],
            }
        options = {
            name: payload[name]
            for name in ("count", "fraction", "path", "http_status", "hang_s", "wait_seconds")
            if name in payload
        }
        try:
            fault = sandbox.faults.arm(kind, **options)
        except (TypeError, ValueError) as error:
            raise ControlError(str(error)) from None
        return fault.as_json()

    def _notification(self, payload: dict[str, Any]) -> Notification:
        userid = _int(payload, "userid")
        if userid not in self._sandbox.accounts:
            raise ControlError(f"no sandbox user {userid}", 404)
        appli = parse_appli(str(payload.get("appli", "")))
        action = payload.get("action")
        if action is not None and action not in USER_ACTIONS:
            raise ControlError(f"action must be one of {', '.join(USER_ACTIONS)}, got {action!r}")
        change = Change(
            userid,
            appli,
            _int(payload, "startdate") if "startdate" in payload else None,
            _int(payload, "enddate") if "enddate" in payload else None,
            str(payload["date"]) if "date" in payload else None,
            action,
        )
        return Notification.from_change(change)

    def _phantom(self, payload: dict[str, Any]) -> Notification:
        """A notification for an empty window: the day before the user's first record."""
        userid = _int(payload, "userid")
        user = self._user_by_id(userid, userid)
        appli = parse_appli(str(payload.get("appli", int(Appli.WEIGHT))))
        starts = [g["date"] for g in user.measuregrps] + [
            r["startdate"] for r in (*user.workouts, *user.sleep_summaries)
        ]
        first = min(starts, default=int(self._sandbox.clock.now()))
        at = int(first) - 86_400
        info = APPLIS.get(appli)
        if info is not None and info.carries_date:
            day = datetime.fromtimestamp(at, UTC).date().isoformat()
            return Notification.from_change(Change(userid, appli, date=day))
        # Every other category names a window, and only a window (research §5.2).
        return Notification.from_change(Change(userid, appli, at, at + 60))


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        payload = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ControlError(f"body is not JSON: {error}") from None
    if not isinstance(payload, dict):
        raise ControlError("body must be a JSON object")
    return payload


def _int(payload: dict[str, Any], name: str) -> int:
    try:
        return int(payload[name])
    except (KeyError, TypeError, ValueError):
        raise ControlError(f"{name} must be an integer") from None


def _json_endpoint(
    handler: Callable[[Request], Any],
) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        try:
            return JSONResponse(await handler(request))
        except ControlError as error:
            return JSONResponse({"error": str(error)}, error.http_status)
        except LookupError as error:
            return JSONResponse({"error": str(error)}, 404)
        except (ValueError, KeyError, TypeError) as error:
            return JSONResponse({"error": f"bad request: {error}"}, 400)
        except WithingsStatusError as error:
            return JSONResponse({"error": error.error}, 400)

    return endpoint


def routes(sandbox: Sandbox) -> list[Route]:
    """The `/_sandbox/` routes for one sandbox."""
    c = Controls(sandbox)
    return [
        Route("/_sandbox/users", _json_endpoint(c.users), methods=["GET"]),
        Route("/_sandbox/users/{userid}/records", _json_endpoint(c.add_record), methods=["POST"]),
        Route(
            "/_sandbox/users/{userid}/records/{kind}/{key}",
            _json_endpoint(c.update_record),
            methods=["PATCH"],
        ),
        Route(
            "/_sandbox/users/{userid}/records/{kind}/{key}",
            _json_endpoint(c.delete_record),
            methods=["DELETE"],
        ),
        Route("/_sandbox/clock", _json_endpoint(c.clock), methods=["GET", "POST"]),
        Route("/_sandbox/notifications", _json_endpoint(c.notify), methods=["POST"]),
        Route("/_sandbox/deliveries", _json_endpoint(c.deliveries), methods=["GET"]),
        Route("/_sandbox/faults", _json_endpoint(c.faults), methods=["GET", "POST", "DELETE"]),
        Route("/_sandbox/calls", _json_endpoint(c.calls), methods=["GET"]),
    ]
