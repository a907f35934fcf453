"""The deployment's own secrets: created once, stored encrypted, the same for every process.

`notify_token` goes into the Withings notification callback URL; `form_key` signs the
connections page's form tokens. Both come from one random value (`withings_notify`), so a
deployment has exactly one secret to guard here, and it survives encryption-key rotation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import weakref
from typing import Final
from urllib.parse import urlencode

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from rookery.config import Settings
from rookery.store.crypto import TokenCipher
from rookery.store.tables import DeploymentSecret

NOTIFY_SECRET_NAME: Final = "withings_notify"  # noqa: S105 - a row name, not a secret
NOTIFY_PATH: Final = "/withings/notify"
_SECRET_BYTES: Final = 32
_FORM_KEY_LABEL: Final = b"rookery connections page form key"
_known_notify_tokens: weakref.WeakKeyDictionary[object, str] = weakref.WeakKeyDictionary()


async def deployment_secret(session: AsyncSession, cipher: TokenCipher) -> str:
    """The deployment's secret, created (in its own savepoint) on first use."""
    row = await session.get(DeploymentSecret, NOTIFY_SECRET_NAME)
    if row is not None:
        return cipher.decrypt(row.value_encrypted)
    value = secrets.token_urlsafe(_SECRET_BYTES)
    try:
        async with session.begin_nested():
            session.add(
                DeploymentSecret(name=NOTIFY_SECRET_NAME, value_encrypted=cipher.encrypt(value))
            )
    except IntegrityError:  # another process created it meanwhile: theirs is the one
        row = await session.get(DeploymentSecret, NOTIFY_SECRET_NAME, populate_existing=True)
        assert row is not None
        return cipher.decrypt(row.value_encrypted)
    return value


async def notify_token(session: AsyncSession, cipher: TokenCipher) -> str:
    """The token Withings must present in `POST /withings/notify?token=…`."""
    return await deployment_secret(session, cipher)


async def notify_token_matches(session: AsyncSession, cipher: TokenCipher, token: str) -> bool:
    """Whether `token` is the deployment's notification token (compared in constant time).

    The token never changes once created (key rotation re-encrypts the same value), so each
    engine remembers the one it read: a notification costs no read and no decryption. A token
    that does not match the remembered one is checked against the stored one again.
    """
    engine = session.get_bind()
    known = _known_notify_tokens.get(engine)
    if known is not None and hmac.compare_digest(token.encode(), known.encode()):
        return True
    expected = await notify_token(session, cipher)
    _known_notify_tokens[engine] = expected
    return hmac.compare_digest(token.encode(), expected.encode())


async def notify_callback_url(
    session: AsyncSession, cipher: TokenCipher, settings: Settings
) -> str:
    """The callback URL subscriptions use: `PUBLIC_URL/withings/notify?token=SECRET`."""
    token = await notify_token(session, cipher)
    return settings.public_url_for(NOTIFY_PATH) + "?" + urlencode({"token": token})


async def form_key(session: AsyncSession, cipher: TokenCipher) -> bytes:
    """The key the connections page signs its form tokens with (derived, never the token)."""
    secret = await deployment_secret(session, cipher)
    return hmac.new(secret.encode(), _FORM_KEY_LABEL, hashlib.sha256).digest()
