"""The application factory: `create_app(settings)` builds the FastAPI app; nothing happens at
import time. The process-wide resources (engine, HTTP client, cipher) are opened by
`open_resources`, which the app's lifespan, the worker and the CLI share.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx2
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from rookery import __version__
from rookery.api.authorizers import router as authorizers_router
from rookery.api.client import router as client_router
from rookery.api.deliveries import router as deliveries_router
from rookery.api.documents import router as documents_router
from rookery.api.errors import install_error_handlers
from rookery.api.health import router as health_router
from rookery.api.metrics import router as metrics_router
from rookery.api.notify import router as notify_router
from rookery.api.openapi import RookeryAPI
from rookery.api.processed_data import build_router as processed_data_router
from rookery.api.sync_status import router as sync_status_router
from rookery.api.throttle import FailureThrottle
from rookery.config import Settings
from rookery.delivery.ssrf import WebhookPolicy
from rookery.metrics import Metrics
from rookery.store.crypto import TokenCipher, load_cipher
from rookery.store.engine import create_engine, session_factory
from rookery.web.connections import STATIC_PATH, static_files
from rookery.web.connections import router as connections_page_router
from rookery.web.dashboard import router as dashboard_router

# Outbound calls (Withings, webhooks) must not hang a worker: connect fast, read within reason.
HTTP_TIMEOUT = httpx2.Timeout(30.0, connect=10.0)


@dataclass(frozen=True, slots=True)
class Resources:
    """What a Rookery process holds open while it runs."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    cipher: TokenCipher
    http: httpx2.AsyncClient
    webhook_policy: WebhookPolicy
    # What this process counts (`GET /metrics`).
    metrics: Metrics = field(default_factory=Metrics)


@asynccontextmanager
async def open_resources(
    settings: Settings, *, http_transport: httpx2.AsyncBaseTransport | None = None
) -> AsyncIterator[Resources]:
    """Open the engine and the HTTP client for `settings`, and close them on exit.

    `http_transport` replaces the network for outbound calls (tests pass a mock or an ASGI app).
    Raises `ConfigError` when the encryption keys cannot be loaded.
    """
    cipher = load_cipher(settings)
    engine = create_engine(settings.database_url)
    try:
        async with httpx2.AsyncClient(timeout=HTTP_TIMEOUT, transport=http_transport) as http:
            yield Resources(
                settings=settings,
                engine=engine,
                sessions=session_factory(engine),
                cipher=cipher,
                http=http,
                webhook_policy=WebhookPolicy.from_settings(settings),
            )
    finally:
        await engine.dispose()


def create_app(
    settings: Settings,
    *,
    http_transport: httpx2.AsyncBaseTransport | None = None,
    with_worker: bool = False,
) -> FastAPI:
    """The Rookery HTTP application; its resources live in `app.state.resources` while it runs.

    With `with_worker` (`rookery serve`'s default), the job worker, the scheduler and the
    webhook sender run in the same process while the app runs.

    Migrations are not applied here: `rookery serve` applies them before serving.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_resources(settings, http_transport=http_transport) as resources:
            app.state.resources = resources
            if not with_worker:
                yield
                return
            # Imported here: the worker gathers every package's job handlers.
            from rookery.delivery.sender import open_sender
            from rookery.jobs.worker import jobs_running

            async with jobs_running(resources), open_sender(resources):
                yield

    app = RookeryAPI(
        title="Rookery",
        version=__version__,
        description=(
            "A self-hosted Withings health-data hub speaking ROOK's data model. Client endpoints "
            "use HTTP Basic auth: username `client_uuid`, password `secret_key`."
        ),
        lifespan=lifespan,
    )
    # Per app, not in `Resources`: only the HTTP surface checks presented secrets.
    app.state.throttle = FailureThrottle()
    install_error_handlers(app)
    app.include_router(health_router)
    app.include_router(metrics_router)
    app.include_router(notify_router)
    app.include_router(sync_status_router)
    app.include_router(client_router)
    app.include_router(deliveries_router)
    app.include_router(authorizers_router)
    app.include_router(connections_page_router)
    app.include_router(dashboard_router)
    app.mount(STATIC_PATH, static_files(), name="static")
    app.include_router(documents_router)
    app.include_router(processed_data_router())
    return app
