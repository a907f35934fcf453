"""Fixtures shared by the whole suite: databases on both engines, settings, engines and the app.

Databases
  `database_url`  parametrised: a fresh SQLite file in `tmp_path`, and (marked `postgres`) a fresh
                  PostgreSQL schema `test_<random>` (the URL sets its search_path) in a database
                  `rookery_test_<random>` that each test session (xdist worker) creates on the
                  server named by ROOKERY_TEST_POSTGRES_URL; both are dropped after use. The
                  PostgreSQL case is skipped when that variable is unset.
  `sqlite_url`, `postgres_url`   one engine alone.
Settings
  `make_settings` a factory: `make_settings(database_url, **overrides)` with overrides named as
                  the Settings fields (`public_url="http://..."`); loopback public URL, fresh
                  encryption key and a data folder in `tmp_path` unless overridden.
  `settings`      `make_settings(database_url)`.
Storage (async: request them from `@pytest.mark.anyio` tests)
  `engine`        an AsyncEngine on `settings.database_url`, migrated to head.
  `sessions`      an `async_sessionmaker` on `engine`.
  `cipher`        the `TokenCipher` of `settings` (the one the app uses).
  `new_client`    a factory: `await new_client(name="...")` commits a client, returns `NewClient`.
The app
  `app`           `create_app(settings)` (not started).
  `api`           an httpx2.AsyncClient that talks to `app` in-process (ASGI), lifespan running;
                  depends on `engine`, so the database is migrated.
  `live_server`   the app served by uvicorn on a free loopback port in a thread: its base URL.
                  Sync; for tests that need real HTTP (browsers, other processes, the sandbox).

Every database, port and folder is unique to the test, so `pytest -n 2` runs without collisions.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import psycopg
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from rookery.app import create_app
from rookery.config import Settings, load_settings
from rookery.store.clients import NewClient, create_client
from rookery.store.crypto import TokenCipher, generate_key, load_cipher
from rookery.store.engine import create_engine, session_factory
from rookery.store.migrate import upgrade

POSTGRES_URL_ENV = "ROOKERY_TEST_POSTGRES_URL"

SettingsFactory = Callable[..., Settings]
ClientFactory = Callable[..., Awaitable[NewClient]]


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio (the loop uvicorn and the app use)."""
    return "asyncio"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite database file of this test (created on first connection)."""
    return f"sqlite:///{tmp_path / 'db' / 'rookery.db'}"


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A PostgreSQL database for this test session (one per xdist worker), dropped at the end;
    skips when ROOKERY_TEST_POSTGRES_URL is unset."""
    server_url = os.environ.get(POSTGRES_URL_ENV)
    if not server_url:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set")
    name = f"rookery_test_{secrets.token_hex(6)}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_database: str) -> Iterator[str]:
    """An empty PostgreSQL schema of this test, as a database URL whose search_path is that
    schema, dropped afterwards. (A schema rather than a database per test: CREATE DATABASE
    costs about a second, CREATE SCHEMA milliseconds, and the isolation is the same.)"""
    schema = f"test_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_database, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        url = make_url(postgres_database).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(postgres_database, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(
    params=[
        pytest.param("sqlite_url", id="sqlite"),
        pytest.param("postgres_url", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest) -> str:
    """The test's own empty database, once on SQLite and once on PostgreSQL."""
    url: str = request.getfixturevalue(request.param)
    return url


@pytest.fixture
def make_settings(tmp_path: Path) -> SettingsFactory:
    """Build test settings through `load_settings`, as the CLI does, from field overrides."""
    key = generate_key()

    def build(database_url: str, **overrides: Any) -> Settings:
        environ = {
            "ROOKERY_DATABASE_URL": database_url,
            "ROOKERY_PUBLIC_URL": "http://127.0.0.1:8000",
            "ROOKERY_ENCRYPTION_KEYS": key,
            "ROOKERY_DATA_DIR": str(tmp_path / "data"),
        }
        for name, value in overrides.items():
            environ[f"ROOKERY_{name.upper()}"] = str(value)
        return load_settings(environ)

    return build


@pytest.fixture
def settings(make_settings: SettingsFactory, database_url: str) -> Settings:
    """Settings on the test's database (loopback public URL, a fresh encryption key)."""
    return make_settings(database_url)


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """An engine on the test's database, migrated to head."""
    engine = create_engine(settings.database_url)
    await upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions on the migrated test database."""
    return session_factory(engine)


@pytest.fixture
def cipher(settings: Settings) -> TokenCipher:
    """The cipher the app builds from `settings`."""
    return load_cipher(settings)


@pytest.fixture
def new_client(sessions: async_sessionmaker[AsyncSession], cipher: TokenCipher) -> ClientFactory:
    """Create and commit a client: `await new_client(name=..., data_webhook_url=...)`."""

    async def create(
        name: str = "Test client",
        data_webhook_url: str | None = None,
        notification_webhook_url: str | None = None,
    ) -> NewClient:
        async with sessions.begin() as session:
            return await create_client(
                session,
                cipher,
                name=name,
                data_webhook_url=data_webhook_url,
                notification_webhook_url=notification_webhook_url,
            )

    return create


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    """The application for `settings`, not started."""
    return create_app(settings)


@pytest.fixture
async def api(app: FastAPI, engine: AsyncEngine) -> AsyncIterator[httpx2.AsyncClient]:
    """An HTTP client bound to `app` in-process, with the app's lifespan running."""
    async with (
        app.router.lifespan_context(app),
        httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1:8000"
        ) as client,
    ):
        yield client


@pytest.fixture
def live_server(settings: Settings) -> Iterator[str]:
    """The app for `settings` served over real HTTP on loopback; yields its base URL."""
    asyncio.run(upgrade(settings.database_url))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    # ws="none": no websocket library is loaded (nothing here speaks websockets).
    config = uvicorn.Config(create_app(settings), log_level="warning", ws="none", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started or not thread.is_alive():
            break
        time.sleep(0.01)
    if not server.started:
        raise RuntimeError("the test server did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()
