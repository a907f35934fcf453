"""`rookery serve`: the HTTP API, after applying pending migrations."""

from __future__ import annotations

from typing import Annotated

import typer


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    no_worker: Annotated[
        bool,
        typer.Option(
            "--no-worker", help="Serve only; leave the jobs to separate `rookery worker` processes."
        ),
    ] = False,
) -> None:
    """Serve the HTTP API (and, unless --no-worker, run the job worker and the scheduler) after
    applying pending migrations."""
    # Imported here so that every other command starts without loading the web stack.
    import anyio
    import uvicorn

    from rookery.app import create_app
    from rookery.config import load_settings
    from rookery.runtime import tune_gc
    from rookery.store.crypto import load_cipher
    from rookery.store.migrate import upgrade

    settings = load_settings()
    # Fail on unusable keys now, with one line, rather than inside the server's start-up.
    load_cipher(settings)
    tune_gc()
    anyio.run(upgrade, settings.database_url)
    # log_config=None: uvicorn's own handlers would print access lines unredacted (the notify
    # URL carries the deployment's token); its loggers go through Rookery's renderer instead.
    uvicorn.run(
        create_app(settings, with_worker=not no_worker), host=host, port=port, log_config=None
    )
