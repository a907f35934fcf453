"""Users: ROOK's user_id rule, and one user per (client, user_id)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rookery.errors import InvalidInputError, NotFoundError
from rookery.store.clients import NewClient
from rookery.store.tables import User
from rookery.store.users import check_user_id, get_or_create_user, get_user

ClientFactory = Callable[..., Awaitable[NewClient]]
Sessions = async_sessionmaker[AsyncSession]
ROOK_USER_ID = re.compile(r"^[a-zA-Z0-9\-]{1,50}$")


@given(st.text(max_size=60))
def test_user_ids_follow_rooks_pattern(user_id: str) -> None:
    if ROOK_USER_ID.match(user_id) and "\n" not in user_id:
        assert check_user_id(user_id) == user_id
    else:
        with pytest.raises(InvalidInputError, match="user_id"):
            check_user_id(user_id)


@pytest.mark.anyio
async def test_a_user_is_created_once_per_client(
    new_client: ClientFactory, sessions: Sessions
) -> None:
    alice, bob = await new_client(), await new_client()
    async with sessions.begin() as session:
        first, created = await get_or_create_user(session, alice.client_uuid, "user-1")
        assert created
        again, created_again = await get_or_create_user(session, alice.client_uuid, "user-1")
        assert (again.id, created_again) == (first.id, False)
        other, created_other = await get_or_create_user(session, bob.client_uuid, "user-1")
        assert created_other
        assert other.id != first.id
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 2
        assert (await get_user(session, alice.client_uuid, "user-1")).id == first.id
        with pytest.raises(NotFoundError):
            await get_user(session, alice.client_uuid, "user-2")


@pytest.mark.anyio
async def test_a_bad_user_id_creates_nothing(new_client: ClientFactory, sessions: Sessions) -> None:
    alice = await new_client()
    async with sessions.begin() as session:
        with pytest.raises(InvalidInputError):
            await get_or_create_user(session, alice.client_uuid, "no spaces")
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 0
