"""Users: a client's end users, known by the client's own `user_id`."""

from __future__ import annotations

import re
import uuid
from typing import Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from rookery.errors import InvalidInputError, NotFoundError
from rookery.store.audit import record_audit
from rookery.store.enums import AuditAction
from rookery.store.tables import USER_ID_MAX_LENGTH, User

# ROOK's rule for user ids (OpenAPI `user_id` parameter).
USER_ID_PATTERN: Final = re.compile(rf"[a-zA-Z0-9-]{{1,{USER_ID_MAX_LENGTH}}}")


def check_user_id(user_id: str) -> str:
    """`user_id` if it follows ROOK's rule `^[a-zA-Z0-9-]{1,50}$`; raises `InvalidInputError`."""
    if USER_ID_PATTERN.fullmatch(user_id) is None:
        raise InvalidInputError(
            "user_id must be 1 to 50 characters, letters, digits and hyphens only"
        )
    return user_id


async def find_user(session: AsyncSession, client_id: uuid.UUID, user_id: str) -> User | None:
    """The client's user with this `user_id`, if any."""
    return await session.scalar(
        select(User).where(User.client_id == client_id, User.user_id == user_id)
    )


async def get_user(session: AsyncSession, client_id: uuid.UUID, user_id: str) -> User:
    """The client's user with this `user_id`; raises `NotFoundError`."""
    user = await find_user(session, client_id, user_id)
    if user is None:
        raise NotFoundError(f"no user {user_id}")
    return user


async def get_or_create_user(
    session: AsyncSession, client_id: uuid.UUID, user_id: str
) -> tuple[User, bool]:
    """The client's user with this `user_id`, created if new; the flag says whether it was.

    Raises `InvalidInputError` for a `user_id` that breaks ROOK's rule.
    """
    existing = await find_user(session, client_id, check_user_id(user_id))
    if existing is not None:
        return existing, False
    user = User(client_id=client_id, user_id=user_id)
    try:
        async with session.begin_nested():
            session.add(user)
    except IntegrityError:  # created meanwhile by a concurrent request
        return await get_user(session, client_id, user_id), False
    await record_audit(
        session,
        actor="system",
        action=AuditAction.USER_CREATED,
        client_id=client_id,
        subject=user_id,
    )
    return user, True
