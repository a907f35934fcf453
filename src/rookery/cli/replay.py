"""`rookery replay`: rebuild documents from the raw archive with the current transforms.

After a mapping fix, every document can be rebuilt without calling Withings again: identical
documents change nothing, changed ones become new versions and (unless `--no-deliver`) are
delivered. Scope: one user of a client, one client, or everything (`--all`).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated, Final, NoReturn

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from rookery.config import Settings
    from rookery.pipeline.rebuild import ReplayCounts

BAD_USAGE_EXIT: Final = 2


def replay(
    client_uuid: Annotated[
        str | None, typer.Option(help="Replay this client's users only.")
    ] = None,
    user_id: Annotated[
        str | None, typer.Option(help="Replay this user of --client-uuid only.")
    ] = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Replay every connection of every client.")
    ] = False,
    deliver: Annotated[
        bool, typer.Option("--deliver/--no-deliver", help="Deliver the new versions.")
    ] = True,
) -> None:
    """Rebuild documents from the raw archive; store and deliver the versions that changed."""
    # Imported here so that other commands start without the storage stack.
    import anyio
    from rich.console import Console

    from rookery.config import load_settings

    client_id = _scope(client_uuid, user_id, everything)
    settings = load_settings()
    console = Console(stderr=True)
    counts = anyio.run(
        _replay,
        settings,
        client_id,
        user_id,
        deliver,
        console,
    )
    typer.echo(
        f"replayed {counts.exchanges} archived exchanges of {counts.connections} connections: "
        f"{counts.documents} documents, {counts.new_versions} new versions"
        + (" (delivered)" if deliver and counts.new_versions else "")
    )


def _scope(client_uuid: str | None, user_id: str | None, everything: bool) -> uuid.UUID | None:
    """The client to replay (None: all), from the options; exits 2 on a bad combination."""
    if everything == (client_uuid is not None):
        _usage("give either --client-uuid (optionally with --user-id) or --all")
    if user_id is not None and client_uuid is None:
        _usage("--user-id needs --client-uuid")
    if client_uuid is None:
        return None
    try:
        return uuid.UUID(client_uuid)
    except ValueError:
        _usage(f"--client-uuid {client_uuid!r} is not a UUID")


def _usage(message: str) -> NoReturn:
    typer.echo(f"rookery replay: {message}", err=True)
    raise typer.Exit(BAD_USAGE_EXIT)


async def _replay(
    settings: Settings,
    client_id: uuid.UUID | None,
    user_id: str | None,
    deliver: bool,
    console: Console,
) -> ReplayCounts:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from rookery.pipeline.rebuild import ReplayCounts, count_archived, replay_connection
    from rookery.store.archive import archived_connections
    from rookery.store.engine import create_engine, session_factory

    engine = create_engine(settings.database_url)
    try:
        sessions = session_factory(engine)
        async with sessions() as session:
            connections = await archived_connections(session, client_id=client_id, user_id=user_id)
            total = await count_archived(session, connections)
        counts = ReplayCounts()
        with Progress(
            TextColumn("replaying the archive"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=not console.is_terminal,
        ) as progress:
            task = progress.add_task("replay", total=total)
            for connection in connections:
                await replay_connection(
                    sessions,
                    connection,
                    deliver=deliver,
                    advance=lambda n: progress.advance(task, n),
                    counts=counts,
                )
        return counts
    finally:
        await engine.dispose()
