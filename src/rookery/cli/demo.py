"""`rookery demo`: the Withings sandbox, Rookery (server, worker, sender) and a webhook receiver
that checks both signatures, all on loopback in this one process, with every delivery shown as
it arrives.

One process, one event loop, three uvicorn servers as tasks: nothing is spawned, so nothing can
be orphaned, Ctrl-C (SIGINT) or SIGTERM stops all three through one handler, and a crash of one
stops the rest. The cost is that the sandbox's data generation shares the loop with Rookery;
with a few users that is milliseconds.

Everything durable lives in the demo folder (default `var/demo/`): the SQLite database, the
encryption key, the demo client's credentials (`client.json`, created once and reused), the
operator token (`admin.token`) and the sandbox's state (`sandbox.json`: its tokens,
subscriptions, record edits and clock, see `rookery sandbox --state`). So a second run carries
on where the first stopped: an account linked earlier is still linked on both sides, its
tokens still work and refresh, its changes are still notified, and the sandbox serves the same
data (what arrived while the demo was stopped is notified when it starts again). A sandbox
state from another `--users` count is refused with one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import secrets
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer

if TYPE_CHECKING:
    import uvicorn
    from rich.console import Console
    from sqlalchemy.ext.asyncio import AsyncEngine

    from rookery.app import Resources
    from rookery.config import Settings
    from rookery.delivery.receiver import Arrival
    from rookery.sandbox.records import Account

DEFAULT_DATA_DIR: Final = Path("var/demo")
LOOPBACK: Final = "127.0.0.1"
DATA_PATH: Final = "/webhooks/data"
EVENTS_PATH: Final = "/webhooks/events"
CLIENT_FILE: Final = "client.json"
SANDBOX_STATE_FILE: Final = "sandbox.json"
ADMIN_TOKEN_FILE: Final = "admin.token"  # noqa: S105 - a file name
CLIENT_NAME: Final = "Rookery demo"
# The population's seed. With 23 the first user (the one the banner suggests) owns every kind
# of device the sandbox simulates (scale, blood-pressure monitor, ScanWatch, Sleep Analyzer,
# thermometer), so every chart of the dashboard has a month of data, and lives in New York,
# whose local dates differ from UTC's for five hours a day.
SANDBOX_SEED: Final = 23
SANDBOX_HISTORY_DAYS: Final = 90
CREDENTIAL_KEYS: Final = ("client_uuid", "secret_key", "hash_key", "webhook_secret")
# Exit status when the demo cannot start (a port taken, a folder not writable): fix and rerun.
START_ERROR_EXIT: Final = 2
_SHUTDOWN_GRACE_S: Final = 3


class DemoError(Exception):
    """The demo cannot start; the message is one line saying what to do."""


def demo(
    data_dir: Annotated[
        Path, typer.Option(help="Folder of the demo's database, keys and client (reused).")
    ] = DEFAULT_DATA_DIR,
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Rookery's port (0: any free port).")
    ] = 8000,
    sandbox_port: Annotated[
        int, typer.Option(min=0, max=65535, help="The Withings sandbox's port (0: any free).")
    ] = 8790,
    receiver_port: Annotated[
        int, typer.Option(min=0, max=65535, help="The webhook receiver's port (0: any free).")
    ] = 8791,
    users: Annotated[int, typer.Option(min=1, max=50, help="Synthetic Withings users.")] = 3,
    backfill_days: Annotated[
        int, typer.Option(min=0, max=SANDBOX_HISTORY_DAYS, help="History pulled on linking.")
    ] = 30,
) -> None:
    """Run the sandbox, Rookery and a webhook receiver on loopback; show deliveries live."""
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    try:
        sockets = Sockets.bind(port=port, sandbox_port=sandbox_port, receiver_port=receiver_port)
    except DemoError as error:
        typer.echo(f"rookery demo: {error}", err=True)
        raise SystemExit(START_ERROR_EXIT) from None
    try:
        started = time.monotonic()
        settings, credentials, reused = _prepare(data_dir, sockets, backfill_days)
        asyncio.run(
            _main(sockets, settings, credentials, data_dir, users, console, started, reused)
        )
    except DemoError as error:
        typer.echo(f"rookery demo: {error}", err=True)
        raise SystemExit(START_ERROR_EXIT) from None
    finally:
        sockets.close()


def _prepare(
    data_dir: Path, sockets: Sockets, backfill_days: int
) -> tuple[Settings, Credentials, bool]:
    """The demo folder, settings and client, ready: migrated, Withings enabled, webhooks
    pointing at this run's receiver; and whether the client is one an earlier run made."""
    from rookery.store.migrate import upgrade

    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DemoError(f"cannot create {data_dir}: {error.strerror}") from None
    settings = _settings(data_dir, sockets, backfill_days)
    asyncio.run(upgrade(settings.database_url))
    path = data_dir / CLIENT_FILE
    stored = _read_credentials(path)
    credentials = asyncio.run(_demo_client(settings, stored, sockets.url(sockets.receiver)))
    if credentials != stored:
        path.write_text(json.dumps(_as_dict(credentials)) + "\n")
        path.chmod(0o600)
    return settings, credentials, credentials == stored


@dataclass(frozen=True, slots=True)
class Sockets:
    """The three listening sockets, bound before anything starts so the URLs are known."""

    rookery: socket.socket
    sandbox: socket.socket
    receiver: socket.socket

    @classmethod
    def bind(cls, *, port: int, sandbox_port: int, receiver_port: int) -> Sockets:
        """Bind the three ports on loopback; `DemoError` naming the option when one is taken."""
        bound: list[socket.socket] = []
        try:
            for option, number in (
                ("--port", port),
                ("--sandbox-port", sandbox_port),
                ("--receiver-port", receiver_port),
            ):
                bound.append(_bind(option, number))
        except DemoError:
            for sock in bound:
                sock.close()
            raise
        return cls(*bound)

    def url(self, sock: socket.socket) -> str:
        """The base URL of one of the sockets."""
        return f"http://{LOOPBACK}:{sock.getsockname()[1]}"

    def close(self) -> None:
        """Close the three sockets."""
        for sock in (self.rookery, self.sandbox, self.receiver):
            sock.close()


def _bind(option: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((LOOPBACK, port))
    except OSError:
        sock.close()
        raise DemoError(
            f"port {port} on {LOOPBACK} is in use; choose another with {option} N "
            "(0 picks a free port)"
        ) from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


@dataclass(frozen=True, slots=True)
class Credentials:
    """The demo client's credentials, as `rookery client create --json` prints them."""

    client_uuid: str
    secret_key: str
    hash_key: str
    webhook_secret: str


def _settings(data_dir: Path, sockets: Sockets, backfill_days: int) -> Settings:
    from rookery.config import load_settings

    sandbox_url = sockets.url(sockets.sandbox)
    return load_settings(
        {
            "ROOKERY_DATABASE_URL": f"sqlite:///{(data_dir / 'rookery.db').resolve()}",
            "ROOKERY_DATA_DIR": str(data_dir.resolve()),
            "ROOKERY_PUBLIC_URL": sockets.url(sockets.rookery),
            "ROOKERY_WITHINGS_API_URL": sandbox_url,
            "ROOKERY_WITHINGS_AUTHORIZE_URL": f"{sandbox_url}/oauth2_user/authorize2",
            "ROOKERY_BACKFILL_DAYS": str(backfill_days),
            "ROOKERY_ADMIN_TOKEN": _admin_token(data_dir),
        }
    )


def _admin_token(data_dir: Path) -> str:
    """The demo's operator token: generated into the folder on first run, then reused."""
    path = data_dir / ADMIN_TOKEN_FILE
    if path.exists():
        return path.read_text().strip()
    token = secrets.token_urlsafe(24)
    path.write_text(token + "\n")
    path.chmod(0o600)
    return token


async def _demo_client(
    settings: Settings, stored: Credentials | None, receiver_url: str
) -> Credentials:
    """The demo client: `stored` when it still exists, else a new one; with Withings enabled
    and its webhooks pointing at `receiver_url`."""
    from rookery.store.clients import create_client, set_data_source_enabled, set_webhooks
    from rookery.store.crypto import load_cipher
    from rookery.store.engine import create_engine, session_factory
    from rookery.store.enums import DataSource
    from rookery.store.tables import Client

    engine = create_engine(settings.database_url)
    data_url, events_url = receiver_url + DATA_PATH, receiver_url + EVENTS_PATH
    try:
        async with session_factory(engine).begin() as session:
            client = (
                None if stored is None else await session.get(Client, uuid.UUID(stored.client_uuid))
            )
            if client is not None and stored is not None:
                await set_webhooks(
                    session,
                    client,
                    data_webhook_url=data_url,
                    notification_webhook_url=events_url,
                    actor="demo",
                )
                credentials = stored
            else:
                created = await create_client(
                    session,
                    load_cipher(settings),
                    name=CLIENT_NAME,
                    data_webhook_url=data_url,
                    notification_webhook_url=events_url,
                )
                credentials = Credentials(
                    str(created.client_uuid),
                    created.secret_key,
                    created.hash_key,
                    created.webhook_secret,
                )
            await set_data_source_enabled(
                session, uuid.UUID(credentials.client_uuid), DataSource.WITHINGS, True, actor="demo"
            )
        return credentials
    finally:
        await engine.dispose()


def _as_dict(credentials: Credentials) -> dict[str, str]:
    return {key: getattr(credentials, key) for key in CREDENTIAL_KEYS}


def _read_credentials(path: Path) -> Credentials | None:
    """The stored credentials, or None when absent; `DemoError` when unreadable."""
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text())
        return Credentials(**{key: str(raw[key]) for key in CREDENTIAL_KEYS})
    except (ValueError, KeyError, TypeError):
        raise DemoError(f"{path} is not a demo client file; delete it to start afresh") from None


@functools.cache
def _server_class() -> type[uvicorn.Server]:
    import uvicorn

    class QuietServer(uvicorn.Server):
        """uvicorn's server without its own signal handling: the demo has one for all three."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return QuietServer


def _server(app: Any) -> uvicorn.Server:
    import uvicorn

    return _server_class()(
        uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            ws="none",
            lifespan="on",
            timeout_graceful_shutdown=_SHUTDOWN_GRACE_S,
        )
    )


async def _main(
    sockets: Sockets,
    settings: Settings,
    credentials: Credentials,
    data_dir: Path,
    users: int,
    console: Console,
    started: float,
    reused: bool,
) -> None:
    from rookery.app import create_app
    from rookery.delivery.receiver import VerifyingReceiver
    from rookery.sandbox.server import create_sandbox_app
    from rookery.sandbox.settings import SandboxSettings
    from rookery.sandbox.state import ForeignStateError, Identity, StateError, StateFile
    from rookery.sandbox.synth import generate_population

    # The demo speaks through its own lines; Rookery's info logs would drown them.
    logging.getLogger("rookery").setLevel(logging.WARNING)
    receiver_url = sockets.url(sockets.receiver)
    now = int(time.time())
    # The sandbox's default app credentials are the ones Rookery's settings default to; the
    # environment is not read, so a real Withings app configured there cannot split the two.
    sandbox_settings = SandboxSettings(
        clock_speed=1.0, start_at_epoch=float(now), seed=SANDBOX_SEED
    )
    state = StateFile(
        data_dir / SANDBOX_STATE_FILE,
        Identity(SANDBOX_SEED, users, SANDBOX_HISTORY_DAYS, sandbox_settings.client_id),
    )
    try:
        resume = state.resume(now)
        population = generate_population(
            users,
            SANDBOX_SEED,
            now_utc=datetime.fromtimestamp(resume.generated_at, UTC),
            history_days=SANDBOX_HISTORY_DAYS,
        )
        sandbox_app = create_sandbox_app(sandbox_settings, population, state=state, resume=resume)
    except ForeignStateError as error:
        raise DemoError(
            f"{state.path} is the sandbox of a demo run with --users {error.saved.users}; "
            f"run with --users {error.saved.users}, or another --data-dir"
        ) from None
    except StateError as error:
        raise DemoError(str(error)) from None
    arrivals: asyncio.Queue[Arrival] = asyncio.Queue()
    rookery = create_app(settings, with_worker=True)
    servers = [
        (_server(sandbox_app), sockets.sandbox),
        (
            _server(
                VerifyingReceiver(
                    client_uuid=credentials.client_uuid,
                    hash_key=credentials.hash_key,
                    webhook_secret=credentials.webhook_secret,
                    data_path=DATA_PATH,
                    events_path=EVENTS_PATH,
                    arrivals=arrivals,
                )
            ),
            sockets.receiver,
        ),
        (_server(rookery), sockets.rookery),
    ]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, _on_signal, stop, [server for server, _ in servers])
    tasks = [
        asyncio.create_task(server.serve(sockets=[sock]), name=f"demo-server-{index}")
        for index, (server, sock) in enumerate(servers)
    ]
    printer: asyncio.Task[None] | None = None
    try:
        while not all(server.started for server, _ in servers):
            if any(task.done() for task in tasks):
                raise DemoError("a server stopped while starting; see the messages above")
            await asyncio.sleep(0.02)
        # The printer reads through Rookery's own engine: on SQLite one engine per process.
        resources: Resources = rookery.state.resources
        printer = asyncio.create_task(_print_arrivals(arrivals, resources.engine, console))
        _print_banner(
            console,
            settings=settings,
            credentials=credentials,
            accounts=population.accounts,
            data_dir=data_dir,
            sandbox_url=sockets.url(sockets.sandbox),
            receiver_url=receiver_url,
            started_s=time.monotonic() - started,
            reused=reused,
        )
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
    finally:
        for server, _ in servers:
            server.should_exit = True
        if printer is not None:
            printer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await printer
        await asyncio.gather(*tasks, return_exceptions=True)
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(number)
    console.print("Stopped. Run `make demo` again to continue with the same data.")


def _on_signal(stop: asyncio.Event, servers: list[uvicorn.Server]) -> None:
    """First signal: stop gracefully. A second: stop now."""
    if stop.is_set():
        for server in servers:
            server.force_exit = True
    stop.set()


def _print_banner(
    console: Console,
    *,
    settings: Settings,
    credentials: Credentials,
    accounts: list[Account],
    data_dir: Path,
    sandbox_url: str,
    receiver_url: str,
    started_s: float,
    reused: bool,
) -> None:
    from rich.markup import escape

    def page(account: Account) -> str:
        return settings.public_url_for(
            f"/connections/client_uuid/{credentials.client_uuid}/user_id/{_user_id(account)}"
        )

    first, others = accounts[0], accounts[1:]
    console.print(f"[bold]Rookery demo[/bold] ready in {started_s:.1f} s (data in {data_dir}/)")
    console.print(f"Connections page: {page(first)}", markup=False)
    console.print(
        f"  Connect, then pick “{escape(first.display_name)} (userid {first.userid})” on the "
        "sandbox's consent page."
    )
    for account in others:
        console.print(
            f"  Another user: {page(account)} (pick userid {account.userid})", markup=False
        )
    console.print(f"Dashboard: {settings.public_url_for('/dashboard')}", markup=False)
    admin_token = settings.admin_token.get_secret_value() if settings.admin_token else ""
    console.print(
        f"  Sign in as operator with the token {admin_token} ({data_dir / ADMIN_TOKEN_FILE}),"
        f" or as the client with {data_dir / CLIENT_FILE}.",
        markup=False,
    )
    console.print(
        f"Withings sandbox: {sandbox_url}  Webhook receiver: {receiver_url}", markup=False
    )
    if reused:
        console.print(
            "Reusing the demo client of an earlier run: documents it already delivered are not "
            "sent again (only changes are), so link another account to watch a backfill."
        )
    console.print("Deliveries appear below as they arrive. Ctrl-C stops everything.\n")


def _user_id(account: Account) -> str:
    """The demo client's user id for a sandbox account: named after it, so which account to
    pick on the consent page is plain."""
    return f"withings-{account.userid}"


async def _print_arrivals(
    arrivals: asyncio.Queue[Arrival], engine: AsyncEngine, console: Console
) -> None:
    """Print one line per webhook: when, what, whose, which day and version, how long it took
    from being queued to arriving, and whether its signatures were right."""
    from rich.markup import escape

    while True:
        arrival = await arrivals.get()
        try:
            document = json.loads(arrival.body)
        except ValueError:
            document = {}
        queued_at = await _queued_at(engine, arrival.webhook_id)
        latency = (
            "—"
            if queued_at is None
            else f"{(arrival.received_at - queued_at).total_seconds():.2f} s"
        )
        if arrival.path == EVENTS_PATH:
            what = f"event {document.get('action', '?')}"
            day, version = "", ""
        else:
            what = str(document.get("data_structure", "?"))
            day = str(_day_of(document))
            version = f"v{document.get('document_version', '?')}"
        check = "[green]signed ✓[/green]" if arrival.signatures_ok else "[red]BAD SIGNATURE[/red]"
        console.print(
            f"{arrival.received_at.astimezone():%H:%M:%S}  {escape(what):<24} "
            f"{escape(str(document.get('user_id', '?'))):<16} {escape(day):<10} "
            f"{escape(version):<4} {latency:>8}  {check}"
        )


def _day_of(document: dict[str, Any]) -> str:
    from rookery.delivery.receiver import signed_datetime_string

    try:
        return signed_datetime_string(document)[:10]
    except (KeyError, IndexError, TypeError, StopIteration, AttributeError):
        return "?"


async def _queued_at(engine: AsyncEngine, webhook_id: str) -> datetime | None:
    """When the delivery of `webhook_id` was queued (None if it cannot be told)."""
    from sqlalchemy import select

    from rookery.store.tables import Delivery

    try:
        delivery_id = uuid.UUID(hex=webhook_id.removeprefix("msg_"))
    except ValueError:
        return None
    async with engine.connect() as connection:
        created: datetime | None = await connection.scalar(
            select(Delivery.created_at).where(Delivery.id == delivery_id)
        )
    return created
