"""Dashboard sessions: a signed cookie saying who signed in (the operator or one client).

The cookie is `<role>.<subject>.<issued epoch>.<nonce>.<signature>`, signed with a key derived
from the deployment secret. The signature also covers a fingerprint of the credential used to
sign in (the admin token, or the client's stored secret hash), so changing that credential ends
every session made with it. Nothing is stored on the server; a session lasts `SESSION_LIFETIME`.
The cookie is HttpOnly and SameSite=Strict, Secure whenever the deployment is served over HTTPS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

SESSION_COOKIE: Final = "rookery_dashboard"
LOGIN_COOKIE: Final = "rookery_dashboard_login"
SESSION_LIFETIME: Final = timedelta(hours=12)
_NONCE_BYTES: Final = 18
_KEY_LABEL: Final = b"rookery dashboard session key"
# The operator is not a client: its form tokens are bound to this id instead.
OPERATOR_SCOPE: Final = uuid.UUID(int=0)
_MAX_COOKIE_LENGTH: Final = 300


class Role(StrEnum):
    """Who a session belongs to."""

    OPERATOR = "op"
    CLIENT = "cl"


@dataclass(frozen=True, slots=True)
class Viewer:
    """A signed-in dashboard user: the operator (sees every client) or one client."""

    role: Role
    client_id: uuid.UUID | None
    cookie: str

    @property
    def is_operator(self) -> bool:
        """Whether this is the operator."""
        return self.role is Role.OPERATOR

    def may_see(self, client_id: uuid.UUID) -> bool:
        """Whether this viewer may see the client's users and deliveries."""
        return self.is_operator or self.client_id == client_id

    @property
    def scope(self) -> uuid.UUID:
        """The id the viewer's form tokens are bound to."""
        return self.client_id if self.client_id is not None else OPERATOR_SCOPE


def session_key(deployment_secret: str) -> bytes:
    """The key sessions are signed with, derived from the deployment secret."""
    return hmac.new(deployment_secret.encode(), _KEY_LABEL, hashlib.sha256).digest()


def credential_fingerprint(credential: str) -> str:
    """What a session remembers of the credential it was made with (not the credential)."""
    return hashlib.sha256(b"rookery dashboard credential\n" + credential.encode()).hexdigest()


def _mac(key: bytes, payload: str, fingerprint: str) -> str:
    digest = hmac.new(key, f"{payload}\n{fingerprint}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def new_session(
    key: bytes, *, role: Role, client_id: uuid.UUID | None, fingerprint: str, now: datetime
) -> str:
    """A session cookie value for the operator (`client_id` None) or a client."""
    if (role is Role.CLIENT) != (client_id is not None):
        raise ValueError("a client session names its client; the operator's names none")
    subject = "-" if client_id is None else client_id.hex
    payload = f"{role.value}.{subject}.{int(now.timestamp())}.{secrets.token_urlsafe(_NONCE_BYTES)}"
    return f"{payload}.{_mac(key, payload, fingerprint)}"


@dataclass(frozen=True, slots=True)
class Claim:
    """What a cookie says, before its signature is checked against the credential."""

    role: Role
    client_id: uuid.UUID | None
    issued_s: int
    payload: str
    signature: str


def read_claim(cookie: str | None, *, now: datetime) -> Claim | None:
    """The claim of a well-formed, unexpired cookie; None otherwise. Verify it with
    `verify_claim` once the credential's fingerprint is known."""
    if not cookie or len(cookie) > _MAX_COOKIE_LENGTH:
        return None
    parts = cookie.split(".")
    if len(parts) != 5:
        return None
    role_text, subject, issued, _nonce, signature = parts
    try:
        role = Role(role_text)
        client_id = None if subject == "-" else uuid.UUID(hex=subject)
    except ValueError:
        return None
    if (role is Role.CLIENT) != (client_id is not None) or not issued.isdigit():
        return None
    age_s = now.timestamp() - int(issued)
    if not 0 <= age_s <= SESSION_LIFETIME.total_seconds():
        return None
    return Claim(role, client_id, int(issued), cookie.rpartition(".")[0], signature)


def verify_claim(key: bytes, claim: Claim, fingerprint: str) -> bool:
    """Whether the claim was signed with this key for a credential with this fingerprint."""
    expected = _mac(key, claim.payload, fingerprint)
    return hmac.compare_digest(claim.signature.encode(), expected.encode())
