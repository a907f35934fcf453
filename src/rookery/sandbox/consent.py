"""The consent page `/oauth2_user/authorize2`: log in as a sandbox user, tick scopes, Allow/Deny.

A plain HTML form (radio buttons per user, a checkbox per requested scope, two named buttons) so
that people and browser tests can drive it alike. Allow redirects with `code` and `state`; Deny
with `error=access_denied` and `state`.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from rookery.sandbox.oauth import AuthStore, parse_scopes
from rookery.sandbox.protocol import WithingsStatusError, is_loopback_url
from rookery.sandbox.records import SandboxUser
from rookery.sandbox.settings import SandboxSettings
from rookery.withings.codes import Scope

PATH: Final = "/oauth2_user/authorize2"
SCOPE_LABELS: Final = {
    Scope.INFO: "your profile",
    Scope.METRICS: "body measures, blood pressure, heart and ECG",
    Scope.ACTIVITY: "activity, workouts and sleep",
    Scope.SLEEP_EVENTS: "bed-in and bed-out events",
}


class ConsentError(ValueError):
    """An authorize request that cannot be answered with a redirect."""


def redirect_with(redirect_uri: str, **params: str) -> str:
    """`redirect_uri` with `params` added to its query."""
    parts = urlsplit(redirect_uri)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))


class ConsentPage:
    """Renders and answers the consent form."""

    def __init__(
        self, settings: SandboxSettings, store: AuthStore, users: Sequence[SandboxUser]
    ) -> None:
        self._settings = settings
        self._store = store
        self._users = users

    async def endpoint(self, request: Request) -> Response:
        """GET shows the form; POST (the form's submit) decides."""
        if request.method == "POST":
            fields = parse_qsl((await request.body()).decode(), keep_blank_values=True)
        else:
            fields = list(request.query_params.multi_items())
        try:
            return self._answer(request.method, fields)
        except ConsentError as error:
            return HTMLResponse(_page("Cannot authorize", f"<p>{escape(str(error))}</p>"), 400)

    def _answer(self, method: str, fields: list[tuple[str, str]]) -> Response:
        params = dict(fields)
        redirect_uri = params.get("redirect_uri", "")
        if params.get("client_id") != self._settings.client_id:
            raise ConsentError("Unknown client_id.")
        if not is_loopback_url(redirect_uri):
            raise ConsentError("The sandbox only redirects to a loopback redirect_uri.")
        if params.get("response_type", "code") != "code":
            raise ConsentError("response_type must be code.")
        state = params.get("state", "")
        if not state:
            raise ConsentError("state is required.")
        try:
            requested = parse_scopes(params.get("scope", ""))
        except WithingsStatusError as error:
            raise ConsentError(error.error) from None
        if not requested:
            raise ConsentError("scope is required.")
        if method != "POST":
            return HTMLResponse(self._form(params, requested))
        if params.get("decision") == "deny":
            return RedirectResponse(
                redirect_with(redirect_uri, error="access_denied", state=state), 302
            )
        if params.get("decision") != "allow":
            raise ConsentError("Choose Allow or Deny.")
        granted = tuple(s for s in requested if s in {v for k, v in fields if k == "granted"})
        if not granted:
            raise ConsentError("Tick at least one kind of data to share, or choose Deny.")
        try:
            userid = int(params.get("userid", ""))
        except ValueError:
            raise ConsentError("Choose a user to log in as.") from None
        if all(user.userid != userid for user in self._users):
            raise ConsentError(f"No sandbox user {userid}.")
        code = self._store.issue_code(userid, granted, redirect_uri)
        return RedirectResponse(redirect_with(redirect_uri, code=code, state=state), 302)

    def _form(self, params: dict[str, str], requested: tuple[Scope, ...]) -> str:
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{escape(params.get(name, ""))}">'
            for name in ("response_type", "client_id", "redirect_uri", "state", "scope")
        )
        users = "".join(
            f'<div><input type="radio" name="userid" id="user-{u.userid}" value="{u.userid}"'
            f'{" checked" if i == 0 else ""}> <label for="user-{u.userid}">'
            f"{escape(u.display_name)} (userid {u.userid})</label></div>"
            for i, u in enumerate(self._users)
        )
        scopes = "".join(
            f'<div><input type="checkbox" name="granted" id="scope-{s.value}" value="{s.value}"'
            f' checked> <label for="scope-{s.value}">{s.value}: {SCOPE_LABELS[s]}</label></div>'
            for s in requested
        )
        body = (
            f"<p>The app <strong>{escape(self._settings.client_id)}</strong> asks to read your "
            f"Withings data.</p>"
            f'<form method="post" action="{PATH}">{hidden}'
            f"<fieldset><legend>Log in as</legend>{users}</fieldset>"
            f"<fieldset><legend>Data to share</legend>{scopes}</fieldset>"
            '<button type="submit" name="decision" value="allow">Allow</button> '
            '<button type="submit" name="decision" value="deny">Deny</button>'
            "</form>"
        )
        return _page("Withings sandbox: authorize access", body)


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head>"
        f"<body><main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )
