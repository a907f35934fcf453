"""OAuth 2.0 as Withings does it: codes, rotating token pairs, nonces and signed calls.

Lifetimes (research §2): codes 30 s and single use; access tokens 3 h; refresh tokens a year and
rotated on every refresh, the old one dying 8 h after the new pair was issued or at the first use of
the new access token, whichever comes first; nonces 30 min and single use.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from rookery.sandbox.clock import SandboxClock
from rookery.sandbox.protocol import (
    AUTH_FAILED,
    INVALID_BEARER_ERROR,
    NOT_IMPLEMENTED,
    TOO_MANY_REQUESTS,
    WithingsStatusError,
    invalid_params,
    required_int,
)
from rookery.sandbox.settings import SandboxSettings
from rookery.withings.codes import Scope
from rookery.withings.signature import signature_matches

CODE_TTL_S: Final = 30.0
ACCESS_TTL_S: Final = 3 * 3600
REFRESH_TTL_S: Final = 365 * 86400
REFRESH_GRACE_S: Final = 8 * 3600
NONCE_TTL_S: Final = 30 * 60
REPEAT_WINDOW_S: Final = 10.0
# How far a getnonce `timestamp` may be from the sandbox clock, either way: generous for clock
# skew, short enough that a captured getnonce request cannot be replayed for long.
NONCE_TIMESTAMP_WINDOW_S: Final = 600
_NONCE_PURGE_AT: Final = 10_000


@dataclass(slots=True)
class CodeGrant:
    """An authorization code waiting to be exchanged."""

    userid: int
    scopes: tuple[Scope, ...]
    redirect_uri: str
    expires_at: float


@dataclass(slots=True)
class AccessGrant:
    """A live access token. `retires` is the refresh token its first use kills."""

    token: str
    userid: int
    scopes: frozenset[Scope]
    expires_at: float
    retires: str | None = None


@dataclass(slots=True)
class RefreshGrant:
    """A refresh token; `dies_at` is set once a newer pair has been issued from it."""

    token: str
    userid: int
    scopes: tuple[Scope, ...]
    expires_at: float
    dies_at: float | None = None


@dataclass(frozen=True, slots=True)
class TokenPair:
    """What `requesttoken` hands out."""

    access: AccessGrant
    refresh: RefreshGrant

    def as_body(self) -> dict[str, Any]:
        """The `requesttoken` response body."""
        return {
            "userid": str(self.access.userid),
            "access_token": self.access.token,
            "refresh_token": self.refresh.token,
            "expires_in": ACCESS_TTL_S,
            "scope": ",".join(self.refresh.scopes),
            "csrf_token": secrets.token_urlsafe(24),
            "token_type": "Bearer",
        }


def parse_scopes(raw: str) -> tuple[Scope, ...]:
    """A comma-separated scope list; unknown scopes are a 503."""
    scopes: list[Scope] = []
    for item in raw.split(","):
        name = item.strip()
        if not name:
            continue
        try:
            scope = Scope(name)
        except ValueError:
            raise invalid_params(f"unknown scope {name!r}") from None
        if scope not in scopes:
            scopes.append(scope)
    return tuple(scopes)


class AuthStore:
    """Codes, tokens and nonces of the sandbox's one app, timed by the sandbox clock.

    `on_change` is called after every change to the tokens (not to codes or nonces, which live
    for seconds to minutes), so that a state file can be saved before the answer goes out.
    """

    def __init__(self, clock: SandboxClock, on_change: Callable[[], None] = lambda: None) -> None:
        self._clock = clock
        self._on_change = on_change
        self._codes: dict[str, CodeGrant] = {}
        self._access: dict[str, AccessGrant] = {}
        self._refresh: dict[str, RefreshGrant] = {}
        self._nonces: dict[str, float] = {}

    def issue_code(self, userid: int, scopes: tuple[Scope, ...], redirect_uri: str) -> str:
        """A fresh authorization code for a user who consented to `scopes`."""
        code = secrets.token_hex(20)
        self._codes[code] = CodeGrant(userid, scopes, redirect_uri, self._clock.now() + CODE_TTL_S)
        return code

    def exchange_code(self, code: str, redirect_uri: str) -> TokenPair:
        """Spend a code (once, within 30 s, with the same redirect_uri) for a token pair."""
        grant = self._codes.pop(code, None)
        if (
            grant is None
            or grant.expires_at <= self._clock.now()
            or grant.redirect_uri != redirect_uri
        ):
            raise invalid_params("invalid code")
        return self.issue_pair(grant.userid, grant.scopes)

    def refresh(self, refresh_token: str) -> TokenPair:
        """Rotate: a new pair, and the old refresh token put on its 8-hour grace."""
        grant = self._refresh.get(refresh_token)
        now = self._clock.now()
        if (
            grant is None
            or grant.expires_at <= now
            or (grant.dies_at is not None and grant.dies_at <= now)
        ):
            raise invalid_params("invalid refresh_token")
        pair = self._issue(grant.userid, grant.scopes, retires=refresh_token)
        grace_end = now + REFRESH_GRACE_S
        grant.dies_at = grace_end if grant.dies_at is None else min(grant.dies_at, grace_end)
        self._on_change()
        return pair

    def authenticate(self, access_token: str | None) -> AccessGrant:
        """The grant behind a bearer token, or 401; its first use retires the old refresh token."""
        grant = self._access.get(access_token) if access_token else None
        if grant is None or grant.expires_at <= self._clock.now():
            raise WithingsStatusError(AUTH_FAILED, INVALID_BEARER_ERROR)
        if grant.retires is not None:
            self._refresh.pop(grant.retires, None)
            grant.retires = None
            self._on_change()
        return grant

    def revoke_access(self, access_token: str) -> None:
        """Kill one access token (the revoked-token fault)."""
        if self._access.pop(access_token, None) is not None:
            self._on_change()

    def revoke_user(self, userid: int) -> None:
        """Kill every token of a user."""
        for table in (self._access, self._refresh):
            for token in [t for t, g in table.items() if g.userid == userid]:
                del table[token]
        self._on_change()

    def new_nonce(self) -> str:
        """A single-use nonce valid for 30 minutes."""
        now = self._clock.now()
        if len(self._nonces) >= _NONCE_PURGE_AT:
            self._nonces = {n: exp for n, exp in self._nonces.items() if exp > now}
        nonce = secrets.token_hex(20)
        self._nonces[nonce] = now + NONCE_TTL_S
        return nonce

    def spend_nonce(self, nonce: str) -> bool:
        """Whether `nonce` was live; it is gone afterwards either way."""
        expires_at = self._nonces.pop(nonce, None)
        return expires_at is not None and expires_at > self._clock.now()

    def tokens_of(self, userid: int) -> dict[str, list[dict[str, Any]]]:
        """The user's live tokens, for the control endpoints."""
        now = self._clock.now()
        return {
            "access_tokens": [
                {"token": g.token, "scope": ",".join(sorted(g.scopes)), "expires_at": g.expires_at}
                for g in self._access.values()
                if g.userid == userid and g.expires_at > now
            ],
            "refresh_tokens": [
                {"token": g.token, "expires_at": g.expires_at, "dies_at": g.dies_at}
                for g in self._refresh.values()
                if g.userid == userid
            ],
        }

    def issue_pair(self, userid: int, scopes: tuple[Scope, ...]) -> TokenPair:
        """A new access and refresh token."""
        pair = self._issue(userid, scopes)
        self._on_change()
        return pair

    def export(self) -> dict[str, Any]:
        """The tokens, for the state file (`restore` reads it back)."""
        now = self._clock.now()
        return {
            "access": [
                {
                    "token": g.token,
                    "userid": g.userid,
                    "scopes": sorted(g.scopes),
                    "expires_at": g.expires_at,
                    "retires": g.retires,
                }
                for g in self._access.values()
                if g.expires_at > now
            ],
            "refresh": [
                {
                    "token": g.token,
                    "userid": g.userid,
                    "scopes": list(g.scopes),
                    "expires_at": g.expires_at,
                    "dies_at": g.dies_at,
                }
                for g in self._refresh.values()
                if g.expires_at > now and (g.dies_at is None or g.dies_at > now)
            ],
        }

    def restore(self, saved: Mapping[str, Any]) -> None:
        """Take back the tokens `export` gave (expiries and rotation state included);
        `KeyError`/`TypeError`/`ValueError` when malformed."""
        access = [
            AccessGrant(
                str(row["token"]),
                int(row["userid"]),
                frozenset(Scope(s) for s in row["scopes"]),
                float(row["expires_at"]),
                None if row["retires"] is None else str(row["retires"]),
            )
            for row in saved["access"]
        ]
        refresh = [
            RefreshGrant(
                str(row["token"]),
                int(row["userid"]),
                tuple(Scope(s) for s in row["scopes"]),
                float(row["expires_at"]),
                None if row["dies_at"] is None else float(row["dies_at"]),
            )
            for row in saved["refresh"]
        ]
        self._access = {g.token: g for g in access}
        self._refresh = {g.token: g for g in refresh}

    def _issue(
        self, userid: int, scopes: tuple[Scope, ...], *, retires: str | None = None
    ) -> TokenPair:
        now = self._clock.now()
        access = AccessGrant(
            secrets.token_hex(20), userid, frozenset(scopes), now + ACCESS_TTL_S, retires
        )
        refresh = RefreshGrant(secrets.token_hex(20), userid, scopes, now + REFRESH_TTL_S)
        self._access[access.token] = access
        self._refresh[refresh.token] = refresh
        return TokenPair(access, refresh)


class RepeatGuard:
    """Withings' "Same arguments in less than 10 seconds" rule for token requests."""

    def __init__(self, clock: SandboxClock) -> None:
        self._clock = clock
        self._seen: dict[tuple[tuple[str, str], ...], float] = {}

    def check(self, params: Mapping[str, str]) -> None:
        """Raise 601 with `wait_seconds` if identical params came within the last 10 s."""
        now = self._clock.now()
        self._seen = {k: at for k, at in self._seen.items() if now - at < REPEAT_WINDOW_S}
        key = tuple(sorted(params.items()))
        seen_at = self._seen.get(key)
        if seen_at is not None:
            wait_s = max(1, math.ceil(REPEAT_WINDOW_S - (now - seen_at)))
            raise WithingsStatusError(
                TOO_MANY_REQUESTS,
                "Same arguments in less than 10 seconds",
                {"wait_seconds": wait_s},
            )
        self._seen[key] = now


class OAuthService:
    """The `/v2/oauth2` and `/v2/signature` actions.

    `demo_userid` is the account `getdemoaccess` hands out (None: a sandbox with no users).
    """

    def __init__(
        self,
        settings: SandboxSettings,
        store: AuthStore,
        clock: SandboxClock,
        on_revoke: Callable[[int], None],
        demo_userid: int | None = None,
    ) -> None:
        self._demo_userid = demo_userid
        self._settings = settings
        self._store = store
        self._clock = clock
        self._repeats = RepeatGuard(clock)
        self._on_revoke = on_revoke

    def oauth2(self, params: Mapping[str, str]) -> dict[str, Any]:
        """Dispatch a `/v2/oauth2` action."""
        action = params.get("action", "")
        self._check_client(params)
        if action == "requesttoken":
            self._repeats.check(params)
            self._check_secret_or_signature(params, action)
            return self._request_token(params)
        if action == "revoke":
            self._check_signature(params, action)
            userid = required_int(params, "userid")
            self._store.revoke_user(userid)
            self._on_revoke(userid)
            return {}
        if action == "getdemoaccess":
            self._check_signature(params, action)
            scopes = parse_scopes(params.get("scope_oauth2", ""))
            if not scopes:
                raise invalid_params("scope_oauth2 is required")
            if self._demo_userid is None:
                raise invalid_params("this sandbox has no demo user")
            return self._store.issue_pair(self._demo_userid, scopes).as_body()
        raise WithingsStatusError(NOT_IMPLEMENTED, f"Unknown action '{action}' for /v2/oauth2")

    def signature(self, params: Mapping[str, str]) -> dict[str, Any]:
        """Dispatch a `/v2/signature` action (only `getnonce`).

        The signed `timestamp` must be within `NONCE_TIMESTAMP_WINDOW_S` of the sandbox clock.
        """
        action = params.get("action", "")
        if action != "getnonce":
            raise WithingsStatusError(
                NOT_IMPLEMENTED, f"Unknown action '{action}' for /v2/signature"
            )
        self._check_client(params)
        timestamp = params.get("timestamp", "")
        signed = {"action": action, "client_id": params["client_id"], "timestamp": timestamp}
        if not timestamp or not signature_matches(
            self._settings.client_secret, signed, params.get("signature", "")
        ):
            raise invalid_params("invalid signature")
        at = required_int(params, "timestamp")
        if abs(at - self._clock.now()) > NONCE_TIMESTAMP_WINDOW_S:
            raise invalid_params(
                f"timestamp {at} is more than {NONCE_TIMESTAMP_WINDOW_S} s from the server time"
            )
        return {"nonce": self._store.new_nonce()}

    def _request_token(self, params: Mapping[str, str]) -> dict[str, Any]:
        grant_type = params.get("grant_type")
        if grant_type == "authorization_code":
            code = params.get("code")
            redirect_uri = params.get("redirect_uri")
            if not code or not redirect_uri:
                raise invalid_params("code and redirect_uri are required")
            return self._store.exchange_code(code, redirect_uri).as_body()
        if grant_type == "refresh_token":
            refresh_token = params.get("refresh_token")
            if not refresh_token:
                raise invalid_params("refresh_token is required")
            return self._store.refresh(refresh_token).as_body()
        raise invalid_params(f"invalid grant_type {grant_type!r}")

    def _check_client(self, params: Mapping[str, str]) -> None:
        if params.get("client_id") != self._settings.client_id:
            raise invalid_params("invalid client_id")

    def _check_secret_or_signature(self, params: Mapping[str, str], action: str) -> None:
        secret = params.get("client_secret")
        if secret is not None:
            if not secrets.compare_digest(secret, self._settings.client_secret):
                raise invalid_params("invalid client_secret")
            return
        self._check_signature(params, action)

    def _check_signature(self, params: Mapping[str, str], action: str) -> None:
        nonce = params.get("nonce", "")
        signed = {"action": action, "client_id": params.get("client_id", ""), "nonce": nonce}
        if not nonce or not signature_matches(
            self._settings.client_secret, signed, params.get("signature", "")
        ):
            raise invalid_params("invalid signature")
        if not self._store.spend_nonce(nonce):
            raise invalid_params("invalid nonce")
