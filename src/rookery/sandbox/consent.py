"""The consent page `/oauth2_user/authorize2`: log in as a sandbox user, tick scopes, Allow/Deny.

A plain HTML form (radio buttons per user, a checkbox per requested scope, two named buttons) so
that people and browser tests can drive it alike. Allow redirects with `code` and `state`; Deny
with `error=access_denied` and `state`. With `mode=demo` (research §2.6) there is no choice of
user: the page signs in as the demo user, the population's first account.

Accessible names that browser tests rely on: each user's radio button is labelled
"<display name> (userid <userid>)", each scope's checkbox "<scope>: <what it covers>", and the
buttons "Allow" and "Deny".
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
from rookery.sandbox.records import Account
from rookery.sandbox.settings import SandboxSettings
from rookery.withings.codes import Scope

PATH: Final = "/oauth2_user/authorize2"
SCOPE_LABELS: Final = {
    Scope.INFO: "your profile",
    Scope.METRICS: "body measures, blood pressure, heart and ECG",
    Scope.ACTIVITY: "activity, workouts and sleep",
    Scope.SLEEP_EVENTS: "bed-in and bed-out events",
}


DEMO_MODE: Final = "demo"
# Light and dark colours with at least 4.5:1 contrast for text and 3:1 for controls and focus.
_STYLE: Final = """
:root{color-scheme:light dark;--bg:#f4f6f8;--card:#fff;--text:#1b2430;--muted:#4a5566;
--line:#c3cad4;--accent:#0b5cad;--accent-text:#fff;--focus:#b45309;--pick:#e8f0fb}
@media (prefers-color-scheme:dark){:root{--bg:#10151c;--card:#1a222d;--text:#e8edf3;
--muted:#aab4c2;--line:#4a5566;--accent:#7cb8ff;--accent-text:#0a1420;--focus:#fbbf24;
--pick:#22324a}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--text);
font:1rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif}
main{max-width:40rem;margin:2rem auto;padding:1.5rem;background:var(--card);
border:1px solid var(--line);border-radius:.75rem}
h1{font-size:1.4rem;margin:0 0 .75rem}
p{margin:0 0 1rem}
.muted{color:var(--muted);font-size:.9rem}
fieldset{border:1px solid var(--line);border-radius:.5rem;margin:0 0 1rem;
padding:.5rem .75rem .75rem}
legend{font-weight:600;padding:0 .25rem}
.choices{display:grid;grid-template-columns:repeat(auto-fill,minmax(15rem,1fr));gap:.25rem;
align-items:start}
.users{max-height:18rem;overflow-y:auto;padding:.25rem}
.choice{display:flex;align-items:flex-start;gap:.5rem;padding:.4rem .5rem;border-radius:.375rem;
cursor:pointer}
.choice:hover,.choice:has(input:checked){background:var(--pick)}
input[type=radio],input[type=checkbox]{width:1.15rem;height:1.15rem;margin:.2rem 0 0;
flex:none;accent-color:var(--accent)}
.buttons{display:flex;flex-wrap:wrap;gap:.75rem;margin:0 0 1rem}
button{font:inherit;font-weight:600;min-height:2.75rem;padding:.5rem 1.5rem;border-radius:.5rem;
border:2px solid var(--accent);cursor:pointer}
button[value=allow]{background:var(--accent);color:var(--accent-text)}
button[value=deny]{background:transparent;color:var(--text)}
:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
@media (max-width:30rem){main{margin:0;border-radius:0;border-width:0 0 1px;padding:1rem}
.buttons button{flex:1 1 100%}}
"""


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
        self, settings: SandboxSettings, store: AuthStore, accounts: Sequence[Account]
    ) -> None:
        self._settings = settings
        self._store = store
        self._accounts = accounts
        self._ids = frozenset(a.userid for a in accounts)

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
        mode = params.get("mode", "")
        if mode not in ("", DEMO_MODE):
            raise ConsentError(f"Unknown mode {mode!r}: leave it out, or use demo.")
        try:
            requested = parse_scopes(params.get("scope", ""))
        except WithingsStatusError as error:
            raise ConsentError(error.error) from None
        if not requested:
            raise ConsentError("scope is required.")
        demo = self._accounts[0] if mode == DEMO_MODE and self._accounts else None
        if mode == DEMO_MODE and demo is None:
            raise ConsentError("This sandbox has no users, so no demo user.")
        if method != "POST":
            return HTMLResponse(self._form(params, requested, demo))
        if params.get("decision") == "deny":
            return RedirectResponse(
                redirect_with(redirect_uri, error="access_denied", state=state), 302
            )
        if params.get("decision") != "allow":
            raise ConsentError("Choose Allow or Deny.")
        granted = tuple(s for s in requested if s in {v for k, v in fields if k == "granted"})
        if not granted:
            raise ConsentError("Tick at least one kind of data to share, or choose Deny.")
        if demo is not None:
            userid = demo.userid
        else:
            try:
                userid = int(params.get("userid", ""))
            except ValueError:
                raise ConsentError("Choose a user to log in as.") from None
            if userid not in self._ids:
                raise ConsentError(f"No sandbox user {userid}.")
        code = self._store.issue_code(userid, granted, redirect_uri)
        return RedirectResponse(redirect_with(redirect_uri, code=code, state=state), 302)

    def _form(
        self, params: dict[str, str], requested: tuple[Scope, ...], demo: Account | None
    ) -> str:
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{escape(params.get(name, ""))}">'
            for name in ("response_type", "client_id", "redirect_uri", "state", "scope", "mode")
            if name != "mode" or demo is not None
        )
        if demo is None:
            users = "".join(
                f'<label class="choice" for="user-{a.userid}"><input type="radio" name="userid"'
                f' id="user-{a.userid}" value="{a.userid}"{" checked" if i == 0 else ""}>'
                f"<span>{escape(a.display_name)} (userid {a.userid})</span></label>"
                for i, a in enumerate(self._accounts)
            )
            who = (
                '<fieldset><legend>Log in as</legend><div class="choices users">'
                f"{users}</div></fieldset>"
            )
        else:
            who = (
                f'<p id="demo-user">Signed in as the demo user <strong>'
                f"{escape(demo.display_name)} (userid {demo.userid})</strong>.</p>"
            )
        scopes = "".join(
            f'<label class="choice" for="scope-{s.value}"><input type="checkbox" name="granted"'
            f' id="scope-{s.value}" value="{s.value}" checked>'
            f"<span>{s.value}: {SCOPE_LABELS[s]}</span></label>"
            for s in requested
        )
        body = (
            f"<p>The app <strong>{escape(self._settings.client_id)}</strong> asks to read your "
            "Withings data.</p>"
            f'<form method="post" action="{PATH}">{hidden}{who}'
            f'<fieldset><legend>Data to share</legend><div class="choices">{scopes}</div>'
            "</fieldset>"
            '<div class="buttons">'
            '<button type="submit" name="decision" value="allow">Allow</button>'
            '<button type="submit" name="decision" value="deny">Deny</button></div>'
            '<p class="muted">A local Withings sandbox: every account here is synthetic.</p>'
            "</form>"
        )
        return _page("Withings sandbox: authorize access", body)


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )
