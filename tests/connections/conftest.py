"""Fixtures: Rookery and the sandbox served on loopback, the process resources, a browser."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack

import httpx2
import pytest

from rookery.app import Resources, open_resources
from tests.conftest import SettingsFactory
from tests.connections.stack import Browser, Stack, start_stack


@pytest.fixture
def stack(make_settings: SettingsFactory, database_url: str) -> Iterator[Stack]:
    """Rookery (on the test's database) and the sandbox, served over real HTTP."""
    with ExitStack() as exits:
        yield start_stack(exits, make_settings, database_url)


@pytest.fixture
async def resources(stack: Stack) -> AsyncIterator[Resources]:
    """The test's own handle on Rookery's database and cipher (as a worker process has)."""
    async with open_resources(stack.settings) as opened:
        yield opened


@pytest.fixture
async def browser(stack: Stack) -> AsyncIterator[Browser]:
    """A user's browser (cookies kept, redirects not followed)."""
    async with httpx2.AsyncClient(follow_redirects=False, timeout=10) as http:
        yield Browser(stack, http)
